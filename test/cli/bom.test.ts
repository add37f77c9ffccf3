import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mlsec, root, tempDir } from '../helpers/cli.js';

const { Spec, Validation } = createRequire(import.meta.url)(
  '@cyclonedx/cyclonedx-library',
) as typeof import('@cyclonedx/cyclonedx-library');
const models = join(root, 'fixtures', 'license', 'models');
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Validates against the CycloneDX 1.6 JSON schema (strict) shipped by the CycloneDX library. */
async function schemaErrors(text: string): Promise<unknown> {
  return new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(text);
}

interface Component {
  type: string;
  name: string;
  hashes: { alg: string; content: string }[];
  licenses?: unknown[];
}

describe('mlsec bom', () => {
  it('writes a CycloneDX 1.6 ML-BOM that validates, with file digests, licences and model card data', async () => {
    const { exitCode, stdout, stderr } = await mlsec(['bom', 'agreeing'], { cwd: models });
    expect([exitCode, stderr]).toEqual([0, '']);
    expect(await schemaErrors(stdout)).toBeNull();
    const bom = JSON.parse(stdout);
    expect(bom).toMatchObject({ bomFormat: 'CycloneDX', specVersion: '1.6', version: 1 });
    expect(bom.serialNumber).toMatch(/^urn:uuid:[0-9a-f-]{36}$/);
    expect(bom.metadata.component).toEqual({
      type: 'machine-learning-model',
      'bom-ref': 'model',
      name: 'agreeing',
      licenses: [{ license: { id: 'Apache-2.0', acknowledgement: 'declared' } }],
      modelCard: {
        modelParameters: {
          task: 'text-generation',
          datasets: [{ type: 'dataset', name: 'tiiuae/falcon-refinedweb' }],
        },
        properties: [
          { name: 'library_name', value: 'transformers' },
          { name: 'language', value: 'en' },
          { name: 'tag', value: 'causal-lm' },
        ],
      },
      properties: [
        { name: 'mlsec:license:concluded', value: 'Apache-2.0' },
        { name: 'mlsec:license:category', value: 'permissive' },
        { name: 'mlsec:license:source', value: 'README.md license=apache-2.0 -> Apache-2.0 (1)' },
        { name: 'mlsec:license:source', value: 'LICENSE text=Apache License -> Apache-2.0 (1)' },
        { name: 'mlsec:license:source', value: 'model.safetensors license=apache-2.0 -> Apache-2.0 (1)' },
      ],
    });
    const components: Component[] = bom.components;
    expect(
      components.map((c) => [c.type, c.name, c.hashes[0]!.alg, c.hashes[0]!.content, c.licenses ?? null]),
    ).toEqual(
      ['LICENSE', 'README.md', 'config.json', 'model.safetensors'].map((name) => [
        name === 'model.safetensors' ? 'machine-learning-model' : 'file',
        name,
        'SHA-256',
        sha256(join(models, 'agreeing', name)),
        name === 'model.safetensors'
          ? [{ license: { id: 'Apache-2.0', acknowledgement: 'declared' } }]
          : null,
      ]),
    );
    expect(bom.dependencies).toEqual([{ ref: 'model', dependsOn: components.map((c) => `file:${c.name}`) }]);
  });

  it('file digests are those mlsec hash prints', async () => {
    const [bom, hash] = await Promise.all([
      mlsec(['bom', 'agreeing', '--algorithm', 'sha512'], { cwd: models }),
      mlsec(['hash', '--algorithm', 'sha512', 'agreeing'], { cwd: models }),
    ]);
    const fromHash = hash.stdout
      .trim()
      .split('\n')
      .map((line) => {
        const [hex, name] = line.split(/\s+\*?/);
        return [name!.replace(/^agreeing\//, ''), hex];
      });
    const fromBom = (JSON.parse(bom.stdout).components as Component[]).map((c) => [
      c.name,
      c.hashes[0]!.content,
    ]);
    expect(fromBom).toEqual(fromHash);
    expect(await schemaErrors(bom.stdout)).toBeNull();
  });

  it('conflicting licences are all declared; LicenseRef- ones by name', async () => {
    const { stdout, stderr } = await mlsec(['bom', 'conflicting'], { cwd: models });
    expect(await schemaErrors(stdout)).toBeNull();
    expect(JSON.parse(stdout).metadata.component.licenses).toEqual([
      { license: { id: 'MIT', acknowledgement: 'declared' } },
      { license: { name: 'LicenseRef-hf-llama3', acknowledgement: 'declared' } },
    ]);
    // Findings go to standard error; the BOM stays clean JSON.
    expect(stderr).toBe(
      'mlsec: MLSEC-LICENSE-005 licence sources disagree: conflicting/README.md front matter license: "mit" is MIT; licence text in conflicting/LICENSE is LicenseRef-hf-llama3 (conflicting/LICENSE)',
    );
  });

  it('a base model becomes the pedigree; an SPDX expression stays one expression', async () => {
    const dir = await tempDir();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'README.md'), readFileSync(join(root, 'fixtures/license/cards/llama31.md')));
    await writeFile(
      join(dir, 'model.onnx'),
      readFileSync(join(root, 'fixtures/license/artifacts/spdx-expression.onnx')),
    );
    const { stdout } = await mlsec(['bom', '.', '--name', 'tuned', '-o', 'bom.json'], { cwd: dir });
    expect(stdout).toBe('');
    const text = await readFile(join(dir, 'bom.json'), 'utf8');
    expect(await schemaErrors(text)).toBeNull();
    const bom = JSON.parse(text);
    expect(bom.metadata.component.name).toBe('tuned');
    expect(bom.metadata.component.pedigree).toEqual({
      ancestors: [{ type: 'machine-learning-model', name: 'meta-llama/Llama-3.1-8B-Instruct' }],
    });
    const onnx = (bom.components as Component[]).find((c) => c.name === 'model.onnx')!;
    expect(onnx.licenses).toEqual([
      { expression: 'Apache-2.0 WITH LLVM-exception', acknowledgement: 'declared' },
    ]);
  });

  it('a single GGUF file: one component with its metadata licence', async () => {
    const { stdout } = await mlsec(['bom', 'gguf-only/model.gguf'], { cwd: models });
    expect(await schemaErrors(stdout)).toBeNull();
    const bom = JSON.parse(stdout);
    expect(bom.metadata.component.name).toBe('model.gguf');
    expect(bom.components).toEqual([
      {
        type: 'machine-learning-model',
        'bom-ref': 'file:model.gguf',
        name: 'model.gguf',
        hashes: [{ alg: 'SHA-256', content: sha256(join(models, 'gguf-only/model.gguf')) }],
        properties: [{ name: 'mlsec:file:size', value: '67' }],
        licenses: [{ license: { name: 'LicenseRef-hf-llama3.1', acknowledgement: 'declared' } }],
      },
    ]);
  });

  it('an unknown --algorithm exits 2', async () => {
    const { exitCode, stderr } = await mlsec(['bom', 'agreeing', '--algorithm', 'md5'], { cwd: models });
    expect([exitCode, stderr]).toEqual([
      2,
      'mlsec: unknown --algorithm "md5" (expected sha256, sha384, sha512, blake2b)',
    ]);
  });
});
