/** How an opcode's argument is encoded in the stream. */
export type ArgKind =
  | 'none'
  | 'u1'
  | 'u2'
  | 'i4'
  | 'u4'
  | 'u8'
  | 'f8'
  | 'line'
  | 'line2'
  | 'bytes1'
  | 'bytes4'
  | 'bytes8';

export interface OpcodeInfo {
  readonly code: number;
  readonly name: string;
  readonly arg: ArgKind;
  readonly proto: number;
}

/** Protocols 0–5, as CPython's pickletools documents them. */
const table: readonly [string, string, ArgKind, number][] = [
  ['(', 'MARK', 'none', 0],
  ['.', 'STOP', 'none', 0],
  ['0', 'POP', 'none', 0],
  ['1', 'POP_MARK', 'none', 1],
  ['2', 'DUP', 'none', 0],
  ['F', 'FLOAT', 'line', 0],
  ['I', 'INT', 'line', 0],
  ['J', 'BININT', 'i4', 1],
  ['K', 'BININT1', 'u1', 1],
  ['L', 'LONG', 'line', 0],
  ['M', 'BININT2', 'u2', 1],
  ['N', 'NONE', 'none', 0],
  ['P', 'PERSID', 'line', 0],
  ['Q', 'BINPERSID', 'none', 1],
  ['R', 'REDUCE', 'none', 0],
  ['S', 'STRING', 'line', 0],
  ['T', 'BINSTRING', 'bytes4', 1],
  ['U', 'SHORT_BINSTRING', 'bytes1', 1],
  ['V', 'UNICODE', 'line', 0],
  ['X', 'BINUNICODE', 'bytes4', 1],
  ['a', 'APPEND', 'none', 0],
  ['b', 'BUILD', 'none', 0],
  ['c', 'GLOBAL', 'line2', 0],
  ['d', 'DICT', 'none', 0],
  ['}', 'EMPTY_DICT', 'none', 1],
  ['e', 'APPENDS', 'none', 1],
  ['g', 'GET', 'line', 0],
  ['h', 'BINGET', 'u1', 1],
  ['i', 'INST', 'line2', 0],
  ['j', 'LONG_BINGET', 'u4', 1],
  ['l', 'LIST', 'none', 0],
  [']', 'EMPTY_LIST', 'none', 1],
  ['o', 'OBJ', 'none', 1],
  ['p', 'PUT', 'line', 0],
  ['q', 'BINPUT', 'u1', 1],
  ['r', 'LONG_BINPUT', 'u4', 1],
  ['s', 'SETITEM', 'none', 0],
  ['t', 'TUPLE', 'none', 0],
  [')', 'EMPTY_TUPLE', 'none', 1],
  ['u', 'SETITEMS', 'none', 1],
  ['G', 'BINFLOAT', 'f8', 1],
  ['\x80', 'PROTO', 'u1', 2],
  ['\x81', 'NEWOBJ', 'none', 2],
  ['\x82', 'EXT1', 'u1', 2],
  ['\x83', 'EXT2', 'u2', 2],
  ['\x84', 'EXT4', 'i4', 2],
  ['\x85', 'TUPLE1', 'none', 2],
  ['\x86', 'TUPLE2', 'none', 2],
  ['\x87', 'TUPLE3', 'none', 2],
  ['\x88', 'NEWTRUE', 'none', 2],
  ['\x89', 'NEWFALSE', 'none', 2],
  ['\x8a', 'LONG1', 'bytes1', 2],
  ['\x8b', 'LONG4', 'bytes4', 2],
  ['B', 'BINBYTES', 'bytes4', 3],
  ['C', 'SHORT_BINBYTES', 'bytes1', 3],
  ['\x8c', 'SHORT_BINUNICODE', 'bytes1', 4],
  ['\x8d', 'BINUNICODE8', 'bytes8', 4],
  ['\x8e', 'BINBYTES8', 'bytes8', 4],
  ['\x8f', 'EMPTY_SET', 'none', 4],
  ['\x90', 'ADDITEMS', 'none', 4],
  ['\x91', 'FROZENSET', 'none', 4],
  ['\x92', 'NEWOBJ_EX', 'none', 4],
  ['\x93', 'STACK_GLOBAL', 'none', 4],
  ['\x94', 'MEMOIZE', 'none', 4],
  ['\x95', 'FRAME', 'u8', 4],
  ['\x96', 'BYTEARRAY8', 'bytes8', 5],
  ['\x97', 'NEXT_BUFFER', 'none', 5],
  ['\x98', 'READONLY_BUFFER', 'none', 5],
];

/** Indexed by opcode byte; undefined for bytes that are not opcodes. */
export const opcodes: readonly (OpcodeInfo | undefined)[] = (() => {
  const byCode: (OpcodeInfo | undefined)[] = new Array(256).fill(undefined);
  for (const [char, name, arg, proto] of table) {
    const code = char.charCodeAt(0);
    byCode[code] = { code, name, arg, proto };
  }
  return byCode;
})();

export const HIGHEST_PROTOCOL = 5;

export function opcodeName(code: number): string {
  return opcodes[code]?.name ?? `0x${code.toString(16).padStart(2, '0')}`;
}
