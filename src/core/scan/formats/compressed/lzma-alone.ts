/**
 * Decoder for the legacy LZMA "alone" container (`.lzma`, what joblib writes for `compress='lzma'`),
 * written from the LZMA specification in the LZMA SDK.
 *
 * Layout: a 13-byte header (one properties byte `(pb * 5 + lp) * 9 + lc`, the dictionary size as a
 * 32-bit little-endian number, the uncompressed size as a 64-bit little-endian number or all 0xff
 * when unknown), then one range-coded LZMA stream, which ends at the declared size or, when the
 * size is unknown, at an end marker.
 *
 * The decoder proper is synchronous.  It decodes one symbol (a literal or a match) at a time and
 * only while at least {@link MAX_SYMBOL_INPUT} input bytes are buffered (or the input has ended), so
 * it can stop between any two symbols to wait for the next input chunk; a symbol never reads more.
 * Output goes to a circular dictionary of at most the declared dictionary size, and from there to
 * one output chunk that is handed on when it is (nearly) full.
 */

import { DataError } from '../../data-error.js';

export class LzmaError extends DataError {
  override name = 'LzmaError';
}

const HEADER_SIZE = 13;
const RANGE_INIT_SIZE = 5;
const MIN_DICTIONARY = 1 << 12;
const DEFAULT_MAX_DICTIONARY = 64 << 20;
/** The dictionary starts this small and doubles as output grows, up to the declared size. */
const INITIAL_WINDOW = 1 << 16;
const OUTPUT_CHUNK = 1 << 20;
const MAX_MATCH_LEN = 273;
/**
 * Upper bound on the input bytes one symbol can take: the range decoder reads at most one byte per
 * decoded bit, and the longest symbol, a match with the farthest distance, decodes 48 bits
 * (isMatch, isRep, 10 length bits, 6 slot bits, 26 direct bits, 4 align bits).
 */
const MAX_SYMBOL_INPUT = 64;

/** The range is renormalised when it falls below 2**24, that is when these bits are all zero. */
const TOP_MASK = 0xff00_0000 | 0;
const PROB_BITS = 11;
const PROB_ONE = 1 << PROB_BITS;
const PROB_INIT = PROB_ONE >>> 1;
const MOVE_BITS = 5;

const STATES = 12;
/** States below this one follow a literal; from it on they follow a match or a rep. */
const LITERAL_STATES = 7;
const POS_STATES_MAX = 1 << 4;
const MATCH_MIN_LEN = 2;
const LEN_TO_POS_STATES = 4;
const POS_SLOT_BITS = 6;
const END_POS_MODEL_INDEX = 14;
const FULL_DISTANCES = 1 << (END_POS_MODEL_INDEX >>> 1);
const ALIGN_BITS = 4;
const END_MARKER_DISTANCE = 0xffff_ffff;

// Length coder: choice, choice2, then per posState 8 low and 8 mid probabilities, then 256 high.
const LEN_CHOICE = 0;
const LEN_CHOICE2 = 1;
const LEN_LOW = 2;
const LEN_MID = LEN_LOW + POS_STATES_MAX * 8;
const LEN_HIGH = LEN_MID + POS_STATES_MAX * 8;
const LEN_CODER_SIZE = LEN_HIGH + 256;

// Offsets into the one probability array.
const IS_MATCH = 0;
const IS_REP = IS_MATCH + STATES * POS_STATES_MAX;
const IS_REP_G0 = IS_REP + STATES;
const IS_REP_G1 = IS_REP_G0 + STATES;
const IS_REP_G2 = IS_REP_G1 + STATES;
const IS_REP0_LONG = IS_REP_G2 + STATES;
const POS_SLOT = IS_REP0_LONG + STATES * POS_STATES_MAX;
/** Reverse bit trees of the distances with slots 4..13; index 0 is unused (trees count from 1). */
const SPEC_POS = POS_SLOT + LEN_TO_POS_STATES * (1 << POS_SLOT_BITS);
const ALIGN = SPEC_POS + 1 + FULL_DISTANCES - END_POS_MODEL_INDEX;
const LEN_CODER = ALIGN + (1 << ALIGN_BITS);
const REP_LEN_CODER = LEN_CODER + LEN_CODER_SIZE;
const LITERAL = REP_LEN_CODER + LEN_CODER_SIZE;
const LITERAL_CODER_SIZE = 0x300;

type Step = 'need-input' | 'output' | 'done';

/** `a < b` for two int32 values read as unsigned 32-bit numbers. */
const lessUnsigned = (a: number, b: number): boolean => (a ^ 0x8000_0000) < (b ^ 0x8000_0000);

class LzmaAloneDecoder {
  // Input: the unread bytes are inBuf[inPos, inEnd).
  private inBuf: Uint8Array = new Uint8Array(0);
  private inPos = 0;
  private inEnd = 0;
  private inputEnded = false;
  /** Set when the range decoder wanted a byte after the input ended. */
  private overrun = false;

  private phase: 'header' | 'init' | 'body' | 'done' = 'header';
  private lc = 0;
  private lpMask = 0;
  private pbMask = 0;
  private dictSize = 0;
  /** The declared uncompressed size, or -1 when the stream ends with an end marker. */
  private knownSize = -1;

  // The range coder's two 32-bit registers, kept as int32 bit patterns (`| 0`) so that V8 stores
  // them as small integers; compare them with `lessUnsigned`.
  private range = -1;
  private code = 0;
  private probs = new Uint16Array(0);
  private state = 0;
  private rep0 = 0;
  private rep1 = 0;
  private rep2 = 0;
  private rep3 = 0;

  // Window: grows up to dictSize, then wraps; dict[flushPos, dictPos) is not yet in `out`.
  private dict = new Uint8Array(0);
  private dictPos = 0;
  private flushPos = 0;
  /** Bytes produced so far. */
  private total = 0;
  /** Bytes moved from the window to output chunks so far. */
  private flushed = 0;
  private out: Uint8Array | undefined;
  private outLen = 0;

  constructor(private readonly maxDictionary: number) {}

  feed(data: Uint8Array): void {
    if (data.length === 0) return;
    // A plain view: a Buffer here, a Uint8Array there would make the byte reads polymorphic.
    const chunk = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const rest = this.inEnd - this.inPos;
    if (rest === 0) {
      this.inBuf = chunk;
    } else {
      const merged = new Uint8Array(rest + chunk.length);
      merged.set(this.inBuf.subarray(this.inPos, this.inEnd));
      merged.set(chunk, rest);
      this.inBuf = merged;
    }
    this.inPos = 0;
    this.inEnd = this.inBuf.length;
  }

  endInput(): void {
    this.inputEnded = true;
  }

  /** Decodes until it needs more input, has a chunk of output ready, or the stream is done. */
  step(): Step {
    if (this.phase === 'header') {
      if (!this.has(HEADER_SIZE)) return this.waitForInput();
      this.readHeader();
    }
    if (this.phase === 'init') {
      if (this.knownSize === 0) {
        this.phase = 'done';
        return 'done';
      }
      if (!this.has(RANGE_INIT_SIZE)) return this.waitForInput();
      this.initRangeDecoder();
    }
    if (this.phase === 'done') return 'done';
    const outLimit = OUTPUT_CHUNK - MAX_MATCH_LEN;
    for (;;) {
      if (this.knownSize >= 0 && this.total >= this.knownSize) {
        this.phase = 'done';
        return 'done';
      }
      if (this.outLen + (this.dictPos - this.flushPos) >= outLimit) return 'output';
      if (this.inEnd - this.inPos < MAX_SYMBOL_INPUT && !this.inputEnded) return this.waitForInput();
      let more: boolean;
      try {
        more = this.decodeSymbol();
      } catch (error) {
        // Past the end of the input the range decoder reads zeros, which may look like bad data.
        throw this.overrun ? new LzmaError('truncated') : error;
      }
      if (this.overrun) throw new LzmaError('truncated');
      if (!more) {
        this.phase = 'done';
        return 'done';
      }
    }
  }

  /** The output decoded so far and not yet taken, or undefined when there is none. */
  takeOutput(): Uint8Array | undefined {
    this.flush();
    if (this.outLen === 0 || this.out === undefined) return undefined;
    const chunk = this.out.subarray(0, this.outLen);
    this.out = undefined;
    this.outLen = 0;
    return chunk;
  }

  private has(bytes: number): boolean {
    return this.inEnd - this.inPos >= bytes;
  }

  private waitForInput(): Step {
    if (this.inputEnded) throw new LzmaError('truncated');
    // Keep a private copy of the few unread bytes: the producer may reuse its chunk.
    this.inBuf = this.inBuf.slice(this.inPos, this.inEnd);
    this.inPos = 0;
    this.inEnd = this.inBuf.length;
    return 'need-input';
  }

  private readHeader(): void {
    const b = this.inBuf;
    const p = this.inPos;
    let props = b[p]!;
    if (props >= 9 * 5 * 5) throw new LzmaError('invalid properties byte');
    this.lc = props % 9;
    props = (props / 9) | 0;
    const lp = props % 5;
    const pb = (props / 5) | 0;
    this.lpMask = (1 << lp) - 1;
    this.pbMask = (1 << pb) - 1;
    const declared = (b[p + 1]! | (b[p + 2]! << 8) | (b[p + 3]! << 16) | (b[p + 4]! << 24)) >>> 0;
    if (declared > this.maxDictionary) {
      throw new LzmaError(`dictionary of ${declared} bytes exceeds the limit of ${this.maxDictionary}`);
    }
    this.dictSize = Math.max(declared, MIN_DICTIONARY);
    let unknown = true;
    for (let i = 5; i < HEADER_SIZE; i++) if (b[p + i] !== 0xff) unknown = false;
    if (!unknown) {
      const low = (b[p + 5]! | (b[p + 6]! << 8) | (b[p + 7]! << 16) | (b[p + 8]! << 24)) >>> 0;
      const high = (b[p + 9]! | (b[p + 10]! << 8) | (b[p + 11]! << 16) | (b[p + 12]! << 24)) >>> 0;
      // Above 2**53 the value is rounded; no stream gets that far.
      this.knownSize = high * 0x1_0000_0000 + low;
    }
    this.inPos += HEADER_SIZE;

    this.probs = new Uint16Array(LITERAL + (LITERAL_CODER_SIZE << (this.lc + lp))).fill(PROB_INIT);
    let window = Math.min(this.dictSize, INITIAL_WINDOW);
    if (this.knownSize >= 0) window = Math.max(1, Math.min(window, this.knownSize));
    this.dict = new Uint8Array(window);
    this.phase = 'init';
  }

  private initRangeDecoder(): void {
    if (this.inBuf[this.inPos] !== 0) throw new LzmaError('corrupt data');
    let code = 0;
    for (let i = 1; i < RANGE_INIT_SIZE; i++) code = (code << 8) | this.inBuf[this.inPos + i]!;
    this.inPos += RANGE_INIT_SIZE;
    // The code must stay below the range, which starts at 0xffffffff.
    if (code === -1) throw new LzmaError('corrupt data');
    this.code = code;
    this.range = -1;
    this.phase = 'body';
  }

  // ---- range decoder ------------------------------------------------------------------------

  private nextByte(): number {
    return this.inPos < this.inEnd ? this.inBuf[this.inPos++]! : this.pastEnd();
  }

  /** The range decoder wants a byte beyond the input: truncated, if the input has ended. */
  private pastEnd(): number {
    this.overrun = true;
    return 0;
  }

  private bit(index: number): number {
    const probs = this.probs;
    const p = probs[index]!;
    let range = this.range;
    let code = this.code;
    const bound = Math.imul(range >>> PROB_BITS, p);
    let bit: number;
    if (lessUnsigned(code, bound)) {
      range = bound;
      probs[index] = p + ((PROB_ONE - p) >>> MOVE_BITS);
      bit = 0;
    } else {
      range = (range - bound) | 0;
      code = (code - bound) | 0;
      probs[index] = p - (p >>> MOVE_BITS);
      bit = 1;
    }
    if ((range & TOP_MASK) === 0) {
      range <<= 8;
      code = (code << 8) | this.nextByte();
    }
    this.range = range;
    this.code = code;
    return bit;
  }

  /** `bits` bits, most significant first, from the bit tree at `base`. */
  private bitTree(base: number, bits: number): number {
    let m = 1;
    for (let i = 0; i < bits; i++) m = (m << 1) | this.bit(base + m);
    return m - (1 << bits);
  }

  /** `bits` bits, least significant first, from the bit tree at `base`. */
  private reverseBitTree(base: number, bits: number): number {
    let m = 1;
    let symbol = 0;
    for (let i = 0; i < bits; i++) {
      const b = this.bit(base + m);
      m = (m << 1) | b;
      symbol |= b << i;
    }
    return symbol;
  }

  /** `count` bits with probability one half each (count <= 26). */
  private directBits(count: number): number {
    let range = this.range;
    let code = this.code;
    let result = 0;
    for (let i = 0; i < count; i++) {
      range >>>= 1;
      let b = 0;
      if (!lessUnsigned(code, range)) {
        code = (code - range) | 0;
        b = 1;
      }
      if (!lessUnsigned(code, range)) throw new LzmaError('corrupt data');
      if ((range & TOP_MASK) === 0) {
        range <<= 8;
        code = (code << 8) | this.nextByte();
      }
      result = (result << 1) | b;
    }
    this.range = range;
    this.code = code;
    return result;
  }

  // ---- LZMA ---------------------------------------------------------------------------------

  /** Decodes one literal or match; false at the end marker. */
  private decodeSymbol(): boolean {
    const posState = this.total & this.pbMask;
    const state = this.state;
    if (this.bit(IS_MATCH + state * POS_STATES_MAX + posState) === 0) {
      this.literal();
      return true;
    }
    let len: number;
    if (this.bit(IS_REP + state) === 0) {
      len = this.length(LEN_CODER, posState);
      const distance = this.distance(len);
      if (distance === END_MARKER_DISTANCE) {
        if (this.knownSize >= 0) throw new LzmaError('unexpected end marker');
        if (this.code !== 0) throw new LzmaError('corrupt data');
        return false;
      }
      if (distance >= this.total || distance >= this.dictSize) throw new LzmaError('distance out of range');
      this.rep3 = this.rep2;
      this.rep2 = this.rep1;
      this.rep1 = this.rep0;
      this.rep0 = distance;
      this.state = state < LITERAL_STATES ? 7 : 10;
    } else {
      if (this.total === 0) throw new LzmaError('corrupt data');
      if (this.bit(IS_REP_G0 + state) === 0) {
        if (this.bit(IS_REP0_LONG + state * POS_STATES_MAX + posState) === 0) {
          // Short rep: one byte from distance rep0.
          this.state = state < LITERAL_STATES ? 9 : 11;
          this.putByte(this.byteAt(this.rep0));
          return true;
        }
      } else {
        let distance: number;
        if (this.bit(IS_REP_G1 + state) === 0) {
          distance = this.rep1;
        } else {
          if (this.bit(IS_REP_G2 + state) === 0) {
            distance = this.rep2;
          } else {
            distance = this.rep3;
            this.rep3 = this.rep2;
          }
          this.rep2 = this.rep1;
        }
        this.rep1 = this.rep0;
        this.rep0 = distance;
      }
      len = this.length(REP_LEN_CODER, posState);
      this.state = state < LITERAL_STATES ? 8 : 11;
    }
    len += MATCH_MIN_LEN;
    if (this.knownSize >= 0 && len > this.knownSize - this.total) {
      throw new LzmaError('data exceeds the declared size');
    }
    this.copyMatch(this.rep0, len);
    return true;
  }

  private literal(): void {
    const prev = this.total > 0 ? this.byteAt(0) : 0;
    const context = ((this.total & this.lpMask) << this.lc) + (prev >>> (8 - this.lc));
    const base = LITERAL + LITERAL_CODER_SIZE * context;
    const state = this.state;
    let symbol = 1;
    if (state >= LITERAL_STATES) {
      let matchByte = this.byteAt(this.rep0);
      do {
        const matchBit = (matchByte >>> 7) & 1;
        matchByte <<= 1;
        const b = this.bit(base + ((1 + matchBit) << 8) + symbol);
        symbol = (symbol << 1) | b;
        if (b !== matchBit) break;
      } while (symbol < 0x100);
    }
    while (symbol < 0x100) symbol = (symbol << 1) | this.bit(base + symbol);
    this.state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
    this.putByte(symbol & 0xff);
  }

  /** A match length minus MATCH_MIN_LEN (0..271). */
  private length(coder: number, posState: number): number {
    if (this.bit(coder + LEN_CHOICE) === 0) return this.bitTree(coder + LEN_LOW + posState * 8, 3);
    if (this.bit(coder + LEN_CHOICE2) === 0) return 8 + this.bitTree(coder + LEN_MID + posState * 8, 3);
    return 16 + this.bitTree(coder + LEN_HIGH, 8);
  }

  /** A match distance minus one (0..2**32-1; the largest is the end marker). */
  private distance(len: number): number {
    const lenState = len < LEN_TO_POS_STATES - 1 ? len : LEN_TO_POS_STATES - 1;
    const slot = this.bitTree(POS_SLOT + (lenState << POS_SLOT_BITS), POS_SLOT_BITS);
    if (slot < 4) return slot;
    const directCount = (slot >>> 1) - 1;
    if (slot < END_POS_MODEL_INDEX) {
      const base = (2 | (slot & 1)) << directCount;
      return base + this.reverseBitTree(SPEC_POS + base - slot, directCount);
    }
    // Slots 62 and 63 reach 2**31 and beyond: there the sum is a double, not an int32.
    const base = directCount < 30 ? (2 | (slot & 1)) << directCount : (2 | (slot & 1)) * 2 ** directCount;
    const middle = this.directBits(directCount - ALIGN_BITS) << ALIGN_BITS;
    return base + middle + this.reverseBitTree(ALIGN, ALIGN_BITS);
  }

  // ---- window -------------------------------------------------------------------------------

  /** The byte `distance + 1` bytes back; the caller has checked that it exists. */
  private byteAt(distance: number): number {
    let i = this.dictPos - distance - 1;
    if (i < 0) i += this.dict.length;
    return this.dict[i]!;
  }

  private putByte(value: number): void {
    this.dict[this.dictPos++] = value;
    this.total++;
    if (this.dictPos === this.dict.length) this.windowFull();
  }

  private copyMatch(distance: number, len: number): void {
    let dict = this.dict;
    let pos = this.dictPos;
    let from = pos - distance - 1;
    if (from < 0) from += dict.length;
    this.total += len;
    while (len > 0) {
      // Copy the run that neither wraps the source nor the destination in one go when the
      // source does not overlap it; otherwise byte by byte (an overlapping copy repeats bytes).
      const run = Math.min(len, dict.length - pos, dict.length - from);
      if (distance + 1 >= run && run > 8) {
        dict.copyWithin(pos, from, from + run);
        pos += run;
        from += run;
      } else {
        for (let i = 0; i < run; i++) dict[pos++] = dict[from++]!;
      }
      len -= run;
      if (from === dict.length) from = 0;
      if (pos === dict.length) {
        this.dictPos = pos;
        this.windowFull();
        dict = this.dict;
        pos = this.dictPos;
      }
    }
    this.dictPos = pos;
  }

  /** The write position reached the end of the window: grow it, or wrap around. */
  private windowFull(): void {
    const limit = this.knownSize >= 0 ? Math.min(this.dictSize, this.knownSize) : this.dictSize;
    if (this.dict.length < limit) {
      const grown = new Uint8Array(Math.min(this.dict.length * 2, limit));
      grown.set(this.dict);
      this.dict = grown;
      return;
    }
    this.flush();
    this.dictPos = 0;
    this.flushPos = 0;
  }

  /** Moves the window's new bytes to the output chunk. */
  private flush(): void {
    const count = this.dictPos - this.flushPos;
    if (count === 0) return;
    if (this.out === undefined) {
      const remaining = this.knownSize >= 0 ? this.knownSize - this.flushed : OUTPUT_CHUNK;
      this.out = new Uint8Array(Math.max(count, Math.min(OUTPUT_CHUNK, remaining)));
    }
    this.out.set(this.dict.subarray(this.flushPos, this.dictPos), this.outLen);
    this.outLen += count;
    this.flushed += count;
    this.flushPos = this.dictPos;
  }
}

/** Streams the decompressed bytes of an LZMA-alone stream. Memory: the dictionary (capped) plus one output chunk. */
export async function* decodeLzmaAlone(
  input: AsyncIterable<Uint8Array>,
  options: { maxDictionaryBytes?: number } = {},
): AsyncIterable<Uint8Array> {
  const decoder = new LzmaAloneDecoder(options.maxDictionaryBytes ?? DEFAULT_MAX_DICTIONARY);
  const drain = function* (): Generator<Uint8Array, boolean> {
    for (;;) {
      const step = decoder.step();
      if (step === 'need-input') return false;
      const chunk = decoder.takeOutput();
      if (chunk !== undefined) yield chunk;
      if (step === 'done') return true;
    }
  };
  // Input after the end of the stream is left unread, as liblzma does.
  for await (const chunk of input) {
    decoder.feed(chunk);
    if (yield* drain()) return;
  }
  decoder.endInput();
  yield* drain();
}
