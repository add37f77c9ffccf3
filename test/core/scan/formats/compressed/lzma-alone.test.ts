import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeLzmaAlone, LzmaError } from '../../../../../src/core/scan/formats/compressed/lzma-alone.js';
import { root } from '../../../../helpers/cli.js';

interface Expected {
  sha256?: string;
  size?: number;
  error?: boolean;
  path?: string;
}

const dir = join(root, 'fixtures', 'lzma');
const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Record<string, Expected>;
const lzmaFixture = (name: string) => new Uint8Array(readFileSync(join(dir, `${name}.lzma`)));
const valid = Object.entries(expected).filter(([name, e]) => !e.error && !name.startsWith('real:'));
const broken = Object.entries(expected).filter(([, e]) => e.error === true);

async function* chunked(bytes: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function decode(
  bytes: Uint8Array,
  chunkSize = 64 * 1024,
  options: { maxDictionaryBytes?: number } = {},
): Promise<{ sha256: string; size: number; chunks: number[] }> {
  const hash = createHash('sha256');
  const chunks: number[] = [];
  for await (const chunk of decodeLzmaAlone(chunked(bytes, chunkSize), options)) {
    hash.update(chunk);
    chunks.push(chunk.length);
  }
  return { sha256: hash.digest('hex'), size: chunks.reduce((a, b) => a + b, 0), chunks };
}

/** Resolves to the LzmaError thrown, failing the test when decoding succeeds or throws anything else. */
async function decodeError(bytes: Uint8Array, chunkSize = 64 * 1024): Promise<LzmaError> {
  try {
    await decode(bytes, chunkSize);
  } catch (error) {
    expect(error).toBeInstanceOf(LzmaError);
    return error as LzmaError;
  }
  throw new Error('decoded without an error');
}

const header = (props: number, dictionary: number, size: bigint | 'unknown') => {
  const bytes = new Uint8Array(13).fill(0xff);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, props);
  view.setUint32(1, dictionary, true);
  if (size !== 'unknown') view.setBigUint64(5, size, true);
  return bytes;
};

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

describe('decodeLzmaAlone', () => {
  it.each(valid)('decodes %s exactly as liblzma does', async (name, e) => {
    const result = await decode(lzmaFixture(name));
    expect(result.size).toBe(e.size);
    expect(result.sha256).toBe(e.sha256);
  });

  it.each(valid)('decodes %s fed one byte per chunk', { timeout: 30_000 }, async (name, e) => {
    const result = await decode(lzmaFixture(name), 1);
    expect(result.size).toBe(e.size);
    expect(result.sha256).toBe(e.sha256);
  });

  it.each([3, 13, 17, 64, 65, 1000])('decodes with %i-byte input chunks', async (size) => {
    for (const name of ['short-text', 'known-size', 'mixed-lc0-lp2-pb0']) {
      expect((await decode(lzmaFixture(name), size)).sha256).toBe(expected[name]?.sha256);
    }
  });

  it('decodes the real joblib file written with compress=("lzma", 3)', async () => {
    const real = expected['real:sklearn-rf-lzma3.joblib'];
    expect(real?.path).toBeDefined();
    const result = await decode(new Uint8Array(readFileSync(join(root, real?.path ?? ''))));
    expect(result.size).toBe(real?.size);
    expect(result.sha256).toBe(real?.sha256);
  });

  it('yields output in chunks of at most 1 MiB', async () => {
    for (const name of ['long-runs-3m', 'known-size-3m']) {
      const { chunks, size } = await decode(lzmaFixture(name));
      expect(size).toBe(3_000_000);
      expect(chunks.length).toBeGreaterThan(2);
      expect(Math.max(...chunks)).toBeLessThanOrEqual(1 << 20);
      expect(Math.min(...chunks)).toBeGreaterThan(0);
    }
  });

  it('stops reading input at the end of the stream', async () => {
    const garbage = new Uint8Array(100).fill(0x42);
    const result = await decode(concat(lzmaFixture('short-text'), garbage), 7);
    expect(result.sha256).toBe(expected['short-text']?.sha256);

    let pulled = 0;
    let closed = false;
    const source: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]() {
        const parts = [lzmaFixture('known-size'), garbage, garbage];
        return {
          next: async () => {
            const value = parts[pulled++];
            return value === undefined ? { done: true, value: undefined } : { done: false, value };
          },
          return: async () => {
            closed = true;
            return { done: true, value: undefined };
          },
        };
      },
    };
    let size = 0;
    for await (const chunk of decodeLzmaAlone(source)) size += chunk.length;
    expect(size).toBe(expected['known-size']?.size);
    // It may look one chunk ahead (it decodes only with some input in hand), never further.
    expect(pulled).toBeLessThanOrEqual(2);
    expect(closed).toBe(true);
  });

  it('closes its input when the consumer stops early', async () => {
    let closed = false;
    const bytes = lzmaFixture('long-runs-3m');
    const source: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]() {
        let sent = false;
        return {
          next: async () => {
            if (sent) return { done: true, value: undefined };
            sent = true;
            return { done: false, value: bytes };
          },
          return: async () => {
            closed = true;
            return { done: true, value: undefined };
          },
        };
      },
    };
    for await (const chunk of decodeLzmaAlone(source)) {
      expect(chunk.length).toBeGreaterThan(0);
      break;
    }
    expect(closed).toBe(true);
  });
});

describe('decodeLzmaAlone on bad input', () => {
  it.each(broken)('rejects %s with an LzmaError', { timeout: 10_000 }, async (name) => {
    await decodeError(lzmaFixture(name));
    await decodeError(lzmaFixture(name), 1);
  });

  it('reports truncation as such', async () => {
    expect((await decodeError(lzmaFixture('truncated'))).message).toBe('truncated');
  });

  it('rejects every proper prefix of a stream that ends with an end marker', {
    timeout: 30_000,
  }, async () => {
    for (const name of ['empty', 'short-text']) {
      const bytes = lzmaFixture(name);
      for (let cut = 0; cut < bytes.length; cut++) {
        expect((await decodeError(bytes.subarray(0, cut))).message).toBe('truncated');
      }
    }
    const bytes = lzmaFixture('mixed-300k');
    for (const cut of [14, 100, 5000, bytes.length - 5, bytes.length - 1]) {
      expect((await decodeError(bytes.subarray(0, cut), 333)).message).toBe('truncated');
    }
  });

  it('rejects a known-size stream cut short', async () => {
    const bytes = lzmaFixture('known-size');
    expect((await decodeError(bytes.subarray(0, bytes.length >> 1))).message).toBe('truncated');
  });

  it('rejects an invalid properties byte', async () => {
    const bytes = concat(header(225, 1 << 16, 'unknown'), new Uint8Array(16));
    expect((await decodeError(bytes)).message).toMatch(/properties/);
  });

  it('refuses a dictionary above the limit', async () => {
    const bytes = concat(header(0x5d, 0xffff_ffff, 'unknown'), new Uint8Array(16));
    expect((await decodeError(bytes)).message).toMatch(/dictionary/);
    // mixed-300k declares an 8 MiB dictionary.
    await expect(decode(lzmaFixture('mixed-300k'), 65536, { maxDictionaryBytes: 1 << 20 })).rejects.toThrow(
      /dictionary/,
    );
    expect((await decode(lzmaFixture('mixed-300k'), 65536, { maxDictionaryBytes: 8 << 20 })).sha256).toBe(
      expected['mixed-300k']?.sha256,
    );
  });

  it('rejects a range coder that does not start with a zero byte', async () => {
    const bytes = lzmaFixture('short-text');
    bytes[13] = 1;
    await decodeError(bytes);
  });

  it('rejects a match or a rep as the first symbol', async () => {
    // After the zero byte, the range decoder's code alone decides the first bits.  With fresh
    // probabilities, isMatch is 1 from code 0x7ffffc00 on, and then isRep is 0 below 0xbffffc00.
    const first = (code: number[]) =>
      concat(header(0x5d, 1 << 16, 'unknown'), Uint8Array.of(0, ...code), new Uint8Array(64));
    expect((await decodeError(first([0x90, 0, 0, 0]))).message).toBe('distance out of range');
    expect((await decodeError(first([0xff, 0xff, 0xff, 0xfe]))).message).toBe('corrupt data');
  });

  it('decodes a declared size of zero to nothing', async () => {
    const result = await decode(header(0x5d, 1 << 16, 0n));
    expect(result.size).toBe(0);
  });

  it('ends with an LzmaError or a bounded output on randomly damaged input', {
    timeout: 60_000,
  }, async () => {
    let seed = 12345;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (const name of ['short-text', 'known-size', 'mixed-lc0-lp2-pb0']) {
      const original = lzmaFixture(name);
      for (let round = 0; round < 60; round++) {
        const bytes = original.slice();
        const flips = 1 + Math.floor(random() * 4);
        for (let i = 0; i < flips; i++) {
          // Keep the header intact: damage the compressed data.
          const at = 13 + Math.floor(random() * (bytes.length - 13));
          bytes[at] = (bytes[at] ?? 0) ^ (1 + Math.floor(random() * 255));
        }
        try {
          const { size } = await decode(bytes, 1 + Math.floor(random() * 5000));
          expect(size).toBeLessThan(64 << 20);
        } catch (error) {
          expect(error).toBeInstanceOf(LzmaError);
        }
      }
    }
  });
});
