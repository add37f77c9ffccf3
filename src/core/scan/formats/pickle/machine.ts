import type { GlobalClassification } from '../../policy/global-policy.js';
import { isIdentifierPath } from '../../policy/global-policy.js';
import type { PickleAnalysis } from './analysis.js';
import { type BytesArg, type Directive, type LineArg, type OpArg, PickleDecodeError } from './decoder.js';
import { HIGHEST_PROTOCOL, opcodes } from './opcodes.js';
import {
  decodeRawUnicodeEscape,
  decodeStringLiteral,
  type IntLiteral,
  parseIntLiteral,
  parseLongLiteral,
  parseMemoIndex,
} from './python-literals.js';
import {
  type CallValue,
  calleePath,
  depthOf,
  describe,
  keptItems,
  type Shape,
  scalar,
  sizeOf,
  tupleItems,
  type Value,
} from './values.js';

export interface MachineLimits {
  maxStack: number;
  /** Nesting of the values built; deeper structures switch to import-only analysis. */
  maxValueDepth: number;
  /** Containers and calls built in one stream; more switch to import-only analysis. */
  maxValues: number;
  /** Objects a value may expand to when traversed, as a multiple of the opcodes that built it. */
  expansionRatio: number;
  /** Bytes a single constructor call may allocate before it is a denial of service. */
  maxAllocation: number;
  maxMarks: number;
  maxMemo: number;
  /** Bytes arguments kept whole so nested pickles can be scanned; the rest keep their length only. */
  maxRetainedBytes: number;
  maxStringChars: number;
  /** Text kept per stream; past it, longer strings keep only their start. */
  maxKeptChars: number;
}

export interface StreamEnd {
  index: number;
  start: number;
  end: number;
  result: Value | undefined;
}

/** Decides after each STOP whether another stream is read (HALT stops) and what raw data precedes it. */
export type StreamEndHandler = (end: StreamEnd) => Directive | undefined;

const retainAlways = 1 << 20;
/** Past a limit, memoized strings up to this size are kept, this many at most, for STACK_GLOBAL. */
const flatNameBytes = 256;
const flatMemoEntries = 100_000;
const pickleMagic = 0x80;

interface Frame {
  stack: Value[];
  marks: number[];
  memo: Map<number, Value>;
}

/**
 * An abstract interpreter for the pickle virtual machine. It follows CPython's _pickle
 * semantics for the stack, marks and memo, but its values only describe objects, so nothing
 * is ever imported or called. Every import and call is reported to the analysis.
 */
export class PickleMachine {
  streamIndex = 0;
  streamStart = 0;
  /** Set once the current stream shows it is a pickle (a protocol header, an import, a STOP). */
  evidence: boolean;
  private stack: Value[] = [];
  private marks: number[] = [];
  private memo = new Map<number, Value>();
  private frames: Frame[] = [];
  /** Opcodes seen since the last STOP: non-zero at the end of input means a stream was cut short. */
  opsInStream = 0;
  private flat = false;
  private retained = 0;
  private valuesMade = 0;
  private keptChars = 0;
  private recentStrings: [string | undefined, string | undefined] = [undefined, undefined];
  private flatMemo = new Map<number, string>();
  private flatMemoNext = 0;
  private expansionReported = false;
  private pendingShape: Shape | undefined;

  constructor(
    private readonly analysis: PickleAnalysis,
    private readonly limits: MachineLimits,
    private readonly onStreamEnd: StreamEndHandler,
    firstStreamConfirmed = true,
  ) {
    this.evidence = firstStreamConfirmed;
  }

  /**
   * A second machine in the same state, for another way of reading the same bytes from here on.
   * Values are shared: they only describe objects, and both readings report to one analysis.
   */
  fork(onStreamEnd: StreamEndHandler): PickleMachine {
    const copy = new PickleMachine(this.analysis, this.limits, onStreamEnd, this.evidence);
    copy.streamIndex = this.streamIndex;
    copy.streamStart = this.streamStart;
    copy.opsInStream = this.opsInStream;
    copy.stack = [...this.stack];
    copy.marks = [...this.marks];
    copy.memo = new Map(this.memo);
    copy.frames = this.frames.map((f) => ({
      stack: [...f.stack],
      marks: [...f.marks],
      memo: new Map(f.memo),
    }));
    copy.flat = this.flat;
    copy.retained = this.retained;
    copy.valuesMade = this.valuesMade;
    copy.keptChars = this.keptChars;
    copy.recentStrings = [...this.recentStrings];
    copy.flatMemo = new Map(this.flatMemo);
    copy.flatMemoNext = this.flatMemoNext;
    copy.expansionReported = this.expansionReported;
    return copy;
  }

  readonly handle = (code: number, arg: OpArg, offset: number): Directive | undefined => {
    if (this.flat) {
      this.opsInStream += 1;
      return this.handleFlat(code, arg, offset);
    }
    const directive = this.execute(code, arg, offset);
    if (this.pendingShape || this.valuesMade > this.limits.maxValues) this.checkShape(offset);
    return directive;
  };

  private execute(code: number, arg: OpArg, offset: number): Directive | undefined {
    const first = this.opsInStream === 0;
    this.opsInStream += 1;
    switch (code) {
      case 0x28: // MARK
        if (this.marks.length >= this.limits.maxMarks) return this.goFlat('MARK nesting', offset);
        this.marks.push(this.stack.length);
        return;
      case 0x2e: // STOP
        return this.stop(offset);
      case 0x30: // POP
        if (this.stack.length > this.fence()) this.stack.pop();
        else if (this.marks.length > 0 && this.marks.at(-1) === this.stack.length) this.marks.pop();
        else throw new PickleDecodeError('unpickling stack underflow', offset);
        return;
      case 0x31: // POP_MARK
        this.popMark(offset);
        return;
      case 0x32: // DUP
        return this.push(this.peek(offset), offset);
      case 0x46: // FLOAT
      case 0x47: // BINFLOAT
      case 0x4e: // NONE
      case 0x88: // NEWTRUE
      case 0x89: // NEWFALSE
        return this.push(scalar, offset);
      case 0x49: // INT
        return this.push(this.intLine(arg as LineArg, offset, false), offset);
      case 0x4c: // LONG
        return this.push(this.intLine(arg as LineArg, offset, true), offset);
      case 0x4a: // BININT
      case 0x4b: // BININT1
      case 0x4d: // BININT2
        return this.push({ k: 'int', v: arg as number }, offset);
      case 0x8a: // LONG1
      case 0x8b: {
        // LONG4
        const data = (arg as BytesArg).data;
        return this.push({ k: 'long', raw: data && data.length <= 16 ? data.slice() : null }, offset);
      }
      case 0x50: {
        // PERSID
        const { text, whole } = arg as LineArg;
        return this.persistent(
          { ...(this.str(text) as { k: 'str'; v: string; whole: boolean }), whole },
          offset,
        );
      }
      case 0x51: // BINPERSID
        return this.persistent(this.pop(offset), offset);
      case 0x52: {
        // REDUCE
        const args = this.pop(offset);
        const fn = this.pop(offset);
        return this.push(this.call(fn, args, offset), offset);
      }
      case 0x53: {
        // STRING
        const line = arg as LineArg;
        if (!line.whole) return this.push(this.partialStr(line.text), offset);
        const text = decodeStringLiteral(line.text);
        if (text === undefined) throw new PickleDecodeError('STRING argument is not a quoted string', offset);
        return this.push(this.str(text), offset);
      }
      case 0x54: // BINSTRING
      case 0x55: // SHORT_BINSTRING
        return this.push(this.strFromBytes(arg as BytesArg, 'latin1'), offset);
      case 0x56: {
        // UNICODE
        const line = arg as LineArg;
        const text = decodeRawUnicodeEscape(line.text);
        return this.push(line.whole ? this.str(text) : this.partialStr(text), offset);
      }
      case 0x58: // BINUNICODE
      case 0x8c: // SHORT_BINUNICODE
      case 0x8d: // BINUNICODE8
        return this.push(this.strFromBytes(arg as BytesArg, 'utf-8'), offset);
      case 0x42: // BINBYTES
      case 0x43: // SHORT_BINBYTES
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        return this.push(this.bytes(arg as BytesArg, offset), offset);
      case 0x61: {
        // APPEND
        const item = this.pop(offset);
        this.addItems(this.peek(offset), [item]);
        return;
      }
      case 0x65: // APPENDS
      case 0x90: {
        // ADDITEMS
        const items = this.popMark(offset);
        this.addItems(this.peek(offset), items);
        return;
      }
      case 0x62: {
        // BUILD
        const state = this.pop(offset);
        return this.build(this.peek(offset), state, offset);
      }
      case 0x63: // GLOBAL
        return this.push(this.lineGlobal(arg as [LineArg, LineArg], offset), offset);
      case 0x69: {
        // INST: the pure-Python unpickler imports before it looks for the mark.
        const cls = this.lineGlobal(arg as [LineArg, LineArg], offset);
        const args = this.popMark(offset);
        return this.push(this.call(cls, this.seq('tuple', args), offset), offset);
      }
      case 0x6f: {
        // OBJ
        const items = this.popMark(offset);
        const cls = items.shift();
        if (!cls) throw new PickleDecodeError('OBJ without a class', offset);
        return this.push(this.call(cls, this.seq('tuple', items), offset), offset);
      }
      case 0x81: {
        // NEWOBJ
        const args = this.pop(offset);
        const cls = this.pop(offset);
        return this.push(this.call(cls, args, offset), offset);
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = this.pop(offset);
        const args = this.pop(offset);
        const cls = this.pop(offset);
        return this.push(this.call(cls, this.seq('tuple', [args, kwargs]), offset), offset);
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = this.pop(offset);
        const module = this.pop(offset);
        return this.push(this.stackGlobal(module, name, offset), offset);
      }
      case 0x64: // DICT
        return this.push(this.dict(this.popMark(offset)), offset);
      case 0x7d: // EMPTY_DICT
        return this.push(this.dict([]), offset);
      case 0x73: {
        // SETITEM
        const value = this.pop(offset);
        const key = this.pop(offset);
        this.addEntries(this.peek(offset), [key, value]);
        return;
      }
      case 0x75: {
        // SETITEMS: the mark comes off first, then the dict is the new top
        const flat = this.popMark(offset);
        this.addEntries(this.peek(offset), flat);
        return;
      }
      case 0x6c: // LIST
        return this.push(this.seq('list', this.popMark(offset)), offset);
      case 0x5d: // EMPTY_LIST
        return this.push(this.seq('list', []), offset);
      case 0x74: // TUPLE
        return this.push(this.seq('tuple', this.popMark(offset)), offset);
      case 0x29: // EMPTY_TUPLE
        return this.push(this.seq('tuple', []), offset);
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const n = code - 0x84;
        const items: Value[] = [];
        for (let i = 0; i < n; i++) items.unshift(this.pop(offset));
        return this.push(this.seq('tuple', items), offset);
      }
      case 0x8f: // EMPTY_SET
        return this.push(this.seq('set', []), offset);
      case 0x91: // FROZENSET
        return this.push(this.seq('frozenset', this.popMark(offset)), offset);
      case 0x67: // GET
        return this.push(this.memoGet(this.memoIndex(arg as LineArg, offset, 'GET'), offset), offset);
      case 0x68: // BINGET
      case 0x6a: // LONG_BINGET
        return this.push(this.memoGet(arg as number, offset), offset);
      case 0x70: // PUT
        return this.memoPut(this.memoIndex(arg as LineArg, offset, 'PUT'), offset);
      case 0x71: // BINPUT
      case 0x72: // LONG_BINPUT
        return this.memoPut(arg as number, offset);
      case 0x94: // MEMOIZE
        return this.memoPut(this.memo.size, offset);
      case 0x80: // PROTO
        if ((arg as number) > HIGHEST_PROTOCOL) {
          throw new PickleDecodeError(`unsupported pickle protocol ${arg as number}`, offset);
        }
        if (first) this.evidence = true;
        return;
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        return this.push(this.extension(arg as number, offset), offset);
      case 0x95: // FRAME
        return;
      case 0x97: // NEXT_BUFFER
        return this.push({ k: 'opaque', what: 'out-of-band buffer' }, offset);
      case 0x98: // READONLY_BUFFER
        this.peek(offset);
        return;
      default:
        throw new PickleDecodeError(`unhandled opcode ${opcodes[code]?.name ?? code}`, offset);
    }
  }

  /** The stream (or the limit) ended: reset for the next stream. */
  private resetStream(nextStart: number): void {
    this.stack = [];
    this.marks = [];
    this.memo = new Map();
    this.frames = [];
    this.opsInStream = 0;
    this.flat = false;
    this.retained = 0;
    this.valuesMade = 0;
    this.keptChars = 0;
    this.recentStrings = [undefined, undefined];
    this.flatMemo = new Map();
    this.flatMemoNext = 0;
    this.expansionReported = false;
    this.streamIndex += 1;
    this.streamStart = nextStart;
    this.evidence = false;
  }

  private stop(offset: number): Directive | undefined {
    const result = this.stack.length > this.fence() ? this.stack.pop() : undefined;
    if (result === undefined && !this.flat) throw new PickleDecodeError('STOP with an empty stack', offset);
    const frame = this.frames.pop();
    if (frame) {
      // An inline pickle (joblib object array) ends; the outer stream resumes.
      ({ stack: this.stack, marks: this.marks, memo: this.memo } = frame);
      return;
    }
    this.evidence = true;
    const end: StreamEnd = { index: this.streamIndex, start: this.streamStart, end: offset + 1, result };
    const directive = this.onStreamEnd(end);
    this.resetStream(offset + 1);
    return directive;
  }

  private handleFlat(code: number, arg: OpArg, offset: number): Directive | undefined {
    switch (code) {
      case 0x63:
      case 0x69:
        this.lineGlobal(arg as [LineArg, LineArg], offset);
        return;
      case 0x93: {
        this.evidence = true;
        const [module, name] = this.recentStrings;
        if (module !== undefined && name !== undefined) this.importGlobal(module, name, offset);
        else {
          this.analysis.report(
            'dynamicGlobal',
            'STACK_GLOBAL after an analysis limit: the imported name cannot be resolved',
            offset,
          );
        }
        this.recentStrings = [undefined, undefined];
        return;
      }
      case 0x82:
      case 0x83:
      case 0x84:
        this.extension(arg as number, offset);
        return;
      case 0x2e:
        return this.stop(offset);
      default:
        this.followStrings(code, arg);
        return;
    }
  }

  /**
   * Past a limit, only the strings that STACK_GLOBAL takes are followed: the two values pushed
   * last, when nothing took them off the stack since, and strings kept in the memo.
   */
  private followStrings(code: number, arg: OpArg): void {
    const shift = (text: string | undefined) => {
      this.recentStrings = [this.recentStrings[1], text];
    };
    switch (code) {
      case 0x58: // BINUNICODE
      case 0x8c: // SHORT_BINUNICODE
      case 0x8d: {
        // BINUNICODE8
        const { data } = arg as BytesArg;
        shift(data && data.length <= flatNameBytes ? new TextDecoder().decode(data) : undefined);
        return;
      }
      case 0x68: // BINGET
      case 0x6a: // LONG_BINGET
        shift(this.flatMemo.get(arg as number));
        return;
      case 0x67: {
        // GET
        const index = parseMemoIndex((arg as LineArg).text, (arg as LineArg).whole);
        shift(index === undefined ? undefined : this.flatMemo.get(Number(index)));
        return;
      }
      case 0x94: // MEMOIZE
        this.rememberString(this.flatMemoNext);
        return;
      case 0x71: // BINPUT
      case 0x72: // LONG_BINPUT
        this.rememberString(arg as number);
        return;
      case 0x70: {
        // PUT
        const index = parseMemoIndex((arg as LineArg).text, (arg as LineArg).whole);
        if (index !== undefined) this.rememberString(Number(index));
        return;
      }
      case 0x95: // FRAME
        return;
      default:
        this.recentStrings = [undefined, undefined];
    }
  }

  private rememberString(index: number): void {
    const text = this.recentStrings[1];
    if (text !== undefined && this.flatMemo.size < flatMemoEntries) this.flatMemo.set(index, text);
    else this.flatMemo.delete(index);
    this.flatMemoNext = Math.max(this.flatMemoNext, index + 1);
  }

  private goFlat(what: string, offset: number): undefined {
    this.analysis.report(
      'resourceLimit',
      `${what} exceeds the analysis limit; imports are still reported but calls are no longer resolved`,
      offset,
    );
    this.flat = true;
    // Names memoized so far stay known: protocol 4 fetches a module name again with BINGET.
    for (const [index, value] of this.memo) {
      if (this.flatMemo.size >= flatMemoEntries) break;
      if (value.k === 'str' && value.whole && value.v.length <= flatNameBytes)
        this.flatMemo.set(index, value.v);
    }
    this.flatMemoNext = this.memo.size;
    this.stack = [];
    this.marks = [];
    this.memo = new Map();
    return undefined;
  }

  private fence(): number {
    return this.marks.length > 0 ? this.marks[this.marks.length - 1]! : 0;
  }

  private push(value: Value, offset: number): undefined {
    if (this.stack.length >= this.limits.maxStack) return this.goFlat('stack depth', offset);
    this.stack.push(value);
    return undefined;
  }

  private pop(offset: number): Value {
    if (this.stack.length <= this.fence()) throw new PickleDecodeError('unpickling stack underflow', offset);
    return this.stack.pop()!;
  }

  private peek(offset: number): Value {
    if (this.stack.length <= this.fence()) throw new PickleDecodeError('unpickling stack underflow', offset);
    return this.stack[this.stack.length - 1]!;
  }

  private popMark(offset: number): Value[] {
    const mark = this.marks.pop();
    if (mark === undefined) throw new PickleDecodeError('could not find MARK', offset);
    return this.stack.splice(mark);
  }

  private memoIndex(line: LineArg, offset: number, op: 'GET' | 'PUT'): number {
    const index = parseMemoIndex(line.text, line.whole);
    if (index === undefined) throw new PickleDecodeError(`invalid ${op} index`, offset);
    // A negative GET finds nothing; a negative PUT is refused; both stop CPython.
    if (index < 0n || index > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new PickleDecodeError(`${op} index out of range`, offset);
    }
    return Number(index);
  }

  private memoGet(index: number, offset: number): Value {
    const value = this.memo.get(index);
    if (!value) throw new PickleDecodeError(`memo value not found at index ${index}`, offset);
    return value;
  }

  private memoPut(index: number, offset: number): undefined {
    const value = this.peek(offset);
    if (!this.memo.has(index) && this.memo.size >= this.limits.maxMemo)
      return this.goFlat('memo size', offset);
    this.memo.set(index, value);
    return undefined;
  }

  private intLine(line: LineArg, offset: number, long: boolean): Value {
    const parsed: IntLiteral | undefined = long
      ? parseLongLiteral(line.text, line.whole)
      : parseIntLiteral(line.text, line.whole);
    if (parsed === undefined) throw new PickleDecodeError(`invalid ${long ? 'LONG' : 'INT'} literal`, offset);
    if (parsed.bool || parsed.value === undefined) return scalar;
    const { value } = parsed;
    if (value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) {
      return { k: 'int', v: Number(value) };
    }
    return { k: 'long', raw: null, big: value };
  }

  /** GLOBAL and INST: a name too long to keep cannot be resolved, so it is judged like a computed one. */
  private lineGlobal([module, name]: readonly [LineArg, LineArg], offset: number): Value {
    if (module.whole && name.whole) return this.importGlobal(module.text, name.text, offset);
    this.evidence = true;
    this.analysis.report(
      'dynamicGlobal',
      `GLOBAL names a module or attribute too long to inspect (starting ${JSON.stringify(
        `${module.text.slice(0, 40)}.${name.text.slice(0, 40)}`,
      )})`,
      offset,
    );
    return { k: 'global', module: '?', name: '?', offset, dynamic: true };
  }

  private partialStr(text: string): Value {
    return { k: 'str', v: copyOf(text.slice(0, this.limits.maxStringChars)), whole: false };
  }

  /** Past a budget of kept text per stream, only names-sized strings are kept whole. */
  private keptStringChars(): number {
    return this.keptChars > this.limits.maxKeptChars ? 64 : this.limits.maxStringChars;
  }

  private str(text: string): Value {
    const max = this.keptStringChars();
    const value: Value =
      text.length > max
        ? { k: 'str', v: copyOf(text.slice(0, max)), whole: false }
        : { k: 'str', v: text, whole: true };
    this.keptChars += value.v.length;
    return value;
  }

  private strFromBytes(arg: BytesArg, encoding: 'utf-8' | 'latin1'): Value {
    if (!arg.data) return { k: 'str', v: '', whole: false };
    const max = this.keptStringChars() * 4;
    const slice = arg.data.length > max ? arg.data.subarray(0, max) : arg.data;
    const value = this.str(new TextDecoder(encoding).decode(slice));
    return slice === arg.data ? value : { k: 'str', v: (value as { v: string }).v, whole: false };
  }

  private bytes(arg: BytesArg, offset: number): Value {
    const { data, length } = arg;
    const keep =
      data !== null &&
      (length <= retainAlways || data[0] === pickleMagic || (data[0] === 0x50 && data[1] === 0x4b)) &&
      this.retained + length <= this.limits.maxRetainedBytes;
    if (keep) this.retained += length;
    // A copy: the decoder hands over a view of its input chunk, which must not stay alive.
    return { k: 'bytes', data: keep ? data.slice() : null, length, offset };
  }

  private seq(kind: 'tuple' | 'list' | 'set' | 'frozenset', items: Value[]): Value {
    const value: Value = {
      k: 'seq',
      kind,
      items: items.length > keptItems ? items.slice(0, keptItems) : items,
      count: items.length,
      ...this.shape(items),
    };
    return value;
  }

  private dict(flat: Value[]): Value {
    const value: Value = { k: 'dict', entries: [], count: 0, ...this.shape([]) };
    this.addEntries(value, flat);
    return value;
  }

  /** The shape of a new container or call over `parts`; counts it against the value bound. */
  private shape(parts: readonly Value[]): Shape {
    this.valuesMade += 1;
    const shape = { size: 1, depth: 1 };
    this.grow(shape, parts);
    return shape;
  }

  private grow(shape: Shape, parts: readonly Value[]): void {
    for (const part of parts) {
      shape.size = Math.min(Number.MAX_SAFE_INTEGER, shape.size + sizeOf(part));
      shape.depth = Math.max(shape.depth, depthOf(part) + 1);
    }
    this.pendingShape = shape;
  }

  /**
   * After each opcode: a value nested past the limit, or too many values, ends value tracking (as
   * the stack limits do); one that expands far beyond the opcodes that built it (memo and DUP
   * references nested in each other) is a denial of service on whatever traverses it.
   */
  private checkShape(offset: number): void {
    const shape = this.pendingShape;
    this.pendingShape = undefined;
    if (this.valuesMade > this.limits.maxValues) {
      this.goFlat('the number of objects built', offset);
      return;
    }
    if (!shape) return;
    if (shape.depth > this.limits.maxValueDepth) {
      this.goFlat('nesting of the objects built', offset);
      return;
    }
    const budget = Math.max(2 ** 24, this.limits.expansionRatio * this.opsInStream);
    if (shape.size > budget && !this.expansionReported) {
      this.expansionReported = true;
      this.analysis.report(
        'resourceExhaustion',
        `a structure of ${this.opsInStream} opcodes expands to more than ${budget} objects when traversed (shared references nested in each other)`,
        offset,
      );
    }
  }

  private addItems(target: Value, items: Value[]): void {
    if (target.k !== 'seq') return;
    target.count += items.length;
    for (const item of items) if (target.items.length < keptItems) target.items.push(item);
    this.grow(target, items);
  }

  private addEntries(target: Value, flat: Value[]): void {
    if (target.k !== 'dict') return;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      target.count += 1;
      if (target.entries.length < keptItems) target.entries.push([flat[i]!, flat[i + 1]!]);
    }
    this.grow(target, flat);
  }

  private importGlobal(module: string, name: string, offset: number): Value {
    if (isIdentifierPath(module)) this.evidence = true;
    this.analysis.importGlobal(module, name, offset);
    return { k: 'global', module, name, offset, dynamic: false };
  }

  private stackGlobal(module: Value, name: Value, offset: number): Value {
    this.evidence = true;
    if (module.k === 'str' && name.k === 'str' && module.whole && name.whole) {
      return this.importGlobal(module.v, name.v, offset);
    }
    const constant = (v: Value) => ['str', 'bytes', 'int', 'long', 'scalar', 'seq', 'dict'].includes(v.k);
    if (constant(module) && constant(name) && (module.k !== 'str' || name.k !== 'str')) {
      throw new PickleDecodeError('STACK_GLOBAL requires str operands', offset);
    }
    this.analysis.report(
      'dynamicGlobal',
      `STACK_GLOBAL imports a name computed at load time (module from ${describe(module)}, name from ${describe(name)})`,
      offset,
    );
    return { k: 'global', module: '?', name: '?', offset, dynamic: true };
  }

  private extension(code: number, offset: number): Value {
    this.evidence = true;
    if (code <= 0) throw new PickleDecodeError('EXT specifies code <= 0', offset);
    this.analysis.report(
      'extensionRegistry',
      `imports extension code ${code} from the copyreg registry`,
      offset,
    );
    return { k: 'ext', code, offset };
  }

  private persistent(pid: Value, offset: number): undefined {
    // PyTorch: ('storage', storage_type, key, location, numel[, view_metadata])
    const items = tupleItems(pid);
    const tag = items?.[0];
    const key = items?.[2];
    if (tag?.k === 'str' && tag.v === 'storage' && key?.k === 'str') this.analysis.addStorageKey(key.v);
    const resolves = persistentTarget(pid);
    return this.push(resolves ? { k: 'persid', offset, resolves } : { k: 'persid', offset }, offset);
  }

  private call(fn: Value, args: Value, offset: number): CallValue {
    // A loader hands back the callable inside the persistent id: the call is a call of that.
    if (fn.k === 'persid' && fn.resolves) return this.call(fn.resolves, args, offset);
    const result: CallValue = { k: 'call', fn, args, offset, ...this.shape([args]) };
    // A call CPython makes before any later error: the stream is a pickle, whatever follows.
    if (['global', 'call', 'persid', 'ext'].includes(fn.k)) this.evidence = true;
    if (fn.k === 'global') {
      if (fn.dynamic) return result;
      this.checkAllocation(fn, args, offset);
      const c = this.analysis.callGlobal(fn.module, fn.name, offset);
      this.inspectArguments(fn, c, args, offset);
    } else if (fn.k !== 'ext') {
      this.analysis.report('indirectCall', `calls ${describe(fn)}, not an imported global`, offset);
    }
    return result;
  }

  /** Plain data constructors are safe to call, but not with sizes that allocate gigabytes. */
  private checkAllocation(fn: Value & { k: 'global' }, args: Value, offset: number): void {
    const name = `${python2Builtins[fn.module] ?? fn.module}.${fn.name}`;
    const first = tupleItems(args)?.[0];
    if (!first || !allocators.has(name)) return;
    let bytes = intValue(first);
    const source = calleePath(first);
    if (first.k === 'call' && (source === 'builtins.range' || source === '__builtin__.xrange')) {
      // Materialising a range: one pointer per element, at least.
      const bounds = (tupleItems(first.args) ?? []).map(intValue);
      bytes = bounds.reduce((a, b) => (a > b ? a : b), 0n) * 8n;
    }
    if (bytes < BigInt(this.limits.maxAllocation)) return;
    this.analysis.report(
      'resourceExhaustion',
      `${name}(…) allocates about ${bytes} bytes when loaded`,
      offset,
      `${fn.module}.${fn.name}`,
    );
  }

  /** Nested pickles: bytes handed to a loader (or pickle-looking bytes handed to anything unsafe). */
  private inspectArguments(
    fn: Value & { k: 'global' },
    c: GlobalClassification,
    args: Value,
    offset: number,
  ): void {
    if (c.verdict === 'safe' && !c.nestedLoader) return;
    const payloads: Value[] = [];
    collectPayloads(args, payloads, 0);
    const path = `${fn.module}.${fn.name}`;
    if (c.nestedLoader) {
      let inspected = payloads.length > 0;
      for (const payload of payloads) {
        const data = payloadBytes(payload);
        if (!data || !this.analysis.queueNested(data, payloadOffset(payload, offset), path))
          inspected = false;
      }
      if (inspected) this.analysis.markNestedInspected(fn.module, fn.name);
      else {
        this.analysis.report(
          'nestedUnscanned',
          `${path} loads data that cannot be inspected (computed at load time or too large)`,
          offset,
          path,
        );
      }
      return;
    }
    for (const payload of payloads) {
      const data = payloadBytes(payload);
      if (data && data[0] === pickleMagic)
        this.analysis.queueNested(data, payloadOffset(payload, offset), path);
    }
  }

  private build(target: Value, state: Value, offset: number): Directive | undefined {
    if (target.k === 'global') {
      const path = target.dynamic ? 'a computed global' : `${target.module}.${target.name}`;
      this.analysis.report(
        'globalMutation',
        `BUILD sets attributes on ${path}`,
        offset,
        target.dynamic ? undefined : path,
      );
      return;
    }
    if (target.k === 'persid' && target.resolves) return this.build(target.resolves, state, offset);
    if (target.k === 'persid' || target.k === 'ext') {
      this.evidence = true;
      this.analysis.report('indirectCall', `BUILD calls __setstate__ of ${describe(target)}`, offset);
      return;
    }
    if (target.k !== 'call') return;
    if (target.setstate) {
      this.call(target.setstate, this.seq('tuple', [state]), offset);
      return;
    }
    for (const dict of stateDicts(state)) {
      for (const [key, value] of dict.entries) {
        if (key.k !== 'str' || !/^__.*__$/.test(key.v)) continue;
        this.analysis.report('setstateInjection', `BUILD sets ${key.v} on ${describe(target)}`, offset);
        if (key.v === '__setstate__') target.setstate = value;
      }
    }
    target.state = state;
    this.grow(target, [state]);
    return this.afterBuild(target, offset);
  }

  /** joblib writes raw array bytes (or a whole inline pickle) right after a NumpyArrayWrapper's BUILD. */
  private afterBuild(target: CallValue, offset: number): Directive | undefined {
    if (calleePath(target) !== 'joblib.numpy_pickle.NumpyArrayWrapper') return;
    const layout = joblibArrayLayout(target.state);
    if (layout === 'object') {
      this.frames.push({ stack: this.stack, marks: this.marks, memo: this.memo });
      this.stack = [];
      this.marks = [];
      this.memo = new Map();
      return;
    }
    if (!layout) {
      throw new PickleDecodeError(
        'joblib array of unknown size: the data after it cannot be located',
        offset,
      );
    }
    // One byte of padding length, that many padding bytes, then the array.
    return layout.padded ? { prefixBytes: 1, unit: 1, extra: layout.bytes } : layout.bytes;
  }
}

/** V8 keeps a slice's parent string alive; a kept prefix of a long string must be a copy. */
function copyOf(text: string): string {
  return Buffer.from(text, 'utf16le').toString('utf16le');
}

const python2Builtins: Record<string, string> = { __builtin__: 'builtins' };
const allocators = new Set([
  'builtins.bytearray',
  'builtins.bytes',
  'builtins.list',
  'builtins.tuple',
  'builtins.set',
  'builtins.frozenset',
]);

function intValue(value: Value): bigint {
  if (value.k === 'int') return BigInt(value.v);
  if (value.k === 'long') {
    if (value.big !== undefined) return value.big;
    if (value.raw && value.raw.length > 0) {
      // LONG1/LONG4: little-endian two's complement.
      let n = 0n;
      for (let i = value.raw.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(value.raw[i]!);
      if (value.raw[value.raw.length - 1]! & 0x80) n -= 1n << BigInt(8 * value.raw.length);
      return n;
    }
  }
  return 0n;
}

/**
 * What the loaders that define `persistent_load` return for a persistent id, when that is part
 * of the id itself and may be callable (a global, or a value computed at load time):
 * - legacy `torch.load` (magic-number format): `('module', cls, source_file, source)` returns
 *   `cls`, the class of a whole-model checkpoint (the tuple check is an `assert`, gone under
 *   `python -O`, so a list does the same);
 * - legacy tar `torch.load`: any tuple returns its first item.
 * The zip `torch.load` only resolves `('storage', ...)` ids, to storages; joblib and plain
 * `pickle.load` define no `persistent_load` and fail. Storages, tensors and strings are not
 * callable, so calling them is left to the indirect-call rule.
 */
function persistentTarget(pid: Value): Value | undefined {
  if (pid.k !== 'seq' || (pid.kind !== 'tuple' && pid.kind !== 'list')) return undefined;
  const [tag, second] = pid.items;
  let target: Value | undefined;
  if (tag && isText(tag, 'module')) target = second;
  else if (pid.kind === 'tuple') target = tag;
  return target && maybeCallable(target) ? target : undefined;
}

function isText(value: Value, text: string): boolean {
  if (value.k === 'str') return value.whole && value.v === text;
  if (value.k !== 'bytes' || !value.data || value.data.length !== text.length) return false;
  return value.data.every((byte, i) => byte === text.charCodeAt(i));
}

function maybeCallable(value: Value): boolean {
  return value.k === 'global' || value.k === 'call' || value.k === 'persid' || value.k === 'ext';
}

function stateDicts(state: Value): (Value & { k: 'dict' })[] {
  if (state.k === 'dict') return [state];
  const items = tupleItems(state);
  if (items?.length === 2) return items.filter((v): v is Value & { k: 'dict' } => v.k === 'dict');
  return [];
}

function collectPayloads(value: Value, out: Value[], depth: number): void {
  if (depth > 4 || out.length > 16) return;
  if (value.k === 'bytes') out.push(value);
  else if (value.k === 'seq') for (const item of value.items) collectPayloads(item, out, depth + 1);
  else if (value.k === 'dict') for (const [, v] of value.entries) collectPayloads(v, out, depth + 1);
  else if (value.k === 'call') {
    const path = calleePath(value);
    // _codecs.encode(str, 'latin1') is how protocol 2 spells bytes.
    if (path === '_codecs.encode' || path === 'codecs.encode') {
      const text = tupleItems(value.args)?.[0];
      if (text?.k === 'str') {
        out.push(text);
        return;
      }
    }
    collectPayloads(value.args, out, depth + 1);
  } else if (value.k === 'str') out.push(value);
}

function payloadBytes(value: Value): Uint8Array | null {
  if (value.k === 'bytes') return value.data;
  if (value.k === 'str' && value.whole) {
    const out = new Uint8Array(value.v.length);
    for (let i = 0; i < value.v.length; i++) {
      const code = value.v.charCodeAt(i);
      if (code > 0xff) return null;
      out[i] = code;
    }
    return out;
  }
  return null;
}

function payloadOffset(value: Value, fallback: number): number {
  return value.k === 'bytes' ? value.offset : fallback;
}

interface ArrayLayout {
  bytes: number;
  padded: boolean;
}

/** How many raw bytes joblib wrote for a NumpyArrayWrapper, from its pickled state. */
export function joblibArrayLayout(state: Value | undefined): ArrayLayout | 'object' | undefined {
  if (state?.k !== 'dict') return undefined;
  const field = (name: string) => state.entries.find(([k]) => k.k === 'str' && k.v === name)?.[1];
  const shape = field('shape');
  const dtype = field('dtype');
  if (!shape || dtype?.k !== 'call') return undefined;
  const itemSize = dtypeItemSize(dtype);
  if (itemSize === 'object') return 'object';
  if (itemSize === undefined) return undefined;
  let count = 1;
  const dims = tupleItems(shape);
  if (!dims || dims.length !== (shape.k === 'seq' ? shape.count : -1)) return undefined;
  for (const dim of dims) {
    if (dim.k !== 'int' || dim.v < 0) return undefined;
    count *= dim.v;
  }
  const bytes = count * itemSize;
  if (!Number.isSafeInteger(bytes)) return undefined;
  return { bytes, padded: field('numpy_array_alignment_bytes') !== undefined };
}

/** numpy.dtype('f8', False, True) plus BUILD state (3, '<', None, None, None, elsize, align, flags). */
function dtypeItemSize(dtype: CallValue): number | 'object' | undefined {
  const spec = tupleItems(dtype.args)?.[0];
  if (spec?.k !== 'str') return undefined;
  const match = /^[<>|=]?([a-zA-Z?])(\d*)$/.exec(spec.v);
  if (!match) return undefined;
  const [, kind, digits] = match;
  if (kind === 'O') return 'object';
  const elsize = tupleItems(dtype.state ?? scalar)?.[5];
  if (elsize?.k === 'int' && elsize.v > 0) return elsize.v;
  if (kind === '?' || (kind === 'b' && digits === '')) return 1;
  if (!digits) return undefined;
  const size = Number(digits);
  return kind === 'U' ? size * 4 : size;
}
