import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PickleDecoder } from '../../../../../src/core/scan/formats/pickle/decoder.js';
import { defaultLimits } from '../../../../../src/core/scan/limits.js';
import { GlobalPolicy } from '../../../../../src/core/scan/policy/global-policy.js';
import { scanSource } from '../../../../../src/core/scan/scan-source.js';
import { streamSource } from '../../../../../src/core/source.js';
import { fixture } from '../../../../helpers/cli.js';
import { brief } from '../../../../helpers/scan.js';

async function* chunked(bytes: Uint8Array, size: number) {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

const pickles = readdirSync(fixture('malicious')).filter((name) => name.endsWith('.pkl'));

describe('pickle decoder', () => {
  it('gives the same findings whatever the chunk boundaries', async () => {
    const options = { policy: new GlobalPolicy(), limits: defaultLimits };
    for (const name of pickles) {
      const bytes = readFileSync(fixture('malicious', name));
      const whole = await scanSource(streamSource(chunked(bytes, bytes.length)), name, options);
      for (const size of [1, 3, 64]) {
        const split = await scanSource(streamSource(chunked(bytes, size)), name, options);
        expect(brief(split.findings), `${name} in ${size}-byte chunks`).toEqual(brief(whole.findings));
      }
    }
    expect(pickles.length).toBeGreaterThan(50);
  });

  it('hands over long arguments by length only, past the keep limit', () => {
    const seen: { code: number; length: number; kept: boolean }[] = [];
    const decoder = new PickleDecoder(
      (code, arg) => {
        if (typeof arg === 'object' && arg !== null && 'data' in arg) {
          seen.push({ code, length: arg.length, kept: arg.data !== null });
        }
        return undefined;
      },
      { maxLineBytes: 64, keepBytes: 8 },
    );
    const header = Uint8Array.from([0x42, 20, 0, 0, 0]);
    decoder.feed(header);
    decoder.feed(new Uint8Array(10));
    decoder.feed(new Uint8Array(10));
    decoder.feed(Uint8Array.from([0x43, 4, 1, 2, 3, 4, 0x2e]));
    decoder.end();
    expect(decoder.error).toBeUndefined();
    expect(seen).toEqual([
      { code: 0x42, length: 20, kept: false },
      { code: 0x43, length: 4, kept: true },
    ]);
    expect(decoder.position).toBe(32);
  });

  it('reads past an over-long text argument, keeping its start, as CPython reads on to what follows', () => {
    const seen: unknown[] = [];
    const decoder = new PickleDecoder(
      (code, arg) => {
        seen.push([code, arg]);
        return undefined;
      },
      { maxLineBytes: 16, keepBytes: 8 },
    );
    decoder.feed(Uint8Array.from([0x53, ...new Array(40).fill(0x41)]));
    decoder.feed(Uint8Array.from([0x41, 0x0a, 0x4e, 0x2e]));
    decoder.end();
    expect(decoder.error).toBeUndefined();
    expect(seen).toEqual([
      [0x53, { text: 'A'.repeat(16), whole: false }],
      [0x4e, undefined],
      [0x2e, undefined],
    ]);
  });
});
