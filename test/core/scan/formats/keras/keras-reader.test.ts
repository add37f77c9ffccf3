import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultLimits } from '../../../../../src/core/scan/limits.js';
import { GlobalPolicy } from '../../../../../src/core/scan/policy/global-policy.js';
import { scanSource } from '../../../../../src/core/scan/scan-source.js';
import { randomAccessSource } from '../../../../../src/core/source.js';
import { root } from '../../../../helpers/cli.js';
import { scanBytes } from '../../../../helpers/scan.js';

const text = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const fixture = (path: string) => readFileSync(join(root, 'fixtures', 'keras', path));
const lambda = { class_name: '__lambda__', config: { code: '4wEAAAAAAAAA', defaults: null, closure: null } };
const rows = (findings: readonly { rule: string; severity: string; message: string }[]) =>
  findings.map((f) => [f.rule, f.severity, f.message]);

/** A source of `size` bytes that starts with `head` and reads as `fill` after it, never allocated. */
function claimed(head: Uint8Array, size: number, fill = 0) {
  return randomAccessSource({
    size,
    read: async (offset, length) => {
      const out = new Uint8Array(Math.max(0, Math.min(length, size - offset))).fill(fill);
      if (offset < head.length) out.set(head.subarray(offset, offset + out.length));
      return out;
    },
  });
}
const scanClaimed = (head: Uint8Array, size: number, fill = 0) =>
  scanSource(claimed(head, size, fill), 'big', { policy: new GlobalPolicy(), limits: defaultLimits });

describe('Keras config reader', () => {
  it('reports Keras 3 objects outside Keras with the message, rule and global', async () => {
    const config = {
      module: 'keras',
      class_name: 'Sequential',
      config: {
        name: 'm',
        layers: [
          { module: 'os', class_name: 'system', config: { name: 'x' } },
          { module: 'keras.layers', class_name: 'Lambda', config: { name: 'l', function: lambda } },
          { module: 'acme.layers', class_name: 'Block', config: {}, registered_name: 'acme>Block' },
        ],
      },
    };
    const result = await scanBytes(text(config), { name: 'config.json' });
    expect(result.format).toBe('keras-config');
    expect(rows(result.findings)).toEqual([
      [
        'MLSEC-KERAS-002',
        'high',
        'system layer "x" (Keras config at config.layers[0]) names os.system (runs commands and touches files)',
      ],
      [
        'MLSEC-KERAS-001',
        'critical',
        'Keras config at config.layers[1].config.function: __lambda__ object holds marshalled Python bytecode',
      ],
      [
        'MLSEC-KERAS-004',
        'medium',
        'Block (Keras config at config.layers[2]) names acme.layers.Block, code outside Keras (no rule names it: a user class, or a module not yet reviewed)',
      ],
    ]);
    expect(result.findings.map((f) => f.global)).toEqual(['os.system', undefined, 'acme.layers.Block']);
  });

  it('finds a config whose class_name comes after 100 KiB of other keys', async () => {
    const config = {
      config: { pad: ' '.repeat(100_000), layers: [{ class_name: 'Lambda', config: { function: lambda } }] },
      class_name: 'Sequential',
    };
    const result = await scanBytes(text(config));
    expect(result.format).toBe('keras-config');
    expect(result.findings.map((f) => f.rule)).toEqual(['MLSEC-KERAS-001']);
  });

  it('lets a custom package be allowlisted like a pickle global', async () => {
    const config = { module: 'acme.layers', class_name: 'Block', config: {} };
    expect((await scanBytes(text(config), { policy: { allow: ['acme.*'] } })).findings).toEqual([]);
    expect((await scanBytes(text(config), { policy: { deny: ['acme.layers.*'] } })).findings[0]?.rule).toBe(
      'MLSEC-KERAS-002',
    );
  });

  it('walks configs nested 200,000 deep without recursion and finds the Lambda at the bottom', async () => {
    const depth = 200_000;
    const json = `${'{"class_name":"Sequential","config":{"layers":['.repeat(depth)}${JSON.stringify(lambda)}${']}}'.repeat(depth)}`;
    const started = Date.now();
    const result = await scanBytes(new TextEncoder().encode(json));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result.findings.map((f) => f.rule)).toEqual(['MLSEC-KERAS-001']);
    expect(result.findings[0]!.message).toMatch(
      /^Keras config at config\.layers\[0\]\..*…: __lambda__ object holds/,
    );
  });

  it('reports invalid JSON and oversized configs as not inspected', async () => {
    const broken = await scanBytes(new TextEncoder().encode('{"class_name": "Sequential", "config": {'));
    expect(rows(broken.findings)).toEqual([
      ['MLSEC-KERAS-005', 'medium', 'Keras config is not valid JSON and was not inspected'],
    ]);
    const big = await scanClaimed(
      new TextEncoder().encode('{"class_name": "Sequential", "config": {}}'),
      2 ** 40,
      0x20,
    );
    expect(rows(big.findings)).toEqual([
      ['MLSEC-KERAS-005', 'medium', 'Keras config is larger than 67108864 bytes and was not inspected'],
    ]);
  });
});

describe('HDF5 reader', () => {
  it('reads the model config of a Keras 2 file', async () => {
    const result = await scanBytes(fixture('malicious/tf-keras-lambda.h5'));
    expect(result.format).toBe('keras-h5');
    expect(rows(result.findings)).toEqual([
      [
        'MLSEC-KERAS-001',
        'critical',
        'Lambda layer "lambda" (HDF5 file attribute model_config at config.layers[2]) carries marshalled Python bytecode (function_type lambda)',
      ],
    ]);
  });

  it('finds a superblock behind a user block past the first 64 KiB', async () => {
    const file = fixture('malicious/tf-keras-lambda-userblock.h5');
    // h5py wrote a 512-byte user block; make it 128 KiB, as h5py's userblock_size=131072 would.
    const shifted = new Uint8Array(131072 + file.length - 512);
    shifted.set(file.subarray(512), 131072);
    const result = await scanBytes(shifted);
    expect(result.findings.map((f) => f.rule)).toContain('MLSEC-KERAS-001');
  });

  it('reports truncated and oversized files as not inspected, without reading them whole', async () => {
    const file = fixture('malicious/tf-keras-lambda.h5');
    const truncated = await scanBytes(file.subarray(0, 1500));
    expect(truncated.findings.map((f) => [f.rule, f.severity])).toEqual([['MLSEC-KERAS-005', 'medium']]);
    const big = await scanClaimed(file.subarray(0, 4096), 8 * 2 ** 30);
    expect(rows(big.findings)).toEqual([
      [
        'MLSEC-KERAS-005',
        'medium',
        'HDF5 file of 8589934592 bytes is larger than 268435456 bytes; its attributes (a Keras model config) were not inspected',
      ],
    ]);
  });
});
