import { createReadStream } from 'node:fs';
import { type Digest, type DigestAlgorithm, digestStream } from '../core/hash/digest.js';

/** Large reads: hashing is limited by the hash itself, and fewer reads mean fewer round trips. */
const readSize = 4 << 20;

/** Digest of a file, or of the byte range [start, end) of it, streamed with bounded memory. */
export function hashFile(
  path: string,
  algorithm: DigestAlgorithm,
  range?: { start: number; end: number },
): Promise<Digest> {
  const stream = createReadStream(path, {
    highWaterMark: readSize,
    ...(range ? { start: range.start, end: range.end - 1 } : {}),
  });
  return digestStream(stream as AsyncIterable<Uint8Array>, algorithm);
}
