/**
 * Python Jinja decodes string literals with Python's `unicode-escape` (`\x5f`, `\137`, `\u005f`,
 * `\U0000005f`, `\N{LOW LINE}`, `\\`, `\"`), and `@huggingface/jinja` accepts only a few of these
 * escapes. So before parsing, every string literal inside a tag is decoded as Python decodes it and
 * written back with escapes the parser accepts: the parser then sees the characters Python renders,
 * and a name hidden behind escapes is analysed like any other. `{% raw %}` blocks, which the parser
 * does not know, become the string expression Jinja prints for them. Text outside tags is kept.
 */

import { pythonSimpleEscapes } from '../python-escapes.js';
export function normalizeTemplate(source: string): string {
  let out = '';
  let at = 0;
  const length = source.length;
  while (at < length) {
    const open = findOpen(source, at);
    if (open === -1) {
      out += source.slice(at);
      break;
    }
    out += source.slice(at, open);
    const kind = source[open + 1];
    if (kind === '#') {
      const close = source.indexOf('#}', open + 2);
      const end = close === -1 ? length : close + 2;
      out += source.slice(open, end);
      at = end;
      continue;
    }
    const closer = kind === '{' ? '}}' : '%}';
    const raw = /^\{%(-|\+)?\s*raw\s*(-|\+)?%\}/.exec(source.slice(open, open + 64));
    if (raw) {
      const bodyStart = open + raw[0].length;
      const endRaw = /\{%(-|\+)?\s*endraw\s*(-|\+)?%\}/g;
      endRaw.lastIndex = bodyStart;
      const end = endRaw.exec(source);
      if (end) {
        out += `{{ '${encode(source.slice(bodyStart, end.index))}' }}`;
        at = end.index + end[0].length;
        continue;
      }
    }
    // Inside a tag: copy up to the closer, rewriting string literals.
    let i = open + 2;
    out += source.slice(open, i);
    while (i < length) {
      const c = source[i]!;
      if (c === "'" || c === '"') {
        const literal = readLiteral(source, i, c);
        if (!literal) {
          // An unterminated string: leave the rest for the parser to reject.
          out += source.slice(i);
          i = length;
          break;
        }
        out += `'${encode(literal.value)}'`;
        i = literal.end;
        continue;
      }
      if (c === '(' && /^\(\s*\)/.test(source.slice(i, i + 64)) && !isCallPosition(out.slice(-64))) {
        // An empty tuple `()`, the usual start of an escape: the parser knows only lists.
        const close = source.indexOf(')', i);
        out += '[]';
        i = close + 1;
        continue;
      }
      if (source.startsWith(closer, i)) {
        out += closer;
        i += 2;
        break;
      }
      out += c;
      i++;
    }
    at = i;
  }
  return out;
}

const keywords = new Set(['in', 'not', 'and', 'or', 'is', 'if', 'else', 'elif', 'for', 'set', 'return']);

/** Whether `(` after `before` calls something (`f()`, `x[0]()`) rather than opening a tuple. */
function isCallPosition(before: string): boolean {
  if (/[)\]'"]\s*$/.test(before)) return true;
  const word = /([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(before)?.[1];
  return word !== undefined && !keywords.has(word);
}

function findOpen(source: string, from: number): number {
  let at = from;
  while (true) {
    at = source.indexOf('{', at);
    if (at === -1) return -1;
    const next = source[at + 1];
    if (next === '{' || next === '%' || next === '#') return at;
    at++;
  }
}

/** Reads a Jinja string literal at `start` and decodes it as Python's `unicode-escape` does. */
function readLiteral(
  source: string,
  start: number,
  quote: string,
): { value: string; end: number } | undefined {
  let value = '';
  let i = start + 1;
  while (i < source.length) {
    const c = source[i]!;
    if (c === quote) return { value, end: i + 1 };
    if (c !== '\\') {
      value += c;
      i++;
      continue;
    }
    const e = source[i + 1];
    if (e === undefined) return undefined;
    if (Object.hasOwn(pythonSimpleEscapes, e)) {
      value += pythonSimpleEscapes[e];
      i += 2;
    } else if (e === 'x' || e === 'u' || e === 'U') {
      const digits = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = source.slice(i + 2, i + 2 + digits);
      const code =
        /^[0-9a-fA-F]+$/.test(hex) && hex.length === digits ? Number.parseInt(hex, 16) : Number.NaN;
      if (Number.isNaN(code) || code > 0x10ffff) {
        value += `\\${e}`;
        i += 2;
      } else {
        value += String.fromCodePoint(code);
        i += 2 + digits;
      }
    } else if (e >= '0' && e <= '7') {
      const octal = /^[0-7]{1,3}/.exec(source.slice(i + 1, i + 4))![0];
      value += String.fromCodePoint(Number.parseInt(octal, 8));
      i += 1 + octal.length;
    } else if (e === 'N' && source[i + 2] === '{') {
      const close = source.indexOf('}', i + 3);
      const name = close === -1 ? '' : source.slice(i + 3, close);
      const named = unicodeNames[name.toUpperCase()];
      if (named === undefined) {
        // A name we cannot resolve: keep a marker the analysis treats as unknown text.
        value += `\\N{${name}}`;
        i = close === -1 ? i + 2 : close + 1;
      } else {
        value += named;
        i = close + 1;
      }
    } else {
      // Python keeps unknown escapes as written.
      value += `\\${e}`;
      i += 2;
    }
  }
  return undefined;
}

/** The names of the characters Python identifiers and attribute paths are built from. */
const unicodeNames: Record<string, string> = (() => {
  const names: Record<string, string> = {
    'LOW LINE': '_',
    'FULL STOP': '.',
    'LEFT SQUARE BRACKET': '[',
    'RIGHT SQUARE BRACKET': ']',
    'LEFT PARENTHESIS': '(',
    'RIGHT PARENTHESIS': ')',
    SPACE: ' ',
    APOSTROPHE: "'",
    'QUOTATION MARK': '"',
    SOLIDUS: '/',
    'REVERSE SOLIDUS': '\\',
  };
  for (let c = 0; c < 26; c++) {
    const upper = String.fromCharCode(65 + c);
    names[`LATIN CAPITAL LETTER ${upper}`] = upper;
    names[`LATIN SMALL LETTER ${upper}`] = upper.toLowerCase();
  }
  const digits = ['ZERO', 'ONE', 'TWO', 'THREE', 'FOUR', 'FIVE', 'SIX', 'SEVEN', 'EIGHT', 'NINE'];
  digits.forEach((name, digit) => {
    names[`DIGIT ${name}`] = String(digit);
  });
  return names;
})();

/** Writes `value` with only the escapes the parser accepts (`\xNN`, `\uNNNN`). */
function encode(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    const c = value[i]!;
    if (c === '\\' || c === "'" || c === '"' || code < 0x20 || code === 0x7f) {
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    } else out += c;
  }
  return out;
}
