import {
  closeSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { duplicateKeys } from '../../../../../src/core/scan/formats/safetensors/safetensors-reader.js';
import { scanArtifact } from '../../../../../src/core/scan/scan-artifact.js';
import { openFileArtifact } from '../../../../../src/io/file-source.js';
import { root } from '../../../../helpers/cli.js';
import { scanBytes } from '../../../../helpers/scan.js';

const folder = join(root, 'fixtures', 'safetensors');

async function scanFile(path: string) {
  return scanArtifact({ path, size: statSync(path).size, open: () => openFileArtifact(path) });
}

const brief = (findings: readonly { rule: string; severity: string; message: string }[]) =>
  findings.map((f) => [f.rule, f.severity, f.message]);

function file(header: string | Uint8Array, dataSize: number, length?: number): Uint8Array {
  const raw = typeof header === 'string' ? new TextEncoder().encode(header) : header;
  const out = new Uint8Array(8 + raw.length + dataSize);
  new DataView(out.buffer).setBigUint64(0, BigInt(length ?? raw.length), true);
  out.set(raw, 8);
  return out;
}

describe('safetensors reader', () => {
  it('passes the well-formed files transformers, PEFT and the library write', async () => {
    for (const name of readdirSync(join(folder, 'benign'))) {
      const report = await scanFile(join(folder, 'benign', name));
      expect([name, report.format, report.findings]).toEqual([name, 'safetensors', []]);
    }
  });

  it('names the tensor and the check for every malformed header', async () => {
    const expected: Record<string, [string, string][]> = {
      'duplicate-key.safetensors': [
        ['MLSEC-SAFETENSORS-005', 'header repeats the key "w"; parsers disagree on which one counts'],
      ],
      'header-not-json.safetensors': [['MLSEC-SAFETENSORS-001', 'header is not valid JSON']],
      'header-not-utf8.safetensors': [['MLSEC-SAFETENSORS-001', 'header is not valid UTF-8']],
      'header-past-eof.safetensors': [
        ['MLSEC-SAFETENSORS-001', 'header length 4096 runs past the end of the file (96 bytes)'],
      ],
      'header-too-large.safetensors': [
        [
          'MLSEC-SAFETENSORS-001',
          'header length 200000000 exceeds the 100000000-byte limit of safetensors readers',
        ],
      ],
      'hidden-bytes.safetensors': [
        ['MLSEC-SAFETENSORS-003', '64 bytes after the last tensor belong to no tensor'],
      ],
      'metadata-not-strings.safetensors': [
        ['MLSEC-SAFETENSORS-004', '__metadata__ "config" is a object, not a string'],
      ],
      'overlap.safetensors': [['MLSEC-SAFETENSORS-003', 'tensor "b" overlaps tensor "a" (bytes 8 to 16)']],
      'past-end.safetensors': [
        ['MLSEC-SAFETENSORS-003', 'tensor "w" ends at 1048576, past the end of the data section (16 bytes)'],
      ],
      'size-mismatch.safetensors': [
        ['MLSEC-SAFETENSORS-002', 'tensor "w" of F32 [2,2] needs 16 bytes but its range [0, 8) holds 8'],
      ],
      'unknown-dtype.safetensors': [['MLSEC-SAFETENSORS-002', 'tensor "w" has unknown dtype "F128"']],
    };
    expect(readdirSync(join(folder, 'malformed')).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, findings] of Object.entries(expected)) {
      const report = await scanFile(join(folder, 'malformed', name));
      expect([name, brief(report.findings)]).toEqual([
        name,
        findings.map(([rule, message]) => [rule, 'medium', message]),
      ]);
    }
  });

  it('reports gaps, inverted ranges, bad shapes and partial bytes', async () => {
    const header = JSON.stringify({
      a: { dtype: 'U8', shape: [4], data_offsets: [4, 8] },
      b: { dtype: 'F32', shape: [1, -1], data_offsets: [8, 12] },
      c: { dtype: 'F4', shape: [3], data_offsets: [12, 13] },
      d: { dtype: 'U8', shape: [0], data_offsets: [20, 10] },
      e: [1, 2],
      __metadata__: ['x'],
    });
    const result = await scanBytes(file(header, 13));
    expect(brief(result.findings)).toEqual([
      [
        'MLSEC-SAFETENSORS-002',
        'medium',
        'tensor "b" has an invalid shape (a list of non-negative integers is required)',
      ],
      ['MLSEC-SAFETENSORS-002', 'medium', 'tensor "c" of F4 [3] does not fill whole bytes'],
      ['MLSEC-SAFETENSORS-002', 'medium', 'tensor "d" ends (10) before it begins (20)'],
      ['MLSEC-SAFETENSORS-002', 'medium', 'tensor "e" is not an object with dtype, shape and data_offsets'],
      ['MLSEC-SAFETENSORS-004', 'medium', '__metadata__ is not an object'],
      ['MLSEC-SAFETENSORS-003', 'medium', '4 bytes before tensor "a" belong to no tensor'],
    ]);
  });

  it('catches a shape whose size overflows 64 bits', async () => {
    const huge = 2 ** 40;
    const header = JSON.stringify({ w: { dtype: 'F64', shape: [huge, huge, huge], data_offsets: [0, 0] } });
    const result = await scanBytes(file(header, 0));
    expect(brief(result.findings)).toEqual([
      [
        'MLSEC-SAFETENSORS-002',
        'medium',
        `tensor "w" of F64 [${huge},${huge},${huge}] needs ${8n * BigInt(huge) ** 3n} bytes but its range [0, 0) holds 0`,
      ],
    ]);
  });

  it('reports a header of 200,000 bad entries in a bounded number of findings', async () => {
    const parts = ['{'];
    for (let i = 0; i < 200_000; i++) parts.push(`"t${i}":{"dtype":"X","shape":[1],"data_offsets":[0,1]},`);
    parts.push('"end":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}');
    const started = Date.now();
    const result = await scanBytes(file(parts.join(''), 1));
    expect(Date.now() - started).toBeLessThan(20_000);
    const byRule = result.findings.filter((f) => f.rule === 'MLSEC-SAFETENSORS-002');
    expect(byRule).toHaveLength(21);
    expect(byRule.at(-1)).toMatchObject({
      message: '199980 more problems of this kind in the header',
      count: 199980,
    });
    expect(result.findings.filter((f) => f.rule === 'MLSEC-SAFETENSORS-003')).toHaveLength(21);
  });

  it('survives JSON nested far deeper than any parser recursion', async () => {
    const deep = `{"__metadata__":${'['.repeat(2_000_000)}${']'.repeat(2_000_000)}}`;
    const result = await scanBytes(file(deep, 0));
    expect(result.findings.map((f) => f.rule)).toEqual(['MLSEC-SAFETENSORS-004']);
  });

  it('finds duplicate keys at any depth, not in strings or arrays', () => {
    expect(duplicateKeys('{"a":1,"b":{"x":"a","x":2},"c":["a","a"],"a\\"":3,"a":[{"k":1,"k":2}]}')).toEqual([
      'x',
      'a',
      'k',
    ]);
  });

  describe('a multi-gigabyte file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlsec-safetensors-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('is scanned by reading its header only', async () => {
      // 6 GiB, sparse: one F16 tensor of 2^31 + 2^30 elements; the data is never written.
      const elements = 2 ** 31 + 2 ** 30;
      const header = new TextEncoder().encode(
        JSON.stringify({
          __metadata__: { format: 'pt' },
          'model.embed_tokens.weight': {
            dtype: 'F16',
            shape: [elements / 4096, 4096],
            data_offsets: [0, elements * 2],
          },
        }).padEnd(128, ' '),
      );
      const path = join(dir, 'big.safetensors');
      const fd = openSync(path, 'w');
      const prefix = new Uint8Array(8 + header.length);
      new DataView(prefix.buffer).setBigUint64(0, BigInt(header.length), true);
      prefix.set(header, 8);
      writeSync(fd, prefix);
      ftruncateSync(fd, 8 + header.length + elements * 2);
      closeSync(fd);
      const report = await scanFile(path);
      expect(report.size).toBe(6 * 2 ** 30 + 136);
      expect([report.format, report.findings.map((x) => x.message)]).toEqual(['safetensors', []]);
      // The first 64 KiB every file gets for detection, and the zip-directory probe at the end.
      expect(report.bytesRead).toBeLessThanOrEqual(2 * 64 * 1024 + 22);
    });
  });
});
