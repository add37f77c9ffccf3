import { concatBytes } from '../../../source.js';
import { type ArgKind, opcodes } from './opcodes.js';

/** A length-prefixed argument. `data` is null when it was longer than the decoder keeps. */
export interface BytesArg {
  data: Uint8Array | null;
  length: number;
}

export type OpArg = undefined | number | string | readonly [string, string] | BytesArg;

/**
 * Receives each decoded opcode. Returns how many raw bytes follow the opcode and must be
 * skipped (joblib writes array data into the stream), or `HALT` to stop decoding.
 */
export type OpHandler = (code: number, arg: OpArg, offset: number) => Directive | undefined;

/**
 * Raw bytes that follow an opcode: a fixed count, or a little-endian count of `prefixBytes`
 * bytes that says how many `unit`s follow, plus `extra` bytes (joblib's alignment padding,
 * the storages and tensors records of PyTorch's legacy tar format).
 */
export type Directive = number | PrefixedSkip;

export interface PrefixedSkip {
  prefixBytes: 1 | 4 | 8;
  unit: number;
  extra: number;
}

export const HALT = -1;

export class PickleDecodeError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

export interface DecoderLimits {
  /** Longest text-line argument accepted (INT, STRING, GLOBAL...). */
  maxLineBytes: number;
  /** Length-prefixed arguments up to this size are handed over whole; longer ones only by length. */
  keepBytes: number;
}

const empty = new Uint8Array(0);
const newline = 0x0a;

interface Collecting {
  code: number;
  offset: number;
  length: number;
  remaining: number;
  parts: Uint8Array[] | null;
}

/**
 * A push decoder for pickle opcodes: feed it chunks of any size and it calls the handler
 * once per complete opcode. Memory stays bounded by the limits whatever the stream holds.
 */
export class PickleDecoder {
  /** Absolute offset of the next byte not yet consumed. */
  position = 0;
  halted = false;
  error: PickleDecodeError | undefined;
  private leftover: Uint8Array = empty;
  private collecting: Collecting | undefined;
  private skipping = 0;
  private prefixed: (PrefixedSkip & { read: number[] }) | undefined;

  constructor(
    private readonly handler: OpHandler,
    private readonly limits: DecoderLimits,
  ) {}

  get done(): boolean {
    return this.halted || this.error !== undefined;
  }

  /** True when the decoder sits between opcodes (no partial opcode buffered). */
  get atBoundary(): boolean {
    return (
      this.leftover.length === 0 &&
      this.collecting === undefined &&
      this.skipping === 0 &&
      this.prefixed === undefined
    );
  }

  feed(chunk: Uint8Array): void {
    if (this.done) return;
    const buf = this.leftover.length > 0 ? concatBytes([this.leftover, chunk]) : chunk;
    this.leftover = empty;
    try {
      const consumed = this.run(buf);
      if (!this.done && consumed < buf.length) this.leftover = buf.slice(consumed);
    } catch (error) {
      if (error instanceof PickleDecodeError) this.error = error;
      else throw error;
    }
  }

  /** The input ended: anything half-decoded is a truncation. */
  end(): void {
    if (this.done) return;
    if (this.skipping > 0 || this.prefixed !== undefined) {
      this.error = new PickleDecodeError('stream ends inside raw array data', this.position);
    } else if (this.collecting || this.leftover.length > 0) {
      const offset = this.collecting?.offset ?? this.position;
      this.error = new PickleDecodeError('stream ends in the middle of an opcode', offset);
    }
  }

  private run(buf: Uint8Array): number {
    let i = 0;
    while (i < buf.length && !this.done) {
      if (this.skipping > 0) {
        const n = Math.min(this.skipping, buf.length - i);
        this.skipping -= n;
        this.position += n;
        i += n;
        continue;
      }
      if (this.prefixed !== undefined) {
        const p = this.prefixed;
        p.read.push(buf[i]!);
        this.position += 1;
        i += 1;
        if (p.read.length === p.prefixBytes) {
          const count = p.read.reduceRight((value, byte) => value * 256 + byte, 0);
          const total = count * p.unit + p.extra;
          if (!Number.isSafeInteger(total))
            throw new PickleDecodeError('raw data length too large', this.position);
          this.skipping = total;
          this.prefixed = undefined;
        }
        continue;
      }
      if (this.collecting) {
        i = this.collect(buf, i);
        continue;
      }
      const code = buf[i]!;
      const info = opcodes[code];
      if (!info) throw new PickleDecodeError(`invalid opcode 0x${hex(code)}`, this.position);
      const next = this.decodeAt(buf, i, code, info.arg);
      if (next < 0) break;
      i = next;
    }
    return i;
  }

  /** Decodes the opcode at `i`; returns the index after it, or -1 when more bytes are needed. */
  private decodeAt(buf: Uint8Array, i: number, code: number, kind: ArgKind): number {
    const offset = this.position;
    const avail = buf.length - i;
    const view = () => new DataView(buf.buffer, buf.byteOffset + i + 1);
    const emit = (opcode: number, arg: OpArg, at: number, next: number): number => {
      this.position = at + (next - i);
      this.dispatch(opcode, arg, at);
      return next;
    };
    switch (kind) {
      case 'none':
        return emit(code, undefined, offset, i + 1);
      case 'u1':
        return avail < 2 ? -1 : emit(code, buf[i + 1], offset, i + 2);
      case 'u2':
        return avail < 3 ? -1 : emit(code, view().getUint16(0, true), offset, i + 3);
      case 'i4':
        return avail < 5 ? -1 : emit(code, view().getInt32(0, true), offset, i + 5);
      case 'u4':
        return avail < 5 ? -1 : emit(code, view().getUint32(0, true), offset, i + 5);
      case 'u8':
        return avail < 9 ? -1 : emit(code, readU64(view(), offset), offset, i + 9);
      case 'f8':
        return avail < 9 ? -1 : emit(code, undefined, offset, i + 9);
      case 'line': {
        const end = this.findLine(buf, i + 1, offset);
        return end < 0 ? -1 : emit(code, latin1(buf, i + 1, end), offset, end + 1);
      }
      case 'line2': {
        const first = this.findLine(buf, i + 1, offset);
        if (first < 0) return -1;
        const second = this.findLine(buf, first + 1, offset);
        if (second < 0) return -1;
        const pair = [utf8(buf, i + 1, first), utf8(buf, first + 1, second)] as const;
        return emit(code, pair, offset, second + 1);
      }
      case 'bytes1':
      case 'bytes4':
      case 'bytes8': {
        const width = kind === 'bytes1' ? 1 : kind === 'bytes4' ? 4 : 8;
        if (avail < 1 + width) return -1;
        const length =
          width === 1 ? buf[i + 1]! : width === 4 ? view().getUint32(0, true) : readU64(view(), offset);
        const start = i + 1 + width;
        if (buf.length - start >= length) {
          return emit(code, { data: buf.subarray(start, start + length), length }, offset, start + length);
        }
        const headerLength = 1 + width;
        this.position += headerLength;
        this.collecting = {
          code,
          offset,
          length,
          remaining: length,
          parts: length <= this.limits.keepBytes ? [] : null,
        };
        return start;
      }
    }
  }

  private collect(buf: Uint8Array, i: number): number {
    const c = this.collecting!;
    const n = Math.min(c.remaining, buf.length - i);
    if (c.parts) c.parts.push(buf.slice(i, i + n));
    c.remaining -= n;
    this.position += n;
    if (c.remaining === 0) {
      this.collecting = undefined;
      const data = c.parts ? concatBytes(c.parts) : null;
      this.dispatch(c.code, { data, length: c.length }, c.offset);
    }
    return i + n;
  }

  private dispatch(code: number, arg: OpArg, offset: number): void {
    const directive = this.handler(code, arg, offset);
    if (directive === HALT) this.halted = true;
    else if (typeof directive === 'number') this.skipping = Math.max(0, directive);
    else if (directive) this.prefixed = { ...directive, read: [] };
  }

  private findLine(buf: Uint8Array, from: number, offset: number): number {
    const end = buf.indexOf(newline, from);
    if (end >= 0) {
      if (end - from > this.limits.maxLineBytes)
        throw new PickleDecodeError('text argument too long', offset);
      return end;
    }
    if (buf.length - from > this.limits.maxLineBytes) {
      throw new PickleDecodeError('text argument too long', offset);
    }
    return -1;
  }
}

function readU64(view: DataView, offset: number): number {
  const value = view.getBigUint64(0, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new PickleDecodeError('length too large', offset);
  return Number(value);
}

const latin1Decoder = new TextDecoder('latin1');
const utf8Decoder = new TextDecoder('utf-8');

function latin1(buf: Uint8Array, start: number, end: number): string {
  // Line arguments end with '\n'; a trailing '\r' stays, as CPython keeps it too.
  return latin1Decoder.decode(buf.subarray(start, end));
}

function utf8(buf: Uint8Array, start: number, end: number): string {
  return utf8Decoder.decode(buf.subarray(start, end));
}

function hex(code: number): string {
  return code.toString(16).padStart(2, '0');
}
