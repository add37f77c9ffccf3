import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  nativeExecutable,
  shebang,
} from '../../../../../src/core/scan/formats/executable/executable-reader.js';
import { autoMapFiles } from '../../../../../src/core/scan/formats/hf-config/auto-map.js';
import { scanArtifact } from '../../../../../src/core/scan/scan-artifact.js';
import { openFileArtifact } from '../../../../../src/io/file-source.js';
import { root } from '../../../../helpers/cli.js';
import { scanBytes } from '../../../../helpers/scan.js';
import { storedZip } from '../../../../helpers/zip-writer.js';

const folder = join(root, 'fixtures', 'torchscript');

async function scanFixture(path: string) {
  const absolute = join(folder, path);
  return scanArtifact({ path, size: statSync(absolute).size, open: () => openFileArtifact(absolute) });
}

const brief = (findings: readonly { rule: string; severity: string; message: string; member?: string }[]) =>
  findings.map((f) => [f.rule, f.severity, f.message, ...(f.member ? [f.member] : [])]);

const code = (archive: string, files: [string, number][]) =>
  files.map(([file, size]) => [
    'MLSEC-TORCHSCRIPT-001',
    'info',
    `TorchScript code "${archive}/code/${file}" (${size} bytes)`,
  ]);

const scriptedCode = code('classifier-scripted', [
  ['__torch__.py', 562],
  ['__torch__/torch/nn/modules/linear.py', 416],
  ['__torch__/torch/nn/modules/linear/___torch_mangle_0.py', 434],
]);

describe('TorchScript archives', () => {
  it('are recognised, their pickles pass, their code files are listed', async () => {
    const scripted = await scanFixture('benign/classifier-scripted.pt');
    expect([scripted.format, brief(scripted.findings)]).toEqual(['torchscript', scriptedCode]);
    const traced = await scanFixture('benign/mlp-traced.pt');
    expect([traced.format, brief(traced.findings)]).toEqual([
      'torchscript',
      code('mlp-traced', [
        ['__torch__/torch/nn/modules/container.py', 495],
        ['__torch__/torch/nn/modules/linear/___torch_mangle_1.py', 376],
        ['__torch__/torch/nn/modules/activation.py', 254],
      ]),
    ]);
  });

  it('scan constants.pkl like any pickle', async () => {
    const report = await scanFixture('malicious/torchscript-constants-os-system.pt');
    expect(brief(report.findings)).toEqual([
      [
        'MLSEC-PICKLE-001',
        'critical',
        'calls posix.system (runs commands and touches files)',
        'classifier-scripted/constants.pkl',
      ],
      ...scriptedCode,
    ]);
  });
});

describe('executables inside model archives', () => {
  it('names an ELF member and a script member', async () => {
    const elf = await scanFixture('review/torchscript-with-elf.pt');
    expect(brief(elf.findings)[0]).toEqual([
      'MLSEC-EXEC-001',
      'medium',
      'member "classifier-scripted/extra/libhook.so" is an ELF executable or shared library',
      'classifier-scripted/extra/libhook.so',
    ]);
    const script = await scanFixture('review/torchscript-with-script.pt');
    expect(brief(script.findings)[0]).toEqual([
      'MLSEC-EXEC-002',
      'medium',
      'member "classifier-scripted/extra/setup.sh" is a script run by "/bin/sh"',
      'classifier-scripted/extra/setup.sh',
    ]);
  });

  it('recognises PE, Mach-O and universal binaries, not Java classes or comments', () => {
    const pe = new Uint8Array(0x100);
    pe.set([0x4d, 0x5a]);
    new DataView(pe.buffer).setUint32(0x3c, 0x80, true);
    pe.set([0x50, 0x45, 0, 0], 0x80);
    const fat = Uint8Array.from([0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2]);
    const javaClass = Uint8Array.from([0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 61]);
    const text = (s: string) => new TextEncoder().encode(s);
    expect(
      [pe, pe.subarray(0, 0x7f), fat, javaClass, Uint8Array.from([0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1])].map(
        nativeExecutable,
      ),
    ).toEqual([
      'a Windows PE executable or DLL',
      undefined,
      'a Mach-O universal binary',
      undefined,
      'a Mach-O executable or library',
    ]);
    expect(
      ['#!/usr/bin/env python3\nprint()', '#! /bin/bash\n', '#!not a path', '# comment'].map((s) =>
        shebang(text(s)),
      ),
    ).toEqual(['/usr/bin/env python3', '/bin/bash', undefined, undefined]);
  });

  it('reports members of any archive, not a file of its own', async () => {
    const script = new TextEncoder().encode('#!/bin/sh\necho mlsec-fixture\n');
    expect((await scanBytes(script, { name: 'run.sh' })).findings).toEqual([]);
    const zip = storedZip([{ name: 'model/install.sh', data: script }]);
    expect(brief((await scanBytes(zip, { name: 'model.zip' })).findings)).toEqual([
      [
        'MLSEC-EXEC-002',
        'medium',
        'member "model/install.sh" is a script run by "/bin/sh"',
        'model/install.sh',
      ],
    ]);
  });
});

describe('Hugging Face auto_map', () => {
  it('names the code files a config makes transformers import', async () => {
    expect(brief((await scanFixture('review/config.json')).findings)).toEqual([
      [
        'MLSEC-HF-001',
        'medium',
        "auto_map runs the repository's own code with trust_remote_code: configuration_mpt.py, modeling_mpt.py, tokenization_mpt.py",
      ],
    ]);
    expect(brief((await scanFixture('review/tokenizer_config.json')).findings)).toEqual([
      [
        'MLSEC-HF-001',
        'medium',
        "auto_map runs the repository's own code with trust_remote_code: modeling_x.py of the repository someone/other-repo",
      ],
    ]);
    expect((await scanFixture('benign/config.json')).findings).toEqual([]);
  });

  it('reads module paths, lists with nulls and other repositories', () => {
    expect(
      autoMapFiles({
        AutoModel: 'models.deep.modeling.Model',
        AutoTokenizer: [null, 'tokenization_fast.Tok'],
        AutoConfig: 'org/repo--configuration.Config',
        Other: 42,
      }),
    ).toEqual([
      'configuration.py of the repository org/repo',
      'models/deep/modeling.py',
      'tokenization_fast.py',
    ]);
    expect(autoMapFiles(null)).toEqual([]);
    expect(autoMapFiles('x.y')).toEqual([]);
  });

  it('stays quiet on JSON that is not a config and never reads a huge one whole', async () => {
    const broken = new TextEncoder().encode('{"auto_map": {"AutoModel": "m.M"');
    expect((await scanBytes(broken, { name: 'config.json' })).findings).toEqual([]);
    const huge = new Uint8Array(17 * 2 ** 20).fill(0x20);
    huge.set(new TextEncoder().encode('{"auto_map": {"AutoModel": "m.M"}}'));
    const result = await scanBytes(huge, { name: 'config.json' });
    expect([result.format, result.findings]).toEqual(['unknown', []]);
  });
});
