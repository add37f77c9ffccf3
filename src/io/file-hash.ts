import { open } from 'node:fs/promises';
import { type Digest, type DigestAlgorithm, digestBytes, digestStream } from '../core/hash/digest.js';

/** Large reads: hashing is limited by the hash itself, and fewer reads mean fewer round trips. */
const readSize = 4 << 20;

/**
 * Digest of a file, or of the byte range [start, end) of it, with bounded memory: files up to one
 * read are read whole (a stream per small file costs more than the hashing), larger ones streamed.
 */
export async function hashFile(
  path: string,
  algorithm: DigestAlgorithm,
  range?: { start: number; end: number },
): Promise<Digest> {
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    const start = range?.start ?? 0;
    const end = Math.min(range?.end ?? size, size);
    const length = Math.max(0, end - start);
    if (length <= readSize) {
      const buffer = new Uint8Array(length);
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await handle.read(buffer, filled, length - filled, start + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return digestBytes(buffer.subarray(0, filled), algorithm);
    }
    const stream = handle.createReadStream({
      start,
      end: end - 1,
      highWaterMark: readSize,
      autoClose: false,
    });
    return await digestStream(stream as AsyncIterable<Uint8Array>, algorithm);
  } finally {
    await handle.close();
  }
}
