/**
 * Decoders for the text arguments of protocol 0 opcodes. They mirror what CPython accepts
 * closely enough that a name spelled with escapes (`S'o\x73'`) resolves as CPython resolves it.
 */

import { pythonSimpleEscapes } from '../python-escapes.js';

/** STRING: a quoted Python 2 `repr` of a byte string. Returns undefined when CPython would refuse it. */
export function decodeStringLiteral(text: string): string | undefined {
  // Only the newline is stripped: a '\r' before it is not a quote, and CPython refuses the line.
  if (text.length < 2) return undefined;
  const quote = text[0];
  if ((quote !== "'" && quote !== '"') || text[text.length - 1] !== quote) return undefined;
  return decodeEscapes(text.slice(1, -1));
}

function decodeEscapes(body: string): string | undefined {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const next = body[++i];
    if (next === undefined) return undefined;
    if (Object.hasOwn(pythonSimpleEscapes, next)) out += pythonSimpleEscapes[next];
    else if (next === 'x') {
      const hex = body.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return undefined;
      out += String.fromCharCode(Number.parseInt(hex, 16));
      i += 2;
    } else if (/[0-7]/.test(next)) {
      const oct = /^[0-7]{1,3}/.exec(body.slice(i))![0];
      out += String.fromCharCode(Number.parseInt(oct, 8) & 0xff);
      i += oct.length - 1;
    } else out += `\\${next}`;
  }
  return out;
}

/** UNICODE: raw-unicode-escape, where only \uXXXX and \UXXXXXXXX are escapes. */
export function decodeRawUnicodeEscape(line: string): string {
  return line.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, short: string, long: string) => {
    const code = Number.parseInt(short ?? long, 16);
    return code <= 0x10ffff ? String.fromCodePoint(code) : '\ufffd';
  });
}

/**
 * The C unpickler copies a line and parses it as a C string, so a NUL ends the number
 * (`I12\0junk` is 12). The pure-Python unpickler refuses those; it accepts nothing the C one does not.
 */
function cString(text: string): string {
  const nul = text.indexOf('\0');
  return nul < 0 ? text : text.slice(0, nul);
}

const pySpace = /[ \t\n\r\f\v]/;

/** Both C's strtol and PyLong_FromString skip ASCII blanks, then take one sign. */
function blanksAndSign(s: string): { at: number; negative: boolean } {
  let at = 0;
  while (at < s.length && pySpace.test(s[at]!)) at++;
  const negative = s[at] === '-';
  if (s[at] === '+' || negative) at++;
  return { at, negative };
}

/** PyLong_FromString(text, NULL, base) for base 0 (Python literal syntax) or 10; undefined where it raises. */
export function pyLongFromString(s: string, base: 0 | 10): bigint | undefined {
  let { at: i, negative } = blanksAndSign(s);
  let radix = 10;
  let zerosOnly = false;
  if (base === 0) {
    const prefix = s.slice(i, i + 2).toLowerCase();
    if (prefix === '0x') radix = 16;
    else if (prefix === '0o') radix = 8;
    else if (prefix === '0b') radix = 2;
    else if (s[i] === '0') zerosOnly = true;
    if (radix !== 10) {
      i += 2;
      if (s[i] === '_') i++;
    }
  }
  if (s[i] === '_') return undefined;
  const start = i;
  let digits = '';
  let previous = '';
  while (i < s.length) {
    const ch = s[i]!;
    if (ch === '_') {
      if (previous === '_') return undefined;
    } else if (Number.isNaN(Number.parseInt(ch, radix)) || !/[0-9a-zA-Z]/.test(ch)) break;
    else digits += ch;
    previous = ch;
    i++;
  }
  if (previous === '_') return undefined;
  if (i === start || digits === '') return undefined;
  while (i < s.length && pySpace.test(s[i]!)) i++;
  if (i !== s.length) return undefined;
  const prefixes: Record<number, string> = { 16: '0x', 8: '0o', 2: '0b', 10: '' };
  const value = BigInt(`${prefixes[radix]}${digits}`);
  if (zerosOnly && value !== 0n) return undefined;
  return negative ? -value : value;
}

const longMin = -(2n ** 63n);
const longMax = 2n ** 63n - 1n;

/** glibc's strtol(s, &end, 0): the value and where it stopped; `end` 0 when no digits were read. */
function strtol0(s: string): { value: bigint; end: number; overflow: boolean } {
  let { at: i, negative } = blanksAndSign(s);
  let radix = 10;
  if (s[i] === '0') {
    if ((s[i + 1] === 'x' || s[i + 1] === 'X') && /[0-9a-fA-F]/.test(s[i + 2] ?? '')) {
      radix = 16;
      i += 2;
    } else radix = 8;
  }
  const pattern = radix === 16 ? /[0-9a-fA-F]/ : radix === 8 ? /[0-7]/ : /[0-9]/;
  const start = i;
  while (i < s.length && pattern.test(s[i]!)) i++;
  if (i === start) return { value: 0n, end: 0, overflow: false };
  const prefix = radix === 16 ? '0x' : radix === 8 ? '0o' : '';
  let value = BigInt(`${prefix}${s.slice(start, i)}`);
  if (negative) value = -value;
  return { value, end: i, overflow: value < longMin || value > longMax };
}

export type IntLiteral = { bool: true } | { bool: false; value: bigint | undefined };

/**
 * INT as CPython's C unpickler reads it (load_int): strtol with base 0, which takes C octal
 * (`017`) and stops at a NUL, then Python's int() syntax (`0x2a`, `0o17`, `1_000`, blanks) for
 * what strtol leaves. `00` and `01` of protocol 0 are bools. Undefined where CPython raises.
 * `value` is undefined for a line too long to keep, which CPython may still accept.
 */
export function parseIntLiteral(text: string, whole = true): IntLiteral | undefined {
  if (text.length < 1) return undefined;
  if (!whole) return { bool: false, value: undefined };
  const line = `${text}\n`;
  const c = cString(line);
  const parsed = strtol0(c);
  const stop = c[parsed.end] ?? '\0';
  if (!parsed.overflow && (stop === '\n' || stop === '\0')) {
    if (line.length === 3 && (parsed.value === 0n || parsed.value === 1n)) return { bool: true };
    return { bool: false, value: parsed.value };
  }
  const value = pyLongFromString(c, 0);
  return value === undefined ? undefined : { bool: false, value };
}

/** LONG (load_long): a trailing `L` is dropped, then Python's int() syntax with base 0. */
export function parseLongLiteral(text: string, whole = true): IntLiteral | undefined {
  if (text.length < 1) return undefined;
  if (!whole) return { bool: false, value: undefined };
  const body = text.endsWith('L') ? text.slice(0, -1) : text;
  const value = pyLongFromString(cString(`${body}\n`), 0);
  return value === undefined ? undefined : { bool: false, value };
}

/** GET / PUT: a base-10 index (underscores, blanks, leading zeros allowed), as load_get and load_put read it. */
export function parseMemoIndex(text: string, whole = true): bigint | undefined {
  if (text.length < 1 || !whole) return undefined;
  return pyLongFromString(cString(`${text}\n`), 10);
}
