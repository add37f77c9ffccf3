import { concatBytes } from '../../../source.js';
import { type ArgKind, opcodes } from './opcodes.js';

/** A length-prefixed argument. `data` is null when it was longer than the decoder keeps. */
export interface BytesArg {
  data: Uint8Array | null;
  length: number;
}

/** A text-line argument without its newline. `whole` is false when only its start was kept. */
export interface LineArg {
  text: string;
  whole: boolean;
}

export type OpArg = undefined | number | LineArg | readonly [LineArg, LineArg] | BytesArg;

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
  /** Text-line arguments keep this many bytes; the rest is read and counted, not kept. */
  maxLineBytes: number;
  /** Length-prefixed arguments up to this size are handed over whole; longer ones only by length. */
  keepBytes: number;
}

/**
 * How the reader buffers what it reads, which decides what FRAME means (Modules/_pickle.c):
 * `memory` is `pickle.loads`, and a file with `peek()` (what `open()` returns), which read on
 * contiguously whatever the frames say; `file` is a file without `peek()` (`io.BytesIO`, as
 * torch's zip reader and joblib hand it over): a FRAME is read ahead into a buffer, and a read
 * that runs past the buffer's end drops what is left in it and reads on from the file, as does
 * the next pickle after STOP. Readers of the length-prefixed bytes opcodes (`readinto`) never drop.
 */
export type FramingMode = 'memory' | 'file';

/** Where the `file` reading parts from the `memory` one: the bytes from `offset` on, read again. */
export interface Divergence {
  offset: number;
  filePos: number;
  /** The bytes from `offset` that were at hand; undefined when they were streamed past already. */
  pending: Uint8Array | undefined;
  reason: string;
}

export interface DecoderOptions {
  mode?: FramingMode;
  /** For a reading forked at a divergence: where it starts and how far the file was read. */
  start?: { position: number; filePos: number };
  onDiverge?: (divergence: Divergence) => void;
}

const empty = new Uint8Array(0);
const newline = 0x0a;
const frameOpcode = 0x95;
const stopOpcode = 0x2e;
/** INT, LONG, GET, PUT, FLOAT: CPython's number parsers skip white space around the digits. */
const numericLines = new Set([0x49, 0x4c, 0x67, 0x70, 0x46]);
/** BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8 read their data with readinto(), which never drops. */
const readIntoOpcodes = new Set([0x42, 0x43, 0x8e, 0x96]);

interface Collecting {
  code: number;
  offset: number;
  length: number;
  remaining: number;
  parts: Uint8Array[] | null;
}

/** A text line too long to wait for whole: kept up to the limit, counted after. */
interface CollectingLine {
  code: number;
  offset: number;
  /** Lines still to read after the current one (GLOBAL and INST have two). */
  linesLeft: number;
  done: LineArg[];
  parts: number[][];
  kept: number;
  /** Past the kept bytes, only white space was seen so far (numeric lines may end in it). */
  overflow: boolean;
  /** Still inside the leading white space of a numeric line. */
  leading: boolean;
  /** Absolute offset where this line started, for the frame model. */
  lineStart: number;
  /** Where the frame buffer ended when the line started inside it; the line crosses it there. */
  bufferEnd: number | undefined;
}

const whitespace = new Set([0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]);

/**
 * A push decoder for pickle opcodes: feed it chunks of any size and it calls the handler
 * once per complete opcode. Memory stays bounded by the limits whatever the stream holds.
 */
export class PickleDecoder {
  /** Absolute offset of the next byte not yet consumed. */
  position = 0;
  halted = false;
  error: PickleDecodeError | undefined;
  readonly mode: FramingMode;
  /**
   * How far a `file` reader would have read from the file: bytes between `position` and here sit
   * in its frame buffer. The `memory` reading tracks it until the readings part.
   */
  private filePos = 0;
  private tracking = true;
  private leftover: Uint8Array = empty;
  private collecting: Collecting | undefined;
  private line: CollectingLine | undefined;
  private skipping = 0;
  private prefixed: (PrefixedSkip & { read: number[] }) | undefined;
  private readonly onDiverge: ((divergence: Divergence) => void) | undefined;

  constructor(
    private readonly handler: OpHandler,
    private readonly limits: DecoderLimits,
    options: DecoderOptions = {},
  ) {
    this.mode = options.mode ?? 'memory';
    this.onDiverge = options.onDiverge;
    if (options.start) {
      this.position = options.start.position;
      this.filePos = options.start.filePos;
    }
  }

  get done(): boolean {
    return this.halted || this.error !== undefined;
  }

  /** True when the decoder sits between opcodes (no partial opcode buffered). */
  get atBoundary(): boolean {
    return (
      this.leftover.length === 0 &&
      this.collecting === undefined &&
      this.line === undefined &&
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
      return;
    }
    if (this.collecting || this.line || this.leftover.length > 0) {
      const offset = this.collecting?.offset ?? this.line?.offset ?? this.position;
      this.error = new PickleDecodeError('stream ends in the middle of an opcode', offset);
      try {
        this.truncatedGlobal();
      } catch (error) {
        if (!(error instanceof PickleDecodeError)) throw error;
      }
    }
  }

  /**
   * The pure-Python unpickler (joblib's) reads a last line without its newline and drops its
   * last character, so `GLOBAL os\nsystemX` at the very end still imports os.system.
   */
  private truncatedGlobal(): void {
    const buf = this.leftover;
    const code = buf[0];
    if (this.line || (code !== 0x63 && code !== 0x69)) return;
    const first = buf.indexOf(newline, 1);
    if (first < 0 || buf.length - first - 1 < 2) return;
    const module = utf8(buf, 1, first);
    const name = utf8(buf, first + 1, buf.length - 1);
    this.dispatch(
      code,
      [
        { text: module, whole: true },
        { text: name, whole: true },
      ],
      this.position,
    );
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
          this.prefixed = undefined;
          this.startSkip(total);
        }
        continue;
      }
      if (this.collecting) {
        i = this.collect(buf, i);
        continue;
      }
      if (this.line) {
        i = this.collectLine(buf, i);
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

  /**
   * Where a read of `n` bytes at absolute offset `at` takes its data from. A `file` reader with
   * bytes left in its frame buffer, too few for the read, drops them and reads from the file.
   */
  private place(at: number, n: number, into: boolean, filePos: number): { start: number; dropped: boolean } {
    const buffered = filePos - at;
    const drops = this.tracking && !into && buffered > 0 && buffered < n;
    return { start: drops && this.mode === 'file' ? filePos : at, dropped: drops };
  }

  /** Raw data after an opcode (joblib arrays): the loader reads it from the file, past any frame buffer. */
  private startSkip(total: number): void {
    const buffered = this.filePos - this.position;
    if (this.tracking && buffered > 0 && total > 0) {
      if (this.mode === 'file') {
        this.skipping = buffered + total;
        this.filePos += total;
        return;
      }
      this.diverge(this.position, undefined, 'raw data starts inside a frame');
    }
    this.skipping = total;
    this.filePos = Math.max(this.filePos, this.position + total);
  }

  private diverge(offset: number, pending: Uint8Array | undefined, reason: string): void {
    if (this.mode !== 'memory' || !this.tracking) return;
    this.tracking = false;
    this.onDiverge?.({ offset, filePos: this.filePos, pending, reason });
  }

  /** Decodes the opcode at `i`; returns the index after it, or -1 when more bytes are needed. */
  private decodeAt(buf: Uint8Array, i: number, code: number, kind: ArgKind): number {
    const offset = this.position;
    const base = offset - i;
    let filePos = Math.max(this.filePos, offset + 1);
    let dropped = false;
    let j = i + 1;
    const readFixed = (n: number): number => {
      const at = this.place(base + j, n, false, filePos);
      dropped ||= at.dropped;
      // Part now, before the value is judged: what memory reads here may be refused (a length
      // past any file) where the file reading goes on.
      if (at.dropped && this.mode === 'memory') {
        this.diverge(offset, buf.slice(i), 'an argument runs past the end of its frame');
      }
      const start = at.start - base;
      if (buf.length < start + n) return -1;
      j = start + n;
      filePos = Math.max(filePos, base + j);
      return start;
    };
    const commit = (next: number): void => {
      if (dropped && this.mode === 'memory') {
        this.diverge(offset, buf.slice(i), 'an argument runs past the end of its frame');
        filePos = base + next;
      }
      if (this.tracking || this.mode === 'file') this.filePos = filePos;
      this.position = base + next;
    };
    const emit = (arg: OpArg, next: number): number => {
      commit(next);
      this.dispatch(code, arg, offset);
      if (code === stopOpcode) this.afterStop();
      return next;
    };
    const view = (start: number) => new DataView(buf.buffer, buf.byteOffset + start);
    switch (kind) {
      case 'none':
        if (code === stopOpcode && this.mode === 'memory' && this.tracking && this.filePos > offset + 1) {
          this.diverge(offset, buf.slice(i), 'a pickle ends before its frame does');
        }
        return emit(undefined, i + 1);
      case 'u1': {
        const s = readFixed(1);
        return s < 0 ? -1 : emit(buf[s], j);
      }
      case 'u2': {
        const s = readFixed(2);
        return s < 0 ? -1 : emit(view(s).getUint16(0, true), j);
      }
      case 'i4': {
        const s = readFixed(4);
        return s < 0 ? -1 : emit(view(s).getInt32(0, true), j);
      }
      case 'u4': {
        const s = readFixed(4);
        return s < 0 ? -1 : emit(view(s).getUint32(0, true), j);
      }
      case 'f8':
        return readFixed(8) < 0 ? -1 : emit(undefined, j);
      case 'u8': {
        const s = readFixed(8);
        if (s < 0) return -1;
        // A FRAME may claim up to sys.maxsize: the pure-Python reader then reads to the end.
        const value = code === frameOpcode ? Number(view(s).getBigUint64(0, true)) : readU64(view(s), offset);
        if (code === frameOpcode) return this.frame(buf, i, value, j, filePos, emit);
        return emit(value, j);
      }
      case 'line':
      case 'line2': {
        const lines: LineArg[] = [];
        const wanted = kind === 'line' ? 1 : 2;
        while (lines.length < wanted) {
          const found = this.findLine(buf, j, base, filePos);
          if (found === 'wait') return -1;
          dropped ||= found.dropped;
          if (found.kind === 'stream') {
            // Too long to wait for: read it as it comes, keeping the start.
            commit(found.start);
            this.line = {
              code,
              offset,
              linesLeft: wanted - lines.length - 1,
              done: lines,
              parts: [],
              kept: 0,
              overflow: false,
              leading: numericLines.has(code),
              lineStart: base + found.start,
              bufferEnd: this.tracking && this.filePos > base + found.start ? this.filePos : undefined,
            };
            return this.collectLine(buf, found.start);
          }
          lines.push(lineArg(buf, found.start, found.end, wanted === 2));
          j = found.end + 1;
          filePos = Math.max(filePos, base + j);
        }
        return emit(wanted === 1 ? lines[0] : ([lines[0]!, lines[1]!] as const), j);
      }
      case 'bytes1':
      case 'bytes4':
      case 'bytes8': {
        const width = kind === 'bytes1' ? 1 : kind === 'bytes4' ? 4 : 8;
        const s = readFixed(width);
        if (s < 0) return -1;
        const length =
          width === 1 ? buf[s]! : width === 4 ? view(s).getUint32(0, true) : readU64(view(s), offset);
        const at = this.place(base + j, length, readIntoOpcodes.has(code), filePos);
        dropped ||= at.dropped;
        const start = at.start - base;
        if (buf.length >= start + length) {
          filePos = Math.max(filePos, base + start + length);
          return emit({ data: buf.subarray(start, start + length), length }, start + length);
        }
        if (buf.length < start) return -1;
        commit(start);
        this.filePos = Math.max(this.filePos, base + start + length);
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

  /** FRAME: the reader reads `length` bytes ahead into its buffer, then reads opcodes from it. */
  private frame(
    buf: Uint8Array,
    i: number,
    length: number,
    j: number,
    filePos: number,
    emit: (arg: OpArg, next: number) => number,
  ): number {
    const at = this.position - i + j;
    const buffered = filePos - at;
    if (!this.tracking || buffered >= length) return emit(length, j);
    if (buffered > 0) {
      // A FRAME inside a frame, longer than what is left of it.
      if (this.mode === 'memory') {
        this.diverge(this.position, buf.slice(i), 'a frame starts before the previous one ends');
        return emit(length, j);
      }
      const next = j + buffered;
      if (buf.length < next) return -1;
      const result = emit(length, next);
      this.filePos = at + buffered + length;
      return result;
    }
    const result = emit(length, j);
    if (this.tracking) this.filePos = at + length;
    return result;
  }

  /** After STOP, a `file` reader's next pickle starts where the file was read to, past its frame buffer. */
  private afterStop(): void {
    if (this.mode === 'file' && !this.halted && this.filePos > this.position) {
      this.skipping = this.filePos - this.position;
    }
  }

  /** Finds the newline ending a line at `from`, placed as the reader places it. */
  private findLine(
    buf: Uint8Array,
    from: number,
    base: number,
    filePos: number,
  ): 'wait' | { kind: 'line' | 'stream'; start: number; end: number; dropped: boolean } {
    const buffered = filePos - (base + from);
    let start = from;
    let dropped = false;
    if (this.tracking && buffered > 0) {
      const endOfBuffer = from + buffered;
      const first = buf.indexOf(newline, from);
      if (first < 0 && buf.length < endOfBuffer) {
        // Whether the line ends inside the frame buffer is not known yet.
        const long = buf.length - from > this.limits.maxLineBytes;
        return long ? { kind: 'stream', start: from, end: -1, dropped: false } : 'wait';
      }
      if (first < 0 || first >= endOfBuffer) {
        dropped = true;
        if (this.mode === 'file') start = endOfBuffer;
      }
    }
    const end = buf.indexOf(newline, start);
    if (end >= 0 && end - start <= this.limits.maxLineBytes) return { kind: 'line', start, end, dropped };
    if (end < 0 && buf.length - start <= this.limits.maxLineBytes) return 'wait';
    return { kind: 'stream', start, end: -1, dropped };
  }

  /** Reads a long line as it comes: keeps its first bytes (after leading blanks, for numbers). */
  private collectLine(buf: Uint8Array, i: number): number {
    const line = this.line!;
    const base = this.position - i;
    const numeric = numericLines.has(line.code);
    let k = i;
    while (k < buf.length) {
      const abs = base + k;
      if (abs === line.bufferEnd && this.tracking) {
        // The line runs past the frame buffer: a file reader starts it again here.
        line.bufferEnd = undefined;
        if (this.mode === 'file') {
          Object.assign(line, { parts: [], kept: 0, overflow: false, leading: numeric, lineStart: abs });
        } else this.diverge(line.offset, undefined, 'a text argument runs past the end of its frame');
      }
      const byte = buf[k]!;
      k += 1;
      if (byte === newline) {
        line.done.push(finishLine(line));
        if (line.linesLeft === 0) {
          this.line = undefined;
          this.position = base + k;
          this.filePos = Math.max(this.filePos, this.position);
          const arg = line.done.length === 1 ? line.done[0] : ([line.done[0]!, line.done[1]!] as const);
          this.dispatch(line.code, arg, line.offset);
          return k;
        }
        line.linesLeft -= 1;
        Object.assign(line, { parts: [], kept: 0, overflow: false, leading: numeric, lineStart: base + k });
        if (line.bufferEnd !== undefined && line.bufferEnd <= base + k) line.bufferEnd = undefined;
        continue;
      }
      if (line.leading && whitespace.has(byte)) continue;
      line.leading = false;
      if (line.kept < this.limits.maxLineBytes) {
        if (line.parts.length === 0 || line.parts.at(-1)!.length >= 4096) line.parts.push([]);
        line.parts.at(-1)!.push(byte);
        line.kept += 1;
      } else if (!(numeric && whitespace.has(byte))) line.overflow = true;
    }
    this.position = base + k;
    this.filePos = Math.max(this.filePos, this.position);
    return k;
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
    else if (typeof directive === 'number') this.startSkip(Math.max(0, directive));
    else if (directive) this.prefixed = { ...directive, read: [] };
  }
}

function lineArg(buf: Uint8Array, start: number, end: number, asUtf8: boolean): LineArg {
  return { text: asUtf8 ? utf8(buf, start, end) : latin1(buf, start, end), whole: true };
}

function finishLine(line: CollectingLine): LineArg {
  const bytes = Uint8Array.from(line.parts.flat());
  const text =
    line.code === 0x63 || line.code === 0x69 ? utf8Decoder.decode(bytes) : latin1Decoder.decode(bytes);
  return { text, whole: !line.overflow };
}

function readU64(view: DataView, offset: number): number {
  const value = view.getBigUint64(0, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new PickleDecodeError('length too large', offset);
  return Number(value);
}

const latin1Decoder = new TextDecoder('latin1');
const utf8Decoder = new TextDecoder('utf-8');

function latin1(buf: Uint8Array, start: number, end: number): string {
  // Line arguments end with '\n'; a '\r' before it stays, as CPython keeps it too.
  return latin1Decoder.decode(buf.subarray(start, end));
}

function utf8(buf: Uint8Array, start: number, end: number): string {
  return utf8Decoder.decode(buf.subarray(start, end));
}

function hex(code: number): string {
  return code.toString(16).padStart(2, '0');
}
