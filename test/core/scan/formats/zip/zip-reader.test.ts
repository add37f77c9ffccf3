import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isUnsafePath } from '../../../../../src/core/scan/formats/zip/zip-reader.js';
import { defaultLimits } from '../../../../../src/core/scan/limits.js';
import { GlobalPolicy } from '../../../../../src/core/scan/policy/global-policy.js';
import { scanSource } from '../../../../../src/core/scan/scan-source.js';
import { randomAccessSource } from '../../../../../src/core/source.js';
import { fixture } from '../../../../helpers/cli.js';
import { asm, op, osSystemPickle, storageRef } from '../../../../helpers/pickle-asm.js';
import { brief, scanBytes } from '../../../../helpers/scan.js';
import { storedZip } from '../../../../helpers/zip-writer.js';

const maliciousZip = () => readFileSync(fixture('malicious', 'torch-zip-os-system.pt'));
const concat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

describe('zip reader', () => {
  it('finds a zip behind prepended data, as CPython and miniz do', async () => {
    const junk = new TextEncoder().encode('#!/bin/sh\nexit 0\n'.repeat(8));
    const result = await scanBytes(concat(junk, maliciousZip()), { name: 'model.bin' });
    expect(result.format).toBe('pytorch');
    expect(brief(result.findings)).toEqual([
      {
        rule: 'MLSEC-PICKLE-001',
        severity: 'critical',
        global: 'os.system',
        member: 'archive/data.pkl',
        offset: 409,
      },
    ]);
  });

  it('scans a pickle/zip polyglot as both', async () => {
    const pickle = asm(
      op.proto(2),
      op.global('builtins', 'exec'),
      op.str('pass'),
      op.tuple1(),
      op.reduce(),
      op.stop(),
    );
    const result = await scanBytes(concat(pickle, maliciousZip()));
    expect(result.format).toBe('pickle');
    expect(brief(result.findings).map((f) => [f.rule, f.global, f.member])).toEqual([
      ['MLSEC-PICKLE-001', 'builtins.exec', undefined],
      // The stored data.pkl is also a pickle in the trailing data of the outer one.
      ['MLSEC-PICKLE-001', 'os.system', undefined],
      ['MLSEC-PICKLE-001', 'os.system', 'archive/data.pkl'],
      ['MLSEC-PICKLE-011', undefined, undefined],
    ]);
  });

  it('reads only the pickle of a PyTorch checkpoint, never its tensor storages', async () => {
    const dataPkl = asm(
      op.proto(2),
      op.global('torch._utils', '_rebuild_tensor_v2'),
      op.mark(),
      ...storageRef('0', 1 << 20),
      op.int(0),
      op.tuple(),
      op.reduce(),
      op.stop(),
    );
    const storage = new Uint8Array(4 << 20).fill(0x80); // a pickle-looking byte, in case anything sniffs it
    const bytes = storedZip([
      { name: 'ckpt/data.pkl', data: dataPkl },
      { name: 'ckpt/data/0', data: storage },
      { name: 'ckpt/version', data: new TextEncoder().encode('3\n') },
    ]);
    let read = 0;
    const source = randomAccessSource({
      size: bytes.length,
      read: async (offset, length) => {
        const slice = bytes.subarray(offset, offset + length);
        read += slice.length;
        return slice;
      },
    });
    const result = await scanSource(source, 'ckpt.pt', { policy: new GlobalPolicy(), limits: defaultLimits });
    expect(result).toEqual({ format: 'pytorch', findings: [], partial: false });
    // The file head and directory tail (64 KiB each) and the small members; sniffing the storage adds 128 KiB.
    expect(read).toBeLessThan(160 * 1024);
  });

  it('recognises unsafe member paths', () => {
    expect(['../evil', '/etc/passwd', 'a/../../b', 'C:\\x', 'a\\..\\b'].map(isUnsafePath)).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(['archive/data.pkl', 'a..b/c', '.hidden'].map(isUnsafePath)).toEqual([false, false, false]);
  });
});

describe('zip bounds', () => {
  it('reads at most maxArchiveEntries members of 200,000 and says so, high, in linear time', async () => {
    // The test writer has no ZIP64, so the 16-bit count of the end record wraps (200000 % 65536);
    // the directory is walked by its size, as zipfile does, and the disagreement is reported.
    const members = Array.from({ length: 200_000 }, (_, i) => ({ name: `m/${i}`, data: new Uint8Array(0) }));
    const bytes = storedZip(members);
    const started = performance.now();
    const result = await scanBytes(bytes, { name: 'many.zip' });
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(result.partial).toBe(true);
    expect(result.findings).toEqual([
      {
        rule: 'MLSEC-CONTAINER-002',
        severity: 'medium',
        message:
          'the central directory holds 200000 entries but its end record declares 3392; loaders that trust the count (PyTorch) see other members than those that walk the directory (zipfile, numpy)',
      },
      {
        rule: 'MLSEC-CONTAINER-006',
        severity: 'high',
        message: 'zip archive has 200000 members; only the first 100000 were inspected',
      },
    ]);
  });

  it('a payload nested past the depth limit fails closed: a high finding at the level it stopped', async () => {
    let bytes: Uint8Array = osSystemPickle();
    let name = 'data.pkl';
    for (let level = 0; level < 10; level++) {
      bytes = storedZip([{ name, data: bytes }]);
      name = `level${level}.zip`;
    }
    const result = await scanBytes(bytes, { name: 'nested.zip' });
    expect(result.partial).toBe(true);
    expect(result.findings).toEqual([
      {
        rule: 'MLSEC-CONTAINER-004',
        severity: 'high',
        message: 'nesting deeper than 6 levels is not scanned',
        member: 'level8.zip!level7.zip!level6.zip!level5.zip!level4.zip!level3.zip!level2.zip',
      },
    ]);
  });
});

describe('unsafe member paths, by whether the loader extracts the archive', () => {
  const names = ['../x', '/x', '..\\x'];
  const entries = names.map((name) => ({ name, data: new TextEncoder().encode('x') }));

  it('a plain zip, read in place by torch.load and numpy.load: medium', async () => {
    const result = await scanBytes(storedZip(entries), { name: 'model.zip' });
    expect(result.findings.map((f) => [f.rule, f.severity, f.message])).toEqual(
      names.map((name) => [
        'MLSEC-CONTAINER-005',
        'medium',
        `member ${JSON.stringify(name)} would be extracted outside the target directory`,
      ]),
    );
  });

  it('a TorchServe .mar, which TorchServe unzips: high', async () => {
    const manifest = { name: 'MAR-INF/MANIFEST.json', data: new TextEncoder().encode('{}') };
    const result = await scanBytes(storedZip([manifest, ...entries]), { name: 'model.mar' });
    expect(result.findings.map((f) => [f.rule, f.severity, f.message])).toEqual(
      names.map((name) => [
        'MLSEC-CONTAINER-007',
        'high',
        `member ${JSON.stringify(name)} of a TorchServe model archive is written outside the model directory when the archive is extracted`,
      ]),
    );
  });
});
