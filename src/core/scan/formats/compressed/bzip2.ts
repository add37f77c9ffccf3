/**
 * Streaming bzip2 decoder, following libbzip2 1.0.8 (the library CPython's `bz2` module and joblib
 * use) step by step, so that it accepts and refuses what libbzip2 does.
 *
 * A bzip2 block is decoded in two phases. The first (Huffman, move-to-front, run lengths) needs the
 * whole compressed block, so input is buffered until it holds the largest block a stream of its
 * level can have (about 2.3 MB at level 9) or the input ends. The second (inverse Burrows-Wheeler
 * transform and the final run-length expansion) is where a block grows, up to about 46 MB from
 * 900 kB; it is resumable between any two output bytes, so output is handed on in chunks of at
 * most {@link OUTPUT_CHUNK} bytes and the consumer decides when the next one is made. Memory: the
 * block (4 bytes per byte of block size) plus the buffered input plus one output chunk.
 */
import { DataError, UnsupportedDataError } from '../../data-error.js';

const OUTPUT_CHUNK = 1 << 20;
const BLOCK_MAGIC_HI = 0x314159;
const BLOCK_MAGIC_LO = 0x265359;
const END_MAGIC_HI = 0x177245;
const END_MAGIC_LO = 0x385090;
const MAX_GROUPS = 6;
const MAX_ALPHA_SIZE = 258;
const MAX_CODE_LEN = 23;
const MAX_SELECTORS = 18002;
const GROUP_SIZE = 50;
const RUNA = 0;
const RUNB = 1;

const crcTable = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x8000_0000 ? (c << 1) ^ 0x04c1_1db7 : c << 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** Compressed bytes of the largest block at a level: 20 bits per symbol plus the tables. */
function maxBlockInput(level: number): number {
  return level * 250_000 + 65_536;
}

class Truncated extends DataError {}

type Phase = 'stream-header' | 'block-header' | 'output' | 'done';

class Bzip2Decoder {
  private input = new Uint8Array(0);
  private inPos = 0;
  private inEnd = 0;
  private inputEnded = false;
  private bitBuf = 0;
  private bitCount = 0;
  private phase: Phase = 'stream-header';
  private streams = 0;
  private level = 0;
  private tt = new Uint32Array(0);
  private streamCrc = 0;

  // Output phase state (libbzip2's unRLE_obuf_to_output_FAST).
  private blockCrc = 0;
  private storedBlockCrc = 0;
  private nblock = 0;
  private nblockUsed = 0;
  private tPos = 0;
  private k0 = 0;
  private outCh = 0;
  private outLen = 0;
  private out = new Uint8Array(OUTPUT_CHUNK);
  private outPos = 0;

  /** Appends input; the buffer grows by doubling and drops consumed bytes, so feeding is linear. */
  feed(chunk: Uint8Array): void {
    if (this.inEnd + chunk.length > this.input.length) {
      const rest = this.inEnd - this.inPos;
      if (rest + chunk.length > this.input.length) {
        const grown = new Uint8Array(Math.max(2 * this.input.length, rest + chunk.length));
        grown.set(this.input.subarray(this.inPos, this.inEnd));
        this.input = grown;
      } else {
        this.input.copyWithin(0, this.inPos, this.inEnd);
      }
      this.inPos = 0;
      this.inEnd = rest;
    }
    this.input.set(chunk, this.inEnd);
    this.inEnd += chunk.length;
  }

  endInput(): void {
    this.inputEnded = true;
  }

  takeOutput(): Uint8Array | undefined {
    if (this.outPos === 0) return undefined;
    const chunk = this.out.slice(0, this.outPos);
    this.outPos = 0;
    return chunk;
  }

  /** Decodes until output is ready, more input is needed, or the data ends. */
  step(): 'need-input' | 'output' | 'done' {
    for (;;) {
      switch (this.phase) {
        case 'done':
          return 'done';
        case 'stream-header': {
          if (this.available() < 4 && !this.inputEnded) return 'need-input';
          if (!this.readStreamHeader()) {
            this.phase = 'done';
            return 'done';
          }
          this.phase = 'block-header';
          break;
        }
        case 'block-header': {
          if (this.available() < maxBlockInput(this.level) && !this.inputEnded) return 'need-input';
          try {
            this.readBlock();
          } catch (error) {
            throw error instanceof Truncated ? new DataError('truncated') : error;
          }
          break;
        }
        case 'output':
          if (this.writeOutput()) return 'output';
          this.finishBlock();
          this.phase = 'block-header';
          break;
      }
    }
  }

  private available(): number {
    return this.inEnd - this.inPos + (this.bitCount >>> 3);
  }

  private bits(n: number): number {
    while (this.bitCount < n) {
      if (this.inPos >= this.inEnd) throw new Truncated('truncated');
      this.bitBuf = ((this.bitBuf << 8) | this.input[this.inPos++]!) >>> 0;
      this.bitCount += 8;
    }
    this.bitCount -= n;
    const value = (this.bitBuf >>> this.bitCount) & ((1 << n) - 1);
    this.bitBuf &= (1 << this.bitCount) - 1;
    return value;
  }

  /**
   * 'BZh' and a level digit. Data after the end of a stream that is not another stream is
   * ignored, as CPython's bz2 module does.
   */
  private readStreamHeader(): boolean {
    const first = this.streams === 0;
    if (this.available() === 0 && !first) return false;
    if (this.available() < 4) {
      if (first) throw new DataError('truncated');
      return false;
    }
    const at = this.inPos;
    const b = this.input;
    const magic = b[at] === 0x42 && b[at + 1] === 0x5a && b[at + 2] === 0x68;
    const level = (b[at + 3] ?? 0) - 0x30;
    if (!magic || level < 1 || level > 9) {
      if (first) throw new DataError('not a bzip2 stream');
      return false;
    }
    this.inPos += 4;
    this.streams++;
    this.level = level;
    if (this.tt.length < level * 100_000) this.tt = new Uint32Array(level * 100_000);
    this.streamCrc = 0;
    return true;
  }

  private readBlock(): void {
    const hi = this.bits(24);
    const lo = this.bits(24);
    if (hi === END_MAGIC_HI && lo === END_MAGIC_LO) {
      const stored = ((this.bits(16) << 16) | this.bits(16)) >>> 0;
      if (stored !== this.streamCrc) throw new DataError('stream CRC mismatch');
      // The next stream starts on a byte boundary.
      this.bitCount &= ~7;
      this.bitBuf &= (1 << this.bitCount) - 1;
      this.returnBufferedBytes();
      this.phase = 'stream-header';
      return;
    }
    if (hi !== BLOCK_MAGIC_HI || lo !== BLOCK_MAGIC_LO) throw new DataError('invalid block header');
    this.storedBlockCrc = ((this.bits(16) << 16) | this.bits(16)) >>> 0;
    if (this.bits(1)) {
      throw new UnsupportedDataError('uses randomised blocks (bzip2 0.9.0), which are not supported');
    }
    const origPtr = this.bits(24);
    if (origPtr > 10 + 100_000 * this.level) throw new DataError('invalid block');
    this.decodeSymbols(origPtr);
  }

  /** Whole bytes left in the bit buffer go back to the input, for the next stream header. */
  private returnBufferedBytes(): void {
    this.inPos -= this.bitCount >>> 3;
    this.bitCount = 0;
    this.bitBuf = 0;
  }

  private decodeSymbols(origPtr: number): void {
    // Symbols in use.
    const inUse16 = this.bits(16);
    const seqToUnseq = new Uint8Array(256);
    let nInUse = 0;
    for (let i = 0; i < 16; i++) {
      if (inUse16 & (0x8000 >>> i)) {
        const bitsHere = this.bits(16);
        for (let j = 0; j < 16; j++) if (bitsHere & (0x8000 >>> j)) seqToUnseq[nInUse++] = i * 16 + j;
      }
    }
    if (nInUse === 0) throw new DataError('invalid block');
    const alphaSize = nInUse + 2;

    // Huffman table selectors, move-to-front coded.
    const nGroups = this.bits(3);
    if (nGroups < 2 || nGroups > MAX_GROUPS) throw new DataError('invalid block');
    let nSelectors = this.bits(15);
    if (nSelectors < 1) throw new DataError('invalid block');
    const selectorMtf = new Uint8Array(MAX_SELECTORS);
    for (let i = 0; i < nSelectors; i++) {
      let j = 0;
      while (this.bits(1)) {
        j++;
        if (j >= nGroups) throw new DataError('invalid block');
      }
      if (i < MAX_SELECTORS) selectorMtf[i] = j;
    }
    if (nSelectors > MAX_SELECTORS) nSelectors = MAX_SELECTORS;
    const pos = new Uint8Array(MAX_GROUPS);
    for (let v = 0; v < nGroups; v++) pos[v] = v;
    const selector = new Uint8Array(nSelectors);
    for (let i = 0; i < nSelectors; i++) {
      let v = selectorMtf[i]!;
      const tmp = pos[v]!;
      while (v > 0) {
        pos[v] = pos[v - 1]!;
        v--;
      }
      pos[0] = tmp;
      selector[i] = tmp;
    }

    // Code lengths, delta coded, and the decoding tables.
    const limit: Int32Array[] = [];
    const base: Int32Array[] = [];
    const perm: Int32Array[] = [];
    const minLens = new Int32Array(nGroups);
    const len = new Uint8Array(MAX_ALPHA_SIZE);
    for (let t = 0; t < nGroups; t++) {
      let curr = this.bits(5);
      for (let i = 0; i < alphaSize; i++) {
        for (;;) {
          if (curr < 1 || curr > 20) throw new DataError('invalid block');
          if (!this.bits(1)) break;
          curr += this.bits(1) ? -1 : 1;
        }
        len[i] = curr;
      }
      let minLen = 32;
      let maxLen = 0;
      for (let i = 0; i < alphaSize; i++) {
        if (len[i]! > maxLen) maxLen = len[i]!;
        if (len[i]! < minLen) minLen = len[i]!;
      }
      const tables = decodeTables(len, minLen, maxLen, alphaSize);
      limit.push(tables.limit);
      base.push(tables.base);
      perm.push(tables.perm);
      minLens[t] = minLen;
    }

    // Move-to-front and run-length decoding into tt (libbzip2's GET_MTF_VAL loop).
    const EOB = nInUse + 1;
    const nblockMax = 100_000 * this.level;
    const tt = this.tt;
    const unzftab = new Int32Array(256);
    const yy = new Uint8Array(256);
    for (let i = 0; i < 256; i++) yy[i] = i;
    let groupNo = -1;
    let groupPos = 0;
    let gLimit = limit[0]!;
    let gBase = base[0]!;
    let gPerm = perm[0]!;
    let gMinLen = 0;
    const nextSymbol = (): number => {
      if (groupPos === 0) {
        groupNo++;
        if (groupNo >= nSelectors) throw new DataError('invalid block');
        groupPos = GROUP_SIZE;
        const g = selector[groupNo]!;
        gLimit = limit[g]!;
        gBase = base[g]!;
        gPerm = perm[g]!;
        gMinLen = minLens[g]!;
      }
      groupPos--;
      let zn = gMinLen;
      let zvec = this.bits(zn);
      for (;;) {
        if (zn > 20) throw new DataError('invalid block');
        if (zvec <= gLimit[zn]!) break;
        zn++;
        zvec = (zvec << 1) | this.bits(1);
      }
      const index = zvec - gBase[zn]!;
      if (index < 0 || index >= MAX_ALPHA_SIZE) throw new DataError('invalid block');
      return gPerm[index]!;
    };

    let nblock = 0;
    let sym = nextSymbol();
    for (;;) {
      if (sym === EOB) break;
      if (sym === RUNA || sym === RUNB) {
        let es = -1;
        let n = 1;
        do {
          if (n >= 2 * 1024 * 1024) throw new DataError('invalid block');
          es += (sym === RUNA ? 1 : 2) * n;
          n *= 2;
          sym = nextSymbol();
        } while (sym === RUNA || sym === RUNB);
        es++;
        const uc = seqToUnseq[yy[0]!]!;
        unzftab[uc] = unzftab[uc]! + es;
        if (nblock + es > nblockMax) throw new DataError('invalid block');
        tt.fill(uc, nblock, nblock + es);
        nblock += es;
        continue;
      }
      if (nblock >= nblockMax) throw new DataError('invalid block');
      let v = sym - 1;
      const uc = yy[v]!;
      while (v > 0) {
        yy[v] = yy[v - 1]!;
        v--;
      }
      yy[0] = uc;
      const byte = seqToUnseq[uc]!;
      unzftab[byte] = unzftab[byte]! + 1;
      tt[nblock++] = byte;
      sym = nextSymbol();
    }
    if (origPtr >= nblock) throw new DataError('invalid block');

    // Inverse Burrows-Wheeler transform: link each position to the next.
    const cftab = new Int32Array(257);
    for (let i = 1; i <= 256; i++) cftab[i] = cftab[i - 1]! + unzftab[i - 1]!;
    for (let i = 0; i < nblock; i++) {
      const uc = tt[i]! & 0xff;
      tt[cftab[uc]!] = (tt[cftab[uc]!]! | (i << 8)) >>> 0;
      cftab[uc] = cftab[uc]! + 1;
    }
    this.nblock = nblock;
    this.tPos = tt[origPtr]! >>> 8;
    this.nblockUsed = 0;
    this.blockCrc = 0xffff_ffff;
    this.outLen = 0;
    this.k0 = this.nextByte();
    this.nblockUsed++;
    this.phase = 'output';
  }

  private nextByte(): number {
    if (this.tPos >= this.nblock) throw new DataError('invalid block');
    const entry = this.tt[this.tPos]!;
    this.tPos = entry >>> 8;
    return entry & 0xff;
  }

  /** Writes the block's bytes to the output chunk; true when the chunk is full (more may follow). */
  private writeOutput(): boolean {
    const out = this.out;
    const end = this.nblock + 1;
    for (;;) {
      // Flush the pending run.
      while (this.outLen > 0) {
        if (this.outPos === out.length) return true;
        out[this.outPos++] = this.outCh;
        this.blockCrc =
          ((this.blockCrc << 8) ^ crcTable[((this.blockCrc >>> 24) ^ this.outCh) & 0xff]!) >>> 0;
        this.outLen--;
      }
      if (this.nblockUsed === end) return false;
      if (this.nblockUsed > end) throw new DataError('invalid block');
      // One byte, or up to four equal bytes and a repeat count (the initial run-length coding).
      this.outLen = 1;
      this.outCh = this.k0;
      let k1 = this.nextByte();
      this.nblockUsed++;
      if (this.nblockUsed === end) continue;
      if (k1 !== this.k0) {
        this.k0 = k1;
        continue;
      }
      this.outLen = 2;
      k1 = this.nextByte();
      this.nblockUsed++;
      if (this.nblockUsed === end) continue;
      if (k1 !== this.k0) {
        this.k0 = k1;
        continue;
      }
      this.outLen = 3;
      k1 = this.nextByte();
      this.nblockUsed++;
      if (this.nblockUsed === end) continue;
      if (k1 !== this.k0) {
        this.k0 = k1;
        continue;
      }
      k1 = this.nextByte();
      this.nblockUsed++;
      this.outLen = k1 + 4;
      this.k0 = this.nextByte();
      this.nblockUsed++;
    }
  }

  private finishBlock(): void {
    const crc = ~this.blockCrc >>> 0;
    if (crc !== this.storedBlockCrc) throw new DataError('block CRC mismatch');
    this.streamCrc = (((this.streamCrc << 1) | (this.streamCrc >>> 31)) ^ crc) >>> 0;
  }
}

/** libbzip2's BZ2_hbCreateDecodeTables. */
function decodeTables(len: Uint8Array, minLen: number, maxLen: number, alphaSize: number) {
  const perm = new Int32Array(MAX_ALPHA_SIZE);
  const base = new Int32Array(MAX_CODE_LEN);
  const limit = new Int32Array(MAX_CODE_LEN);
  let pp = 0;
  for (let i = minLen; i <= maxLen; i++) {
    for (let j = 0; j < alphaSize; j++) if (len[j] === i) perm[pp++] = j;
  }
  for (let i = 0; i < alphaSize; i++) base[len[i]! + 1] = base[len[i]! + 1]! + 1;
  for (let i = 1; i < MAX_CODE_LEN; i++) base[i] = base[i]! + base[i - 1]!;
  let vec = 0;
  for (let i = minLen; i <= maxLen; i++) {
    vec += base[i + 1]! - base[i]!;
    limit[i] = vec - 1;
    vec <<= 1;
  }
  for (let i = minLen + 1; i <= maxLen; i++) base[i] = ((limit[i - 1]! + 1) << 1) - base[i]!;
  return { perm, base, limit };
}

/**
 * Streams the decompressed bytes of bzip2 data (several concatenated streams too). Each output
 * chunk is made only when the consumer asks for it, so a bomb costs no more memory than a block.
 */
export async function* decodeBzip2(input: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const decoder = new Bzip2Decoder();
  const drain = function* (): Generator<Uint8Array, boolean> {
    for (;;) {
      const step = decoder.step();
      const chunk = decoder.takeOutput();
      if (chunk !== undefined) yield chunk;
      if (step === 'need-input') return false;
      if (step === 'done') return true;
    }
  };
  for await (const chunk of input) {
    decoder.feed(chunk);
    if (yield* drain()) return;
  }
  decoder.endInput();
  yield* drain();
}
