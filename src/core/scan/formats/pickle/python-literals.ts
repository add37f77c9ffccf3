/**
 * Decoders for the text arguments of protocol 0 opcodes. They mirror what CPython accepts
 * closely enough that a name spelled with escapes (`S'o\x73'`) resolves as CPython resolves it.
 */

const simpleEscapes: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

/** STRING: a quoted Python 2 `repr` of a byte string. Returns undefined when CPython would refuse it. */
export function decodeStringLiteral(line: string): string | undefined {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
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
    if (next in simpleEscapes) out += simpleEscapes[next];
    else if (next === '\n') continue;
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

/** INT / LONG / GET / PUT: a decimal integer, as int() parses it. */
export function parseDecimal(line: string, allowLongSuffix = false): number | bigint | undefined {
  let text = line.trim();
  if (allowLongSuffix && text.endsWith('L')) text = text.slice(0, -1);
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const big = BigInt(text);
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}
