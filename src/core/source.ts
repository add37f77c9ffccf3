/** Random access to bytes: files, buffers, stored zip members. */
export interface RandomAccess {
  readonly size: number;
  /** Reads up to `length` bytes at `offset`; fewer only at the end. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/**
 * Bytes to scan. Every source can be streamed from byte 0; files and buffers also
 * give random access, which zip needs. A stream-only source (a decompressor's output)
 * can be streamed once, after any number of `head` calls.
 */
export interface ByteSource {
  readonly size: number | undefined;
  readonly random: RandomAccess | undefined;
  /** The first `length` bytes, or all of them when shorter. */
  head(length: number): Promise<Uint8Array>;
  stream(): AsyncIterable<Uint8Array>;
}

const streamChunk = 1 << 20;

export function randomAccessSource(random: RandomAccess): ByteSource {
  return {
    size: random.size,
    random,
    head: (length) => random.read(0, Math.min(length, random.size)),
    async *stream() {
      for (let offset = 0; offset < random.size; offset += streamChunk) {
        const chunk = await random.read(offset, Math.min(streamChunk, random.size - offset));
        if (chunk.length === 0) return;
        yield chunk;
      }
    },
  };
}

export function bufferAccess(bytes: Uint8Array): RandomAccess {
  return {
    size: bytes.length,
    read: async (offset, length) => bytes.subarray(offset, Math.min(bytes.length, offset + length)),
  };
}

export function bufferSource(bytes: Uint8Array): ByteSource {
  return randomAccessSource(bufferAccess(bytes));
}

/** A window of another random-access source (a stored zip member, a tar entry in a file). */
export function sliceAccess(parent: RandomAccess, start: number, size: number): RandomAccess {
  return {
    size,
    read: (offset, length) => parent.read(start + offset, Math.max(0, Math.min(length, size - offset))),
  };
}

/**
 * Serves small reads from a few cached blocks, so that walking many small headers and members in
 * file order (a zip of 200,000 entries) costs one read per block instead of several per entry.
 * Reads longer than a block go straight through. The returned bytes are shared: do not modify them.
 */
export function cachedAccess(parent: RandomAccess, blockSize = 16 * 1024, maxBlocks = 8): RandomAccess {
  const blocks = new Map<number, Promise<Uint8Array>>(); // in order of use, least recent first
  const block = (index: number): Promise<Uint8Array> => {
    const cached = blocks.get(index);
    if (cached) {
      blocks.delete(index);
      blocks.set(index, cached);
      return cached;
    }
    const start = index * blockSize;
    const read = parent.read(start, Math.min(blockSize, parent.size - start));
    blocks.set(index, read);
    if (blocks.size > maxBlocks) blocks.delete(blocks.keys().next().value!);
    return read;
  };
  return {
    size: parent.size,
    async read(offset, length) {
      const end = Math.min(offset + length, parent.size);
      if (end <= offset) return new Uint8Array(0);
      if (end - offset > blockSize) return parent.read(offset, length);
      const first = Math.floor(offset / blockSize);
      const last = Math.floor((end - 1) / blockSize);
      const a = await block(first);
      if (first === last) return a.subarray(offset - first * blockSize, end - first * blockSize);
      const b = await block(last);
      const out = new Uint8Array(end - offset);
      const head = a.subarray(offset - first * blockSize);
      out.set(head);
      out.set(b.subarray(0, end - last * blockSize), head.length);
      return out;
    },
  };
}

/** A source over a one-shot stream; `head` buffers what it reads so that `stream` replays it. */
export function streamSource(chunks: AsyncIterable<Uint8Array>, size?: number): ByteSource {
  const iterator = chunks[Symbol.asyncIterator]();
  const buffered: Uint8Array[] = [];
  let bufferedLength = 0;
  let done = false;
  let streamed = false;
  return {
    size,
    random: undefined,
    async head(length) {
      while (!done && bufferedLength < length) {
        const next = await iterator.next();
        if (next.done) done = true;
        else {
          buffered.push(next.value);
          bufferedLength += next.value.length;
        }
      }
      const all = concatBytes(buffered, bufferedLength);
      buffered.length = 0;
      if (all.length > 0) buffered.push(all);
      return all.subarray(0, Math.min(length, all.length));
    },
    async *stream() {
      if (streamed) throw new Error('a stream source can be read only once');
      streamed = true;
      yield* buffered.splice(0);
      while (!done) {
        const next = await iterator.next();
        if (next.done) done = true;
        else yield next.value;
      }
    },
  };
}

export function concatBytes(parts: readonly Uint8Array[], total?: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const length = total ?? parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Reads a whole source into memory, refusing past `limit` bytes. */
export async function readAllBounded(source: ByteSource, limit: number): Promise<Uint8Array | undefined> {
  if (source.size !== undefined && source.size > limit) return undefined;
  if (source.random) return source.random.read(0, source.random.size);
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of source.stream()) {
    total += chunk.length;
    if (total > limit) return undefined;
    parts.push(chunk);
  }
  return concatBytes(parts, total);
}
