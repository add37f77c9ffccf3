import { execFileSync } from 'node:child_process';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { FormatReader } from '../../../../../src/core/scan/format-reader.js';
import { formatReaders } from '../../../../../src/core/scan/formats/index.js';
import { osSystemPickle } from '../../../../helpers/pickle-asm.js';
import { needingPython, python3Missing } from '../../../../helpers/python.js';
import { brief, scanBytes } from '../../../../helpers/scan.js';
import { tarArchive } from '../../../../helpers/tar-writer.js';

/** Bombs made at test time by CPython's compressors: zeros, and a pickle header before zeros. */
const missing = python3Missing();
const bombs = missing
  ? {}
  : (JSON.parse(
      execFileSync(
        'python3',
        [
          '-c',
          String.raw`
import base64, bz2, gzip, json, lzma, zlib
zeros = bytes(128 << 20)
pickle = b"\x80\x04\x8e" + (128 << 20).to_bytes(8, "little") + zeros + b"."
out = {
    "bzip2": bz2.compress(bytes(256 << 20), 9),
    "gzip": gzip.compress(zeros, 9),
    "zlib": zlib.compress(zeros, 9),
    "xz": lzma.compress(zeros),
    "lzma": lzma.compress(zeros, format=lzma.FORMAT_ALONE),
    "bzip2-pickle": bz2.compress(pickle, 9),
}
print(json.dumps({k: base64.b64encode(v).decode() for k, v in out.items()}))
`,
        ],
        { maxBuffer: 16 << 20, encoding: 'utf8' },
      ),
    ) as Record<string, string>);
const bomb = (kind: string) => new Uint8Array(Buffer.from(bombs[kind]!, 'base64'));

describe.skipIf(missing !== undefined)(needingPython('decompression bombs'), () => {
  it.each(['bzip2', 'gzip', 'zlib', 'xz', 'lzma'])(
    'a %s bomb is a high finding, found after at most a few MiB past the floor',
    async (kind) => {
      const bytes = bomb(kind);
      const result = await scanBytes(bytes, { name: 'model.bin' });
      expect(result.format).toBe(kind);
      expect(result.partial).toBe(true);
      expect(result.findings).toHaveLength(1);
      const finding = result.findings[0]!;
      expect(finding).toMatchObject({ rule: 'MLSEC-CONTAINER-003', severity: 'high' });
      const produced = Number(/\((\d+) bytes from (\d+)\)/.exec(finding.message)![1]);
      // The guard sees every output chunk as it is made: it stops within a chunk or two of 64 MiB.
      expect(produced).toBeGreaterThan(64 << 20);
      expect(produced).toBeLessThanOrEqual((64 << 20) + (2 << 20));
      expect(finding.message).toBe(
        `${kind} data expands more than 200x (${produced} bytes from ${bytes.length}); the rest was not inspected`,
      );
    },
  );

  it('a bomb behind a pickle header is still a bomb, and the pickle is reported as cut off', async () => {
    const result = await scanBytes(bomb('bzip2-pickle'), { name: 'model.pkl.bz2' });
    expect(result.findings.map((f) => [f.rule, f.severity, f.member])).toEqual([
      ['MLSEC-CONTAINER-003', 'high', undefined],
      ['MLSEC-PICKLE-009', 'medium', 'model.pkl'],
    ]);
  });
});

describe('corrupt compressed data', () => {
  it('a 5-byte bzip2 stream gets a message of our own', async () => {
    const result = await scanBytes(new TextEncoder().encode('BZh91'), { name: 'x.bz2' });
    expect(result.findings).toEqual([
      {
        rule: 'MLSEC-CONTAINER-002',
        severity: 'medium',
        message: 'bzip2 data is corrupt (truncated)',
        offset: 5,
      },
    ]);
  });

  it('a gzip stream with a bad block says so without zlib internals', async () => {
    const bytes = Uint8Array.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff]);
    const result = await scanBytes(bytes, { name: 'x.gz' });
    expect(result.findings).toEqual([
      {
        rule: 'MLSEC-CONTAINER-002',
        severity: 'medium',
        message: 'gzip data is corrupt (invalid compressed data)',
        offset: 14,
      },
    ]);
  });

  it('an exception inside a reader never becomes finding text', async () => {
    const throwing: FormatReader = {
      id: 'throwing',
      description: 'test format',
      detect: (head) => head[0] === 0xee,
      scan: async () => {
        throw new TypeError("Cannot read properties of undefined (reading 'length')");
      },
    };
    const table = formatReaders as FormatReader[];
    table.unshift(throwing);
    try {
      const result = await scanBytes(Uint8Array.from([0xee, 1, 2, 3]), { name: 'x.bin' });
      expect(result.findings).toEqual([
        {
          rule: 'MLSEC-CONTAINER-002',
          severity: 'medium',
          message: 'test format could not be read (the data cannot be decoded)',
        },
      ]);
    } finally {
      table.shift();
    }
  });
});

describe("joblib's legacy 'ZF' files", () => {
  const zfile = (field: string, body: Uint8Array) =>
    Uint8Array.from([...new TextEncoder().encode(`ZF${field}`), ...body]);
  const payload = osSystemPickle();
  const compressed = new Uint8Array(deflateSync(payload));

  it.each([
    ['0x25'.padEnd(19), 'as joblib writes it'],
    ['0x25'.padEnd(20), 'one space wider, as joblib 0.8.4 wrote it under Python 2'],
    ['  +0x_2_5'.padEnd(19), 'in any spelling int(field, 16) accepts'],
  ])('reads %j (%s)', async (field) => {
    const result = await scanBytes(zfile(field, compressed), { name: 'model.pkl' });
    expect(result.format).toBe('joblib-zfile');
    expect(brief(result.findings).map((f) => [f.rule, f.severity, f.member])).toEqual([
      ['MLSEC-PICKLE-001', 'critical', 'model.pkl[zfile]'],
    ]);
  });

  it('leaves a length field that int(field, 16) refuses (joblib fails on it) to the other readers', async () => {
    const result = await scanBytes(zfile('0x2__5'.padEnd(19), compressed), { name: 'model.pkl' });
    expect(result.format).not.toBe('joblib-zfile');
  });
});

describe('pre-POSIX (V7) tar, which tarfile and so torch.load read', () => {
  it('is recognised by its header checksum and scanned', async () => {
    const tar = tarArchive([{ name: 'pickle', data: osSystemPickle() }]);
    for (let at = 0; at < tar.length; at += 512) {
      const header = tar.subarray(at, at + 512);
      if (String.fromCharCode(...header.subarray(257, 262)) !== 'ustar') continue;
      header.fill(0, 257, 345); // no magic, version, owner names
      header.fill(0x20, 148, 156);
      const sum = header.reduce((a, b) => a + b, 0);
      header.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, '0')}\0 `), 148);
    }
    const result = await scanBytes(tar, { name: 'legacy.pt' });
    expect(result.format).toBe('tar');
    expect(brief(result.findings).map((f) => [f.rule, f.member])).toEqual([['MLSEC-PICKLE-001', 'pickle']]);
  });
});
