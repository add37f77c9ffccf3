/** A tiny pickle assembler for tests: each helper returns the bytes of one opcode. */
const enc = new TextEncoder();

const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return [...b];
};

export const op = {
  proto: (n: number) => [0x80, n],
  frame: (n: number) => [0x95, n, 0, 0, 0, 0, 0, 0, 0],
  mark: () => [0x28],
  stop: () => [0x2e],
  pop: () => [0x30],
  none: () => [0x4e],
  global: (module: string, name: string) => [0x63, ...enc.encode(`${module}\n${name}\n`)],
  inst: (module: string, name: string) => [0x69, ...enc.encode(`${module}\n${name}\n`)],
  stackGlobal: () => [0x93],
  str: (s: string) => {
    const bytes = enc.encode(s);
    return bytes.length < 256 ? [0x8c, bytes.length, ...bytes] : [0x58, ...u32(bytes.length), ...bytes];
  },
  string0: (s: string) => [0x53, ...enc.encode(`'${s}'\n`)],
  bytes: (data: Uint8Array | number[]) => [0x42, ...u32(data.length), ...data],
  int: (n: number) => [0x4a, ...u32(n >>> 0)],
  tuple: () => [0x74],
  tuple1: () => [0x85],
  tuple2: () => [0x86],
  tuple3: () => [0x87],
  emptyTuple: () => [0x29],
  emptyDict: () => [0x7d],
  emptyList: () => [0x5d],
  setitem: () => [0x73],
  setitems: () => [0x75],
  append: () => [0x61],
  reduce: () => [0x52],
  build: () => [0x62],
  obj: () => [0x6f],
  newobj: () => [0x81],
  newobjEx: () => [0x92],
  binput: (i: number) => [0x71, i],
  binget: (i: number) => [0x68, i],
  longBinget: (i: number) => [0x6a, ...u32(i)],
  memoize: () => [0x94],
  ext1: (code: number) => [0x82, code],
  binpersid: () => [0x51],
  long1: (bytes: number[]) => [0x8a, bytes.length, ...bytes],
  newtrue: () => [0x88],
};

/** Concatenates opcodes; numbers are raw bytes. */
export function asm(...parts: (number[] | number)[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => (typeof p === 'number' ? [p] : p)));
}

/** Offset of the n-th (0-based) occurrence of opcode byte `code` in an assembled pickle, by walking parts. */
export function offsetOf(parts: (number[] | number)[], index: number): number {
  let at = 0;
  for (let i = 0; i < index; i++) {
    const part = parts[i]!;
    at += typeof part === 'number' ? 1 : part.length;
  }
  return at;
}

/** A PyTorch storage reference, as torch.save pickles it: BINPERSID of ('storage', type, key, 'cpu', numel). */
export function storageRef(key: string, numel: number): number[][] {
  return [
    op.mark(),
    op.str('storage'),
    op.global('torch', 'FloatStorage'),
    op.str(key),
    op.str('cpu'),
    op.int(numel),
    op.tuple(),
    op.binpersid(),
  ];
}

/** `os.system('echo mlsec')` as a protocol 2 pickle. */
export function osSystemPickle(): Uint8Array {
  return asm(
    op.proto(2),
    op.global('os', 'system'),
    op.str('echo mlsec'),
    op.tuple1(),
    op.reduce(),
    op.stop(),
  );
}
