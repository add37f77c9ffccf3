import type { ByteSource } from '../../../source.js';
import { DataError } from '../../data-error.js';

/** The header ended before a field it declares. */
export class TruncatedError extends DataError {
  override name = 'TruncatedError';
}

const readChunk = 64 * 1024;

/**
 * Reads a source front to back, fetching only what is asked for: with random access, skipped
 * ranges (long strings nobody needs, fixed-size arrays) are never read; a stream-only source is
 * consumed and dropped. Memory holds one chunk plus the longest `take`.
 */
export class ByteCursor {
  /** Absolute offset of the next byte. */
  position = 0;
  private buffer: Uint8Array = new Uint8Array(0);
  private bufferStart = 0;
  private readonly iterator: AsyncIterator<Uint8Array> | undefined;
  private streamEnded = false;

  constructor(private readonly source: ByteSource) {
    this.iterator = source.random ? undefined : source.stream()[Symbol.asyncIterator]();
  }

  get size(): number | undefined {
    return this.source.size;
  }

  /** Bytes known to be left, or undefined for a stream of unknown length. */
  remaining(): number | undefined {
    return this.size === undefined ? undefined : this.size - this.position;
  }

  /** Makes `length` bytes from `position` available and returns them (shared, do not modify). */
  async take(length: number): Promise<Uint8Array> {
    const available = this.bufferStart + this.buffer.length - this.position;
    if (available < length) await this.fill(length);
    const at = this.position - this.bufferStart;
    this.position += length;
    return this.buffer.subarray(at, at + length);
  }

  async skip(length: number): Promise<void> {
    const remaining = this.remaining();
    if (remaining !== undefined && length > remaining) throw new TruncatedError('truncated');
    const available = this.bufferStart + this.buffer.length - this.position;
    if (length <= available || this.source.random) {
      this.position += length;
      return;
    }
    // A stream: drop what is buffered, then pull and drop whole chunks.
    let left = length - available;
    this.position += available;
    this.buffer = new Uint8Array(0);
    this.bufferStart = this.position;
    while (left > 0) {
      const chunk = await this.pull();
      if (chunk === undefined) throw new TruncatedError('truncated');
      if (chunk.length <= left) {
        left -= chunk.length;
        this.position += chunk.length;
        this.bufferStart = this.position;
      } else {
        this.position += left;
        this.buffer = chunk.subarray(left);
        this.bufferStart = this.position;
        left = 0;
      }
    }
  }

  private async fill(length: number): Promise<void> {
    const kept = this.buffer.subarray(Math.max(0, this.position - this.bufferStart));
    const keptStart = Math.max(this.position, this.bufferStart);
    if (this.source.random) {
      const random = this.source.random;
      const start = keptStart + kept.length;
      const want = Math.max(readChunk, length - kept.length);
      const more =
        start < random.size ? await random.read(start, Math.min(want, random.size - start)) : undefined;
      this.buffer = more ? join(kept, more) : kept;
      this.bufferStart = keptStart;
    } else {
      const parts = [kept];
      let total = kept.length;
      while (total < length) {
        const chunk = await this.pull();
        if (chunk === undefined) break;
        parts.push(chunk);
        total += chunk.length;
      }
      this.buffer = parts.length === 1 ? kept : join(...parts);
      this.bufferStart = keptStart;
    }
    if (this.bufferStart + this.buffer.length - this.position < length) throw new TruncatedError('truncated');
  }

  private async pull(): Promise<Uint8Array | undefined> {
    if (this.streamEnded || !this.iterator) return undefined;
    const next = await this.iterator.next();
    if (next.done) {
      this.streamEnded = true;
      return undefined;
    }
    return next.value;
  }

  /** Stops a stream-only source so its producer (a decompressor) can stop too. */
  async close(): Promise<void> {
    if (this.iterator && !this.streamEnded) await this.iterator.return?.();
  }
}

function join(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
