import { describe, expect, it } from 'vitest';
import {
  createDigester,
  type DigestAlgorithm,
  digestAlgorithms,
  digestBytes,
  digestStream,
  digestStreamMulti,
  isDigestAlgorithm,
  isHexDigest,
  toSri,
} from '../../../src/core/hash/digest.js';

const text = (value: string) => new TextEncoder().encode(value);
// 3 MiB + 7 bytes of i % 251: longer than any chunk, and no period that lines up with one.
const pattern = Uint8Array.from({ length: 3 * 2 ** 20 + 7 }, (_, i) => i % 251);

// Expected values from python3 hashlib and sha256sum / sha384sum / sha512sum / b2sum (coreutils 9.1).
const known: Record<string, Record<DigestAlgorithm, string>> = {
  empty: {
    sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    sha384:
      '38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b',
    sha512:
      'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e',
    blake2b:
      '786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce',
  },
  abc: {
    sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    sha384:
      'cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7',
    sha512:
      'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
    blake2b:
      'ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923',
  },
  pattern: {
    sha256: 'f578a61853ca2f4272dba551bd868420e22302fbb6d6dfc0cc80da1d2c7b779f',
    sha384:
      '5d144c3bb57656db80917229d550451c93606172a5c76e9a16c57cfd7b10a4a4eb2e75f28abe65ea86bd7aa7706ec32f',
    sha512:
      '5d1d3fff71da46b580a30ee82bf8f4b3f6d360e8592c66b0a8f718e652d4195762ce9a19762114824436eaca6284965033d293331bd5378215cd233671c92138',
    blake2b:
      'b396690ec0e661dddb35ae5a79b2ccdba6b65c5c45434322e7f4c626ce7366b5035262aaab30ed105b790b9de482c0c52a91ef2fc282bf7f9a620f377cc6816a',
  },
};
const inputs: Record<string, Uint8Array> = { empty: new Uint8Array(0), abc: text('abc'), pattern };

async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

describe('digests', () => {
  for (const algorithm of digestAlgorithms) {
    it(`${algorithm} gives the known answers`, async () => {
      for (const [label, bytes] of Object.entries(inputs)) {
        const expected = { algorithm, hex: known[label]![algorithm], size: bytes.length };
        expect(digestBytes(bytes, algorithm), label).toEqual(expected);
        expect(await digestStream(chunked(bytes, 1 << 20), algorithm), label).toEqual(expected);
      }
    });
  }

  it('does not depend on how the stream is chunked', async () => {
    const hex = known.pattern!.sha256;
    for (const size of [4093, 65_536, 1 << 20, pattern.length]) {
      expect((await digestStream(chunked(pattern, size))).hex, `chunks of ${size}`).toBe(hex);
    }
    const small = pattern.subarray(0, 1000);
    expect((await digestStream(chunked(small, 1), 'blake2b')).hex).toBe(digestBytes(small, 'blake2b').hex);
    expect((await digestStream(chunked(new Uint8Array(0), 1))).hex).toBe(known.empty!.sha256);
  });

  it('computes several algorithms in one pass, in the order asked', async () => {
    const digests = await digestStreamMulti(chunked(pattern, 65_536), ['blake2b', 'sha256', 'sha384']);
    expect(digests.map((d) => [d.algorithm, d.hex, d.size])).toEqual([
      ['blake2b', known.pattern!.blake2b, pattern.length],
      ['sha256', known.pattern!.sha256, pattern.length],
      ['sha384', known.pattern!.sha384, pattern.length],
    ]);
  });

  it('feeds bytes incrementally through a digester', () => {
    const digester = createDigester('sha512');
    digester.update(text('a'));
    digester.update(text('bc'));
    expect(digester.digest()).toEqual({ algorithm: 'sha512', hex: known.abc!.sha512, size: 3 });
  });

  it('recognizes names and hex digests', () => {
    expect(isDigestAlgorithm('blake2b')).toBe(true);
    expect(isDigestAlgorithm('blake2b512')).toBe(false);
    expect(isDigestAlgorithm('md5')).toBe(false);
    expect(isHexDigest(known.abc!.sha256.toUpperCase(), 'sha256')).toBe(true);
    expect(isHexDigest(known.abc!.sha256, 'sha384')).toBe(false);
    expect(isHexDigest(`${known.abc!.sha256.slice(0, 63)}g`, 'sha256')).toBe(false);
  });
});

describe('SRI strings', () => {
  it('matches base64 of the raw digest (python3 base64.b64encode)', () => {
    const sri = (algorithm: DigestAlgorithm) => toSri({ algorithm, hex: known.abc![algorithm] });
    expect(sri('sha256')).toBe('sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=');
    expect(sri('sha384')).toBe('sha384-ywB1P0WjXou1oD1pmsZQBycsMqsO3tFjGotgWkP/W+2AhgcroefMI1i67KE0yCWn');
    expect(sri('sha512')).toBe(
      'sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw==',
    );
    expect(toSri({ algorithm: 'sha256', hex: known.abc!.sha256.toUpperCase() })).toBe(sri('sha256'));
  });

  it('has none for blake2b, which SRI does not define', () => {
    expect(toSri({ algorithm: 'blake2b', hex: known.abc!.blake2b })).toBeUndefined();
  });

  it('refuses a malformed digest instead of encoding part of it', () => {
    expect(() => toSri({ algorithm: 'sha256', hex: 'abcd' })).toThrow(/not a sha256 digest/);
    expect(() => toSri({ algorithm: 'sha256', hex: `zz${known.abc!.sha256.slice(2)}` })).toThrow();
  });
});
