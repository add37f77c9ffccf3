import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { bin, mlsec, tempDir } from '../helpers/cli.js';
import { osSystemPickle } from '../helpers/pickle-asm.js';

/** Start of an ANSI colour sequence. */
const ESC = '\u001b[';

async function modelDir() {
  const dir = await tempDir();
  await mkdir(join(dir, 'model'));
  await writeFile(join(dir, 'model', 'weights.txt'), osSystemPickle());
  await writeFile(join(dir, 'model', 'notes.md'), '# notes\n');
  return dir;
}

describe('mlsec scan', () => {
  it('finds a pickle by content whatever its extension, and exits 1', async () => {
    const dir = await modelDir();
    const { exitCode, stdout } = await mlsec(['scan', 'model', '--format', 'json'], { cwd: dir });
    expect(exitCode).toBe(1);
    const report = JSON.parse(stdout);
    expect(report.schemaVersion).toBe(1);
    expect(report.results.map((r: { path: string; format: string }) => [r.path, r.format])).toEqual([
      ['model/notes.md', 'unknown'],
      ['model/weights.txt', 'pickle'],
    ]);
    expect(report.results[1].findings).toEqual([
      {
        rule: 'MLSEC-PICKLE-001',
        severity: 'critical',
        message: 'calls os.system (runs commands and touches files)',
        offset: 26,
        global: 'os.system',
      },
    ]);
    expect(report.summary).toMatchObject({ files: 2, findings: 1, highest: 'critical', failed: true });
  });

  it('--fail-on never exits 0 and the table names the rule and offset', async () => {
    const dir = await modelDir();
    const { exitCode, stdout } = await mlsec(['scan', 'model', '--fail-on', 'never'], { cwd: dir });
    expect(exitCode).toBe(0);
    expect(stdout).toContain('model/weights.txt (pickle)');
    expect(stdout).toMatch(/CRITICAL +MLSEC-PICKLE-001 +calls os\.system .*@26/);
    expect(stdout).toContain('DONE (fail-on never) scanned 2 files');
    expect(stdout).not.toContain(ESC);
  });

  it('NO_COLOR wins over FORCE_COLOR', async () => {
    const dir = await modelDir();
    const colored = await mlsec(['scan', 'model'], { cwd: dir, env: { FORCE_COLOR: '1' } });
    expect(colored.stdout).toContain(ESC);
    const plain = await mlsec(['scan', 'model'], { cwd: dir, env: { FORCE_COLOR: '1', NO_COLOR: '1' } });
    expect(plain.stdout).not.toContain(ESC);
  });

  it('writes SARIF 2.1.0 that names the rule, level and file', async () => {
    const dir = await modelDir();
    const { exitCode } = await mlsec(['scan', 'model', '--format', 'sarif', '--output', 'out.sarif'], {
      cwd: dir,
    });
    expect(exitCode).toBe(1);
    const sarif = JSON.parse(await readFile(join(dir, 'out.sarif'), 'utf8'));
    expect(sarif.version).toBe('2.1.0');
    const run = sarif.runs[0];
    expect(run.tool.driver.name).toBe('mlsec');
    const rule = run.tool.driver.rules[run.results[0].ruleIndex];
    expect(rule.id).toBe('MLSEC-PICKLE-001');
    expect(rule.properties['security-severity']).toBe('9.5');
    expect(run.results).toHaveLength(1);
    expect(run.results[0]).toMatchObject({
      ruleId: 'MLSEC-PICKLE-001',
      level: 'error',
      locations: [
        {
          physicalLocation: {
            artifactLocation: { uri: 'model/weights.txt' },
            region: { startLine: 1 },
          },
        },
      ],
    });
    expect(run.results[0].properties).toEqual({ severity: 'critical', offset: 26, global: 'os.system' });
    expect(run.results[0].message.text).toBe('calls os.system (runs commands and touches files) (@26)');
    expect(run.results[0].partialFingerprints['mlsecFinding/v1']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('excludes by glob', async () => {
    const dir = await modelDir();
    const { exitCode, stdout } = await mlsec(['scan', 'model', '--exclude', '*.txt', '--format', 'json'], {
      cwd: dir,
    });
    expect(exitCode).toBe(0);
    expect(JSON.parse(stdout).results.map((r: { path: string }) => r.path)).toEqual(['model/notes.md']);
  });

  it('does not follow a symlink out of the root, and survives a directory loop', async () => {
    const dir = await modelDir();
    const outside = join(dir, 'outside.pkl');
    await writeFile(outside, osSystemPickle());
    await symlink(outside, join(dir, 'model', 'link.pkl'));
    await symlink(join(dir, 'model'), join(dir, 'model', 'loop'));
    const { exitCode, stdout } = await mlsec(['scan', 'model', '--format', 'json', '--fail-on', 'never'], {
      cwd: dir,
    });
    expect(exitCode).toBe(0);
    const results = JSON.parse(stdout).results;
    expect(results.map((r: { path: string; format: string }) => [r.path, r.format])).toEqual([
      ['model/link.pkl', 'not-followed'],
      ['model/notes.md', 'unknown'],
      ['model/weights.txt', 'pickle'],
    ]);
    expect(results[0].findings.map((f: { rule: string }) => f.rule)).toEqual(['MLSEC-FILE-002']);
  });

  it('honours allow-globals from .mlsec.yaml once the file is approved', async () => {
    const dir = await tempDir();
    const env = { XDG_CONFIG_HOME: join(await tempDir(), 'config') };
    const unknown = Uint8Array.from([
      0x80,
      2,
      ...new TextEncoder().encode('cmypkg.models\nNet\n'),
      0x29,
      0x52,
      0x2e,
    ]);
    await writeFile(join(dir, 'net.pkl'), unknown);
    const before = await mlsec(['scan', 'net.pkl', '--format', 'json', '--fail-on', 'medium'], { cwd: dir });
    expect(before.exitCode).toBe(1);
    expect(JSON.parse(before.stdout).results[0].findings.map((f: { rule: string }) => f.rule)).toEqual([
      'MLSEC-PICKLE-003',
    ]);
    await writeFile(
      join(dir, '.mlsec.yaml'),
      'scan:\n  fail-on: medium\n  allow-globals:\n    - global: mypkg.models.*\n      reason: our own classes\n',
    );
    // Found, not approved: the allowance weakens the policy and is ignored; fail-on medium tightens it.
    const unapproved = await mlsec(['scan', 'net.pkl', '--format', 'json'], { cwd: dir, env });
    expect(unapproved.exitCode).toBe(1);
    expect(unapproved.stderr).toContain('ignored: scan.allow-globals (line 3)');
    expect((await mlsec(['config', 'trust'], { cwd: dir, env })).exitCode).toBe(0);
    const after = await mlsec(['scan', 'net.pkl', '--format', 'json'], { cwd: dir, env });
    expect(after.exitCode).toBe(0);
    expect(JSON.parse(after.stdout).results[0].findings).toEqual([]);
  });

  it('usage, configuration and input errors exit 2 with one line and no stack', async () => {
    const dir = await tempDir();
    const missing = await mlsec(['scan', 'nope.pkl'], { cwd: dir });
    expect(missing).toMatchObject({ exitCode: 2, stdout: '' });
    expect(missing.stderr).toBe('mlsec: no such file or directory: nope.pkl');
    const format = await mlsec(['scan', '.', '--format', 'xml'], { cwd: dir });
    expect(format.exitCode).toBe(2);
    expect(format.stderr).toBe('mlsec: unknown --format "xml" (expected table, json, sarif)');
    await writeFile(join(dir, '.mlsec.yaml'), 'scan:\n  fail-on: [\n');
    const config = await mlsec(['scan', '.'], { cwd: dir });
    expect(config.exitCode).toBe(2);
    expect(config.stderr).toMatch(/^mlsec: .*\.mlsec\.yaml:\d+: /);
    expect(config.stderr.split('\n')).toHaveLength(1);
    await writeFile(join(dir, '.mlsec.yaml'), 'scan:\n  fail_on: high\n');
    const typo = await mlsec(['scan', '.'], { cwd: dir });
    expect(typo.exitCode).toBe(2);
    expect(typo.stderr).toBe(
      `mlsec: ${join(dir, '.mlsec.yaml')}:2: unknown key scan.fail_on (expected one of: fail-on, exclude, allow-globals, deny-globals)`,
    );
    const flag = await mlsec(['scan', '--bogus'], { cwd: dir });
    expect(flag.exitCode).toBe(2);
  });

  it('reports an empty file and an unrecognised model file without failing', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'empty.pkl'), '');
    await writeFile(join(dir, 'model.pt'), 'hello, not a model');
    const { exitCode, stdout } = await mlsec(['scan', '.', '--format', 'json'], { cwd: dir });
    expect(exitCode).toBe(0);
    const results = JSON.parse(stdout).results;
    expect(
      results.map((r: { path: string; format: string; findings: { rule: string }[] }) => [
        r.path,
        r.format,
        r.findings.map((f) => f.rule),
      ]),
    ).toEqual([
      ['empty.pkl', 'empty', ['MLSEC-FILE-004']],
      ['model.pt', 'unknown', ['MLSEC-FILE-001']],
    ]);
  });

  // `script` runs the command on a pseudo-terminal that was never sized: zero columns.
  it.skipIf(!existsSync('/usr/bin/script'))(
    '--progress on a terminal of zero columns shows no spinner and ends (ora would clear lines forever)',
    async () => {
      const dir = await modelDir();
      const command = `node ${bin} scan model --progress --fail-on never --format json`;
      const run = await execa('script', ['-qec', command, '/dev/null'], {
        cwd: dir,
        env: { NO_COLOR: '1' },
        reject: false,
        timeout: 30_000,
        maxBuffer: 1 << 20,
      });
      expect(run.timedOut).toBe(false);
      expect(run.exitCode).toBe(0);
      const report = JSON.parse(run.stdout.slice(run.stdout.indexOf('{')));
      expect(report.results.map((r: { path: string }) => r.path)).toEqual([
        'model/notes.md',
        'model/weights.txt',
      ]);
    },
  );
});
