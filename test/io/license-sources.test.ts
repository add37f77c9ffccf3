import { cp, mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectLicense } from '../../src/core/license/detect.js';
import { LicenseTextMatcher } from '../../src/core/license/text-match.js';
import { cardReadLimit, collectLicenseUnits, licenseFileReadLimit } from '../../src/io/license-sources.js';
import { root, tempDir } from '../helpers/cli.js';

const models = join(root, 'fixtures', 'license', 'models');
const noMatcher = () => new LicenseTextMatcher([]);

describe('licence sources on disk', () => {
  it('groups a directory of two models into one unit each, with their files', async () => {
    const units = await collectLicenseUnits(['two-models'], { cwd: models });
    expect(
      units.map((u) => [u.path, u.files.map((f) => f.path), u.sources.map((s) => [s.kind, s.file])]),
    ).toEqual([
      [
        'two-models/a',
        ['two-models/a/README.md', 'two-models/a/model.onnx'],
        [['card', 'two-models/a/README.md']],
      ],
      [
        'two-models/b',
        ['two-models/b/README.md', 'two-models/b/model.safetensors'],
        [['card', 'two-models/b/README.md']],
      ],
    ]);
  });

  it('a single model file is its own unit, read for metadata', async () => {
    const units = await collectLicenseUnits(['gguf-only/model.gguf'], { cwd: models });
    expect(units).toHaveLength(1);
    expect(units[0]!.path).toBe('gguf-only/model.gguf');
    expect(units[0]!.sources).toEqual([
      {
        kind: 'artifact-metadata',
        file: 'gguf-only/model.gguf',
        metadata: { format: 'gguf', fields: [{ key: 'general.license', value: 'llama3.1' }] },
      },
    ]);
  });

  it('a binary file named LICENSE is reported, not matched', async () => {
    const [unit] = await collectLicenseUnits(['binary-license'], { cwd: models });
    expect(unit!.sources.filter((s) => s.kind === 'unreadable')).toEqual([
      {
        kind: 'unreadable',
        file: 'binary-license/LICENSE',
        reason: 'LICENSE is a binary file (it contains NUL bytes); it cannot be a licence text',
      },
    ]);
    const dir = await tempDir();
    await writeFile(join(dir, 'LICENSE.md'), Buffer.from([0xc3, 0x28, 0x41, 0x42]));
    const [latin] = await collectLicenseUnits(['.'], { cwd: dir });
    expect(latin!.sources).toEqual([
      {
        kind: 'unreadable',
        file: 'LICENSE.md',
        reason: 'LICENSE.md is not UTF-8 text; it cannot be a licence text',
      },
    ]);
  });

  it('a 50 MB README is read for its first 64 KiB only, and its front matter is found', async () => {
    const dir = await tempDir();
    const handle = await open(join(dir, 'README.md'), 'w');
    await handle.write('---\nlicense: llama3.2\n---\n');
    const block = `${'A long model card line that goes on and on. '.repeat(20)}\n`.repeat(1000);
    let written = 0;
    while (written < 50 * 1024 * 1024) written += (await handle.write(block)).bytesWritten;
    await handle.close();
    const [unit] = await collectLicenseUnits(['.'], { cwd: dir });
    expect(unit!.bytesRead).toBe(cardReadLimit);
    expect(unit!.sources).toMatchObject([{ kind: 'card', file: 'README.md', truncated: true }]);
    expect((unit!.sources[0] as { text: string }).text).toHaveLength(cardReadLimit);
    expect(detectLicense(unit!.path, unit!.sources, noMatcher).concluded).toBe('LicenseRef-hf-llama3.2');
  });

  it('a huge README whose front matter never closes is a finding', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'README.md'), `---\nlicense: mit\n${'tags: x\n'.repeat(20000)}`);
    const [unit] = await collectLicenseUnits(['.'], { cwd: dir });
    expect(detectLicense(unit!.path, unit!.sources, noMatcher).findings.map((f) => f.message)).toEqual([
      'model card front matter is not valid YAML (line 1): front matter does not end within the part of the file read; its licence was not read',
    ]);
  });

  it('a large licence file is read up to the limit', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'COPYING'), 'x '.repeat(400 * 1024));
    const [unit] = await collectLicenseUnits(['.'], { cwd: dir });
    expect(unit!.bytesRead).toBe(licenseFileReadLimit);
    expect(unit!.sources).toMatchObject([{ kind: 'license-file', file: 'COPYING', truncated: true }]);
  });

  it('a README in a subdirectory of a model makes it a model of its own; plain files stay with their model', async () => {
    const dir = await tempDir();
    await cp(join(models, 'agreeing'), join(dir, 'agreeing'), { recursive: true });
    await mkdir(join(dir, 'agreeing', 'docs'));
    await writeFile(join(dir, 'agreeing', 'docs', 'notes.txt'), 'notes');
    const units = await collectLicenseUnits(['agreeing'], { cwd: dir });
    expect(units.map((u) => [u.path, u.files.length])).toEqual([['agreeing', 5]]);
  });
});
