import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DataError, UnsupportedDataError } from '../../../../../src/core/scan/data-error.js';
import { decodeBzip2 } from '../../../../../src/core/scan/formats/compressed/bzip2.js';
import { needingPython, python3Missing } from '../../../../helpers/python.js';

/**
 * The judge is libbzip2 itself, through CPython's bz2 module: the inputs are compressed by it at
 * test time, and for damaged inputs its verdict (the bytes, or an error) is what the decoder must
 * match.
 */
interface Case {
  name: string;
  data: string;
  sha256: string | null;
  size: number;
}

const generator = String.raw`
import bz2, base64, hashlib, json, random
rng = random.Random(1234)
def rand(n): return bytes(rng.randrange(256) for _ in range(n))
def verdict(name, data):
    try:
        out = bz2.decompress(data)
        return {"name": name, "data": base64.b64encode(data).decode(), "sha256": hashlib.sha256(out).hexdigest(), "size": len(out)}
    except Exception:
        return {"name": name, "data": base64.b64encode(data).decode(), "sha256": None, "size": 0}
inputs = {
    "text": b"the quick brown fox jumps over the lazy dog\n" * 50,
    "random": rand(300_000),
    "runs": b"".join(bytes([rng.randrange(3)]) * rng.randrange(1, 700) for _ in range(4000)),
    "mixed": b"".join(rand(rng.randrange(1, 40)) + b"a" * rng.randrange(0, 300) for _ in range(6000)),
    "every-byte": bytes(range(256)) * 40,
    "one-byte": b"x",
    "empty": b"",
}
cases = []
for level in (1, 9):
    for name, data in inputs.items():
        cases.append(verdict(f"{name}-{level}", bz2.compress(data, level)))
# Several streams, and junk after the last, as bz2.decompress and BZ2File accept.
cases.append(verdict("multi-stream", bz2.compress(b"abc" * 999, 1) + bz2.compress(rand(5000), 9)))
cases.append(verdict("trailing-junk", bz2.compress(b"payload", 9) + b"not bzip2"))
# Damage: bit flips, truncation, inserted and replaced bytes.
sources = [bz2.compress(inputs[k], 9) for k in ("text", "mixed", "runs")]
for i in range(150):
    data = bytearray(rng.choice(sources))
    kind = i % 4
    if kind == 0:
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(4, len(data))] ^= 1 << rng.randrange(8)
    elif kind == 1:
        data = data[: rng.randrange(1, len(data))]
    elif kind == 2:
        at = rng.randrange(4, len(data))
        data[at:at] = rand(rng.randrange(1, 5))
    else:
        data[rng.randrange(10, len(data))] = rng.randrange(256)
    cases.append(verdict(f"damaged-{i}", bytes(data)))
print(json.dumps(cases))
`;

const missing = python3Missing();
const cases = (
  missing
    ? []
    : JSON.parse(execFileSync('python3', ['-c', generator], { maxBuffer: 64 << 20, encoding: 'utf8' }))
) as Case[];

async function* chunked(bytes: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function decode(bytes: Uint8Array, chunkSize: number) {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of decodeBzip2(chunked(bytes, chunkSize))) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}

/** What the decoder makes of the bytes: the output, or the DataError it threw (anything else fails). */
async function verdict(bytes: Uint8Array, chunkSize: number) {
  try {
    return await decode(bytes, chunkSize);
  } catch (error) {
    expect(error).toBeInstanceOf(DataError);
    return { sha256: null, size: 0 };
  }
}

const bytesOf = (c: Case) => new Uint8Array(Buffer.from(c.data, 'base64'));

describe.skipIf(missing !== undefined)(needingPython('bzip2 decoder'), () => {
  it('decodes what libbzip2 wrote, at levels 1 and 9, in chunks of any size', async () => {
    const valid = cases.filter((c) => !c.name.startsWith('damaged'));
    expect(valid.every((c) => c.sha256 !== null)).toBe(true);
    for (const c of valid) {
      for (const chunkSize of [1 << 16, 7, ...(c.size < 20_000 ? [1] : [])]) {
        expect({ name: c.name, ...(await decode(bytesOf(c), chunkSize)) }).toEqual({
          name: c.name,
          sha256: c.sha256,
          size: c.size,
        });
      }
    }
  });

  it('agrees with libbzip2 on damaged streams: the same bytes, or an error of its own', async () => {
    const damaged = cases.filter((c) => c.name.startsWith('damaged'));
    expect(damaged.length).toBe(150);
    for (const c of damaged) {
      const ours = await verdict(bytesOf(c), 4096);
      expect({ name: c.name, ...ours }).toEqual({ name: c.name, sha256: c.sha256, size: c.size });
    }
  });

  it('reports a 5-byte stream as truncated, not with an exception of the runtime', async () => {
    await expect(decode(new TextEncoder().encode('BZh91'), 1 << 16)).rejects.toThrow(
      new DataError('truncated'),
    );
    await expect(decode(new TextEncoder().encode('BZh0'), 1 << 16)).rejects.toThrow(
      new DataError('not a bzip2 stream'),
    );
  });

  it('refuses randomised blocks (bzip2 0.9.0) as unsupported, not as damage', async () => {
    const text = bytesOf(cases.find((c) => c.name === 'text-9')!);
    // The randomised bit follows the block magic (6 bytes) and CRC (4 bytes) after 'BZh9'.
    const randomised = Uint8Array.from(text);
    randomised[14] = randomised[14]! | 0x80;
    await expect(decode(randomised, 1 << 16)).rejects.toBeInstanceOf(UnsupportedDataError);
  });

  it('hands on output in chunks of at most 1 MiB, one at a time as they are asked for', async () => {
    // 256 MiB of zeros in a few hundred bytes: the decoder makes only the chunks that are read.
    const bomb = new Uint8Array(
      execFileSync('python3', [
        '-c',
        'import bz2,sys; sys.stdout.buffer.write(bz2.compress(bytes(256 << 20), 9))',
      ]),
    );
    expect(bomb.length).toBeLessThan(300);
    const iterator = decodeBzip2(chunked(bomb, 1 << 16))[Symbol.asyncIterator]();
    const started = performance.now();
    for (let i = 0; i < 4; i++) {
      const next = await iterator.next();
      expect(next.done).toBe(false);
      expect(next.value!.length).toBe(1 << 20);
    }
    await iterator.return?.();
    // Decoding all 256 MiB takes seconds; four chunks take a fraction of one.
    expect(performance.now() - started).toBeLessThan(1500);
  });
});
