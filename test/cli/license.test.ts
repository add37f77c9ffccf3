import { cp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mlsec, root, tempDir } from '../helpers/cli.js';

const models = join(root, 'fixtures', 'license', 'models');

async function modelsCopy(config?: string) {
  const dir = await tempDir();
  await cp(models, dir, { recursive: true });
  await writeFile(join(dir, '.git'), ''); // stops the config search here
  if (config) await writeFile(join(dir, '.mlsec.yaml'), config);
  return dir;
}

interface Result {
  path: string;
  concluded?: string;
  categories: string[];
  detections: { source: string; file: string; expression?: string }[];
  findings: { rule: string; severity: string; message: string; path: string }[];
  bytesRead: number;
}

describe('mlsec license', () => {
  it('reports each model directory with its concluded licence, sources and findings (json)', async () => {
    const dir = await modelsCopy();
    const { exitCode, stdout, stderr } = await mlsec(['license', '.', '--format', 'json'], { cwd: dir });
    expect(stderr).toBe('');
    expect(exitCode).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.policy).toBe(false);
    const results: Result[] = report.results;
    expect(results.map((r) => [r.path, r.concluded ?? null, r.categories])).toEqual([
      // Files with no card or licence file of their own (unlicensed/, gguf-only/) belong to the directory given.
      ['.', 'LicenseRef-hf-llama3.1', ['use-restricted']],
      ['agreeing', 'Apache-2.0', ['permissive']],
      ['binary-license', null, []],
      ['conflicting', 'MIT AND LicenseRef-hf-llama3', ['permissive', 'use-restricted']],
      ['non-commercial', 'CC-BY-NC-4.0', ['non-commercial']],
      ['two-models/a', 'MIT', ['permissive']],
      ['two-models/b', 'LicenseRef-hf-llama3.2', ['use-restricted']],
    ]);
    expect(results.flatMap((r) => r.findings.map((f) => [f.rule, f.path]))).toEqual([
      ['MLSEC-LICENSE-006', 'binary-license/LICENSE'],
      ['MLSEC-LICENSE-005', 'conflicting/LICENSE'],
    ]);
    expect(results[1]!.detections.map((d) => [d.source, d.file, d.expression])).toEqual([
      ['card', 'agreeing/README.md', 'Apache-2.0'],
      ['license-file', 'agreeing/LICENSE', 'Apache-2.0'],
      ['artifact-metadata', 'agreeing/model.safetensors', 'Apache-2.0'],
    ]);
    expect(report.summary).toEqual({ models: 7, findings: 2, failed: false });
  });

  it('the table names the licence, the evidence with its line, and the findings', async () => {
    const { exitCode, stdout } = await mlsec(['license', 'conflicting'], { cwd: models });
    expect(exitCode).toBe(0);
    expect(stdout.split('\n')).toEqual([
      'conflicting  MIT AND LicenseRef-hf-llama3 (permissive, use-restricted)',
      '  SOURCE        FILE                     FIELD    VALUE                                     LICENCE               CONF',
      '  card          conflicting/README.md:2  license  mit                                       MIT                   1.00',
      '  license-file  conflicting/LICENSE      text     META LLAMA 3 COMMUNITY LICENSE AGREEMENT  LicenseRef-hf-llama3  1.00',
      '  MEDIUM   MLSEC-LICENSE-005  licence sources disagree: conflicting/README.md front matter license: "mit" is MIT; licence text in conflicting/LICENSE is LicenseRef-hf-llama3  (conflicting/LICENSE)',
      '',
      'DONE (fail-on high, no licence policy) 1 model, 1 finding',
    ]);
  });

  it('evaluates the policy of .mlsec.yaml: deny, require, review and exceptions; exit 1 on a violation', async () => {
    const dir = await modelsCopy(`license:
  require: true
  categories:
    non-commercial: deny
    use-restricted: review
  exceptions:
    - path: two-models/b
      reason: approved for the chatbot pilot (LEGAL-7)
      expires: 2999-01-01
    - path: non-commercial
      reason: expired approval
      expires: 2020-01-01
`);
    const { exitCode, stdout } = await mlsec(
      ['license', 'non-commercial', 'unlicensed', 'two-models', '--format', 'json'],
      {
        cwd: dir,
      },
    );
    expect(exitCode).toBe(1);
    const report = JSON.parse(stdout);
    expect(report.policy).toBe(true);
    expect(
      report.results.flatMap((r: Result) => r.findings.map((f) => [f.rule, f.severity, f.message, f.path])),
    ).toEqual([
      [
        'MLSEC-LICENSE-001',
        'high',
        'CC-BY-NC-4.0 (non-commercial) is denied: category non-commercial is denied; declared by non-commercial/README.md front matter license: "cc-by-nc-4.0"',
        'non-commercial/README.md',
      ],
      [
        'MLSEC-LICENSE-007',
        'medium',
        'exception for non-commercial expired on 2020-01-01 (expired approval)',
        'non-commercial/README.md',
      ],
      [
        'MLSEC-LICENSE-003',
        'high',
        'no licence found in a model card, licence file or artifact metadata',
        'unlicensed',
      ],
      [
        'MLSEC-LICENSE-008',
        'low',
        'LicenseRef-hf-llama3.2 (use-restricted) needs review: category use-restricted needs review; declared by two-models/b/README.md front matter license: "llama3.2"',
        'two-models/b/README.md',
      ],
    ]);
  });

  it('--fail-on never exits 0 despite violations; a bad licence id in the config exits 2', async () => {
    const dir = await modelsCopy('license:\n  deny: [mit]\n');
    expect((await mlsec(['license', 'two-models/a', '--fail-on', 'never'], { cwd: dir })).exitCode).toBe(0);
    expect((await mlsec(['license', 'two-models/a'], { cwd: dir })).exitCode).toBe(1);
    await writeFile(join(dir, '.mlsec.yaml'), 'license:\n  deny: [not a licence]\n');
    const bad = await mlsec(['license', 'two-models/a'], { cwd: dir });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toBe(
      `mlsec: ${join(dir, '.mlsec.yaml')}:2: license.deny: "not a licence" is not a Hugging Face licence id, SPDX id or LicenseRef-`,
    );
  });

  it('--format sarif places each policy finding in its evidence file, with its rule and level', async () => {
    const dir = await modelsCopy('license:\n  require: true\n  categories:\n    non-commercial: deny\n');
    const { exitCode, stdout } = await mlsec(
      ['license', 'non-commercial', 'unlicensed', 'two-models/a', '--format', 'sarif'],
      { cwd: dir },
    );
    expect(exitCode).toBe(1);
    const sarif = JSON.parse(stdout);
    expect(sarif.version).toBe('2.1.0');
    const run = sarif.runs[0];
    const results = run.results.map(
      (r: {
        ruleId: string;
        level: string;
        ruleIndex: number;
        locations: [{ physicalLocation: { artifactLocation: { uri: string } } }];
      }) => [
        r.ruleId,
        r.level,
        r.locations[0].physicalLocation.artifactLocation.uri,
        run.tool.driver.rules[r.ruleIndex].id,
      ],
    );
    expect(results).toEqual([
      ['MLSEC-LICENSE-001', 'error', 'non-commercial/README.md', 'MLSEC-LICENSE-001'],
      ['MLSEC-LICENSE-003', 'error', 'unlicensed', 'MLSEC-LICENSE-003'],
    ]);
    const unknown = await mlsec(['license', '--format', 'xml'], { cwd: dir });
    expect([unknown.exitCode, unknown.stderr]).toEqual([
      2,
      'mlsec: unknown --format "xml" (expected table, json, sarif)',
    ]);
  });

  it('a 50 MB README costs 64 KiB of reading', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, '.git'), '');
    await writeFile(join(dir, 'README.md'), `---\nlicense: gemma\n---\n${'x'.repeat(50 * 1024 * 1024)}`);
    const { exitCode, stdout } = await mlsec(['license', '.', '--format', 'json'], { cwd: dir });
    expect(exitCode).toBe(0);
    const [result] = JSON.parse(stdout).results as Result[];
    expect([result!.concluded, result!.bytesRead]).toEqual(['LicenseRef-hf-gemma', 65536]);
  });
});

describe('mlsec scan with a licence policy', () => {
  it('adds the policy findings to the scan report and fails on them', async () => {
    const dir = await modelsCopy('license:\n  deny: [llama3]\n');
    const { exitCode, stdout } = await mlsec(['scan', 'conflicting', '--format', 'json'], { cwd: dir });
    expect(exitCode).toBe(1);
    const report = JSON.parse(stdout);
    const findings = report.results.flatMap((r: { path: string; findings: { rule: string }[] }) =>
      r.findings.map((f) => [r.path, f.rule]),
    );
    expect(findings).toEqual([
      ['conflicting/LICENSE', 'MLSEC-LICENSE-001'],
      ['conflicting/LICENSE', 'MLSEC-LICENSE-005'],
    ]);
  });

  it('without a license section, scan reports no licence findings', async () => {
    const dir = await modelsCopy();
    const { exitCode, stdout } = await mlsec(['scan', 'conflicting', '--format', 'json'], { cwd: dir });
    expect(exitCode).toBe(0);
    const rules = JSON.parse(stdout).results.flatMap((r: { findings: { rule: string }[] }) =>
      r.findings.map((f) => f.rule),
    );
    expect(rules.filter((rule: string) => rule.startsWith('MLSEC-LICENSE'))).toEqual([]);
  });

  it('a model card with malformed front matter is a finding in scan, with its line', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, '.git'), '');
    await writeFile(join(dir, '.mlsec.yaml'), 'license: {}\n');
    await writeFile(join(dir, 'README.md'), '---\nlicense: mit\ntags: [a, b\nlanguage: en\n---\n');
    const { exitCode, stdout } = await mlsec(
      ['scan', 'README.md', '.', '--format', 'json', '--fail-on', 'medium'],
      {
        cwd: dir,
      },
    );
    expect(exitCode).toBe(1);
    const readme = JSON.parse(stdout).results.find((r: { path: string }) => r.path === 'README.md');
    expect(readme.findings).toContainEqual({
      rule: 'MLSEC-LICENSE-006',
      severity: 'medium',
      message:
        'model card front matter is not valid YAML (line 4): Flow sequence in block collection must be sufficiently indented and end with a ]; its licence was not read',
    });
  });
});
