/**
 * Structure-aware pickle generation for the differential tests: random programs over every opcode
 * and protocol, built with a model of the stack so that most of them load, then framed (aligned or
 * not), stacked with junk, and mutated like real attacks mutate files.
 */

export type Random = () => number;

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (random: Random, n: number) => Math.floor(random() * n);
const pick = <T>(random: Random, items: readonly T[]): T => items[int(random, items.length)]!;
const chance = (random: Random, p: number) => random() < p;

const enc = new TextEncoder();
const ascii = (s: string) => [...enc.encode(s)];
const le = (n: number, width: number) => {
  const out: number[] = [];
  let v = BigInt(n);
  for (let i = 0; i < width; i++) {
    out.push(Number(v & 0xffn));
    v >>= 8n;
  }
  return out;
};

/** Globals the programs import: dangerous, safe and unknown, in the spellings pickles use. */
const dangerous: [string, string][] = [
  ['os', 'system'],
  ['posix', 'system'],
  ['nt', 'system'],
  ['builtins', 'eval'],
  ['builtins', 'exec'],
  ['__builtin__', 'eval'],
  ['builtins', 'getattr'],
  ['subprocess', 'Popen'],
  ['subprocess', 'check_output'],
  ['runpy', '_run_code'],
  ['pickle', 'loads'],
  ['os', 'popen'],
];
const safe: [string, string][] = [
  ['collections', 'OrderedDict'],
  ['builtins', 'set'],
  ['builtins', 'bytearray'],
  ['torch._utils', '_rebuild_tensor_v2'],
  ['numpy.core.multiarray', '_reconstruct'],
  ['numpy', 'dtype'],
  ['_codecs', 'encode'],
  ['torch', 'FloatStorage'],
];
const unknown: [string, string][] = [
  ['mymodel', 'Net'],
  ['sklearn.tree._classes', 'Helper'],
];
/** Dotted names: protocol 4 walks attributes from the module (`torch.serialization` + `os.system`). */
const dotted: [string, string][] = [
  ['torch.serialization', 'os.system'],
  ['collections', 'OrderedDict.fromkeys'],
  ['builtins', 'object.__subclasses__'],
  ['numpy', 'core.multiarray._reconstruct'],
];

function someGlobal(random: Random): [string, string] {
  const r = random();
  if (r < 0.4) return pick(random, dangerous);
  if (r < 0.8) return pick(random, safe);
  return r < 0.9 ? pick(random, unknown) : pick(random, dotted);
}

/** Text spellings CPython accepts for an integer (and some it does not). */
function intText(random: Random, n: number, forMemo: boolean): string {
  const forms = forMemo
    ? [`${n}`, ` ${n}`, `${n} `, `+${n}`, `0${n}`, `${n}`.split('').join('_'), `${n}\x00x`, `${n}\r`]
    : [
        `${n}`,
        `0x${n.toString(16)}`,
        `0X${n.toString(16)}`,
        `0o${n.toString(8)}`,
        `0b${n.toString(2)}`,
        `0${n.toString(8)}`,
        `${n}`.split('').join('_'),
        ` ${n}`,
        `${n} `,
        `+${n}`,
        `-${n}`,
        `${n}\x00junk`,
        `0x_${n.toString(16)}`,
        `${n}L`,
        '00',
        '01',
        `${n}__0`,
      ];
  return pick(random, forms);
}

/** One value-producing opcode sequence, with the kind it leaves on the stack. */
type Kind = 'str' | 'value' | 'global' | 'tuple' | 'dict' | 'list' | 'call';

interface Program {
  ops: number[][];
  stack: Kind[];
  marks: number[];
  memo: number;
  proto: number;
}

function pushString(random: Random, p: Program, text: string): void {
  const bytes = ascii(text);
  const r = random();
  if (p.proto >= 4 && r < 0.4) p.ops.push([0x8c, bytes.length, ...bytes]);
  else if (p.proto >= 1 && r < 0.7) p.ops.push([0x58, ...le(bytes.length, 4), ...bytes]);
  else if (p.proto >= 1 && r < 0.8) p.ops.push([0x55, bytes.length, ...bytes]);
  else if (r < 0.9) p.ops.push([0x53, ...ascii(`'${text}'\n`)]);
  else p.ops.push([0x56, ...ascii(`${text}\n`)]);
  p.stack.push('str');
}

function pushInt(random: Random, p: Program): void {
  const n = int(random, chance(random, 0.2) ? 70000 : 200);
  const r = random();
  if (p.proto >= 1 && r < 0.3) p.ops.push(n < 256 ? [0x4b, n] : [0x4a, ...le(n, 4)]);
  else if (r < 0.75) p.ops.push([0x49, ...ascii(`${intText(random, n, false)}\n`)]);
  else if (p.proto >= 2 && r < 0.85) p.ops.push([0x8a, 2, ...le(n, 2)]);
  else p.ops.push([0x4c, ...ascii(`${intText(random, n, false)}\n`)]);
  p.stack.push('value');
}

function memoIndex(random: Random, p: Program): number {
  return chance(random, 0.8) || p.memo === 0 ? p.memo : int(random, p.memo + 2);
}

const step = (random: Random, p: Program): void => {
  const top = p.stack.at(-1);
  const fence = p.marks.at(-1) ?? 0;
  const depth = p.stack.length - fence;
  const r = random();
  if (r < 0.12) {
    const [module, name] = someGlobal(random);
    if (p.proto >= 4 && chance(random, 0.6)) {
      pushString(random, p, module);
      pushString(random, p, name);
      p.ops.push([0x93]);
      p.stack.splice(-2, 2, 'global');
    } else {
      p.ops.push([0x63, ...ascii(`${module}\n${name}\n`)]);
      p.stack.push('global');
    }
    return;
  }
  if (r < 0.22) {
    pushString(random, p, pick(random, ['echo mlsec', '1+1', 'os', 'system', 'a', '']));
    return;
  }
  if (r < 0.3) {
    pushInt(random, p);
    return;
  }
  if (r < 0.34) {
    p.ops.push([pick(random, [0x4e, 0x88, 0x89])]);
    p.stack.push('value');
    return;
  }
  if (r < 0.37) {
    p.ops.push([0x28]);
    p.marks.push(p.stack.length);
    return;
  }
  if (r < 0.44 && p.marks.length > 0) {
    const code = pick(random, [0x74, 0x6c, 0x64, 0x91, 0x74]);
    const mark = p.marks.pop()!;
    const count = p.stack.length - mark;
    if (code === 0x64 && count % 2 === 1) {
      p.marks.push(mark);
      return;
    }
    p.stack.splice(mark);
    p.ops.push([code]);
    p.stack.push(code === 0x74 ? 'tuple' : code === 0x64 ? 'dict' : 'list');
    return;
  }
  if (r < 0.5 && depth >= 1 && p.proto >= 2) {
    const n = Math.min(depth, 1 + int(random, 3));
    p.ops.push([0x84 + n]);
    p.stack.splice(-n, n, 'tuple');
    return;
  }
  if (r < 0.53) {
    p.ops.push([pick(random, [0x29, 0x7d, 0x5d])]);
    p.stack.push(pick(random, ['tuple', 'dict', 'list'] as const));
    return;
  }
  if (r < 0.63 && depth >= 2 && p.stack.at(-1) === 'tuple') {
    const callee = p.stack.at(-2);
    if (callee === 'global' || chance(random, 0.1)) {
      p.ops.push([pick(random, [0x52, 0x52, 0x81])]);
      p.stack.splice(-2, 2, 'call');
      return;
    }
  }
  if (r < 0.67 && depth >= 2 && top === 'dict') {
    p.ops.push([0x62]);
    p.stack.pop();
    return;
  }
  if (r < 0.75 && depth >= 1) {
    const index = memoIndex(random, p);
    const form = random();
    if (form < 0.3 && p.proto >= 4) p.ops.push([0x94]);
    else if (form < 0.6 && p.proto >= 1) p.ops.push(index < 256 ? [0x71, index] : [0x72, ...le(index, 4)]);
    else p.ops.push([0x70, ...ascii(`${intText(random, index, true)}\n`)]);
    if (form < 0.3 && p.proto >= 4) p.memo += 1;
    else p.memo = Math.max(p.memo, index + 1);
    return;
  }
  if (r < 0.82 && p.memo > 0) {
    const index = int(random, p.memo);
    const form = random();
    if (form < 0.5 && p.proto >= 1) p.ops.push(index < 256 ? [0x68, index] : [0x6a, ...le(index, 4)]);
    else p.ops.push([0x67, ...ascii(`${intText(random, index, true)}\n`)]);
    p.stack.push('value');
    return;
  }
  if (r < 0.85 && depth >= 1) {
    p.ops.push([pick(random, [0x32, 0x30])]);
    if (p.ops.at(-1)![0] === 0x32) p.stack.push(p.stack.at(-1)!);
    else p.stack.pop();
    return;
  }
  if (r < 0.88 && depth >= 2 && p.stack.at(-2) === 'list') {
    p.ops.push([0x61]);
    p.stack.pop();
    return;
  }
  if (r < 0.9 && depth >= 3 && p.stack.at(-3) === 'dict') {
    p.ops.push([0x73]);
    p.stack.splice(-2, 2);
    return;
  }
  if (r < 0.92 && p.proto >= 2) {
    p.ops.push([0x82, 1 + int(random, 8)]);
    p.stack.push('global');
    return;
  }
  if (r < 0.94 && depth >= 1 && p.proto >= 1) {
    p.ops.push([0x51]);
    p.stack.splice(-1, 1, 'value');
    return;
  }
  if (r < 0.955 && p.marks.length > 0) {
    // Opcodes that take everything down to the mark: calls, additions, or just the mark.
    const mark = p.marks.pop()!;
    const count = p.stack.length - mark;
    const options: number[][] = [[0x31]];
    if (count >= 1 && p.stack[mark] === 'global') options.push([0x6f]); // OBJ
    if (p.proto >= 0) options.push([0x69, ...ascii(`${pick(random, [...dangerous, ...safe]).join('\n')}\n`)]); // INST
    if (mark >= 1 && p.stack[mark - 1] === 'list') options.push([0x65]); // APPENDS
    if (mark >= 1 && p.stack[mark - 1] === 'dict' && count % 2 === 0) options.push([0x75]); // SETITEMS
    if (mark >= 1 && p.proto >= 4) options.push([0x90]); // ADDITEMS (on whatever is there)
    const code = pick(random, options);
    p.stack.splice(mark);
    p.ops.push(code);
    if (code[0] === 0x6f || code[0] === 0x69) p.stack.push('call');
    return;
  }
  if (r < 0.96 && depth >= 3 && p.proto >= 4 && p.stack.at(-1) === 'dict' && p.stack.at(-2) === 'tuple') {
    p.ops.push([0x92]); // NEWOBJ_EX
    p.stack.splice(-3, 3, 'call');
    return;
  }
  if (r < 0.965 && p.proto >= 4) {
    p.ops.push(chance(random, 0.5) ? [0x8f] : [0x96, ...le(3, 8), 0x61, 0x62, 0x63]); // EMPTY_SET, BYTEARRAY8
    p.stack.push('value');
    return;
  }
  if (r < 0.97 && p.proto >= 3) {
    const n = int(random, 40);
    p.ops.push(
      chance(random, 0.5)
        ? [0x43, n, ...new Array(n).fill(0x61)]
        : [0x42, ...le(n, 4), ...new Array(n).fill(0x62)],
    );
    p.stack.push('value');
    return;
  }
  if (p.proto >= 1 || chance(random, 0.5)) {
    p.ops.push([0x46, ...ascii(`${pick(random, ['1.5', 'inf', '-0.0', '1e3', 'nan', '1_0.5'])}\n`)]);
    p.stack.push('value');
  }
};

/** Protocol header, a random program, and STOP (when the stack allows one). */
export function randomProgram(random: Random): number[][] {
  const proto = pick(random, [0, 1, 2, 3, 4, 4, 5]);
  const p: Program = { ops: [], stack: [], marks: [], memo: 0, proto };
  if (proto >= 2) p.ops.push([0x80, proto]);
  const steps = 1 + int(random, 40);
  for (let i = 0; i < steps; i++) step(random, p);
  // A call at the end, the way payloads end.
  if (chance(random, 0.6)) {
    const [module, name] = someGlobal(random);
    p.ops.push([0x63, ...ascii(`${module}\n${name}\n`)]);
    if (proto < 2) p.ops.push([0x28]);
    pushString(random, p, 'echo mlsec');
    p.ops.push(proto < 2 ? [0x74] : [0x85], [0x52]);
    p.stack.push('call');
  }
  if (p.stack.length === 0) p.ops.push([0x4e]);
  p.ops.push([0x2e]);
  return p.ops;
}

/** Joins opcodes, placing FRAME opcodes over them: mostly on opcode boundaries, sometimes not. */
export function frame(random: Random, ops: number[][], proto: number): number[] {
  const out: number[] = [];
  const body = ops.flat();
  if (proto < 4 || chance(random, 0.3)) return body;
  // Keep a PROTO header first when there is one.
  let at = 0;
  if (body[0] === 0x80) {
    out.push(body[0], body[1]!);
    at = 2;
  }
  const boundaries: number[] = [];
  let offset = 0;
  for (const op of ops) {
    offset += op.length;
    boundaries.push(offset);
  }
  while (at < body.length) {
    const aligned = boundaries.filter((b) => b > at);
    let end: number;
    if (chance(random, 0.7) && aligned.length > 0) end = pick(random, aligned);
    else end = Math.min(body.length, at + 1 + int(random, 24));
    const claimed = chance(random, 0.85) ? end - at : Math.max(0, end - at + int(random, 9) - 4);
    out.push(0x95, ...le(claimed, 8), ...body.slice(at, end));
    at = end;
  }
  return out;
}

/** A whole input: one or more framed programs, sometimes with junk between or after them. */
export function randomPickle(random: Random): Uint8Array {
  const parts: number[] = [];
  const streams = chance(random, 0.75) ? 1 : 2 + int(random, 2);
  for (let s = 0; s < streams; s++) {
    const ops = randomProgram(random);
    const proto = ops[0]?.[0] === 0x80 ? ops[0][1]! : 0;
    parts.push(...frame(random, ops, proto));
    if (s + 1 < streams && chance(random, 0.4)) {
      for (let j = int(random, 4); j >= 0; j--)
        parts.push(pick(random, [0x00, 0x0a, 0xff, 0x20, 0x2e, int(random, 256)]));
    }
  }
  return Uint8Array.from(parts);
}

/** Mutations of an existing file, as attackers and broken tools produce them. */
export function mutate(random: Random, input: Uint8Array): Uint8Array {
  const bytes = [...input];
  const rounds = 1 + int(random, 3);
  for (let i = 0; i < rounds; i++) {
    const at = int(random, bytes.length + 1);
    switch (int(random, 8)) {
      case 0: // bit flip
        if (bytes.length > 0) bytes[at % bytes.length]! ^= 1 << int(random, 8);
        break;
      case 1: // truncation
        bytes.length = at;
        break;
      case 2: // inserted junk
        bytes.splice(at, 0, ...Array.from({ length: 1 + int(random, 4) }, () => int(random, 256)));
        break;
      case 3: {
        // duplicated region
        const length = 1 + int(random, 16);
        bytes.splice(at, 0, ...bytes.slice(at, at + length));
        break;
      }
      case 4: {
        // frame-length edit
        const frames = bytes.flatMap((b, j) => (b === 0x95 && j + 9 <= bytes.length ? [j] : []));
        if (frames.length > 0) {
          const j = pick(random, frames);
          const old = bytes[j + 1]! | (bytes[j + 2]! << 8);
          const next = Math.max(0, old + int(random, 11) - 5);
          bytes.splice(j + 1, 8, ...le(next, 8));
        }
        break;
      }
      case 5: // an opcode byte
        bytes.splice(at, 0, pick(random, [0x95, 0x2e, 0x28, 0x52, 0x81, 0x62, 0x93, 0x94, 0x0a]));
        break;
      case 6: {
        // a second stream appended
        const tail = randomPickle(random);
        bytes.push(...(chance(random, 0.5) ? [int(random, 256)] : []), ...tail);
        break;
      }
      default: // a byte replaced
        if (bytes.length > 0) bytes[at % bytes.length] = int(random, 256);
    }
  }
  return Uint8Array.from(bytes);
}

/** The next input: a fresh program most of the time, otherwise a mutation of the corpus. */
export function nextInput(random: Random, corpus: readonly Uint8Array[]): Uint8Array {
  if (corpus.length === 0 || chance(random, 0.6)) {
    const program = randomPickle(random);
    return chance(random, 0.3) ? mutate(random, program) : program;
  }
  return mutate(random, pick(random, corpus));
}
