/** A plain object of a parsed JSON or YAML document. */
export type ConfigObject = Record<string, unknown>;

export function isObject(value: unknown): value is ConfigObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Paths are spelled out this deep; deeper objects are still visited, under an elided path. */
const maxPathDepth = 48;

/**
 * Visits every object of a parsed document, depth first in document order, without recursion
 * (configs nested 100,000 deep must not overflow the stack). `path` is a JSONPath-like location
 * (`config.layers[2].config`). Returns false when `maxNodes` values were visited before the end.
 */
export function walkObjects(
  root: unknown,
  visit: (object: ConfigObject, path: string) => void,
  maxNodes = 10_000_000,
): boolean {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: root, path: '', depth: 0 }];
  let visited = 0;
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (++visited > maxNodes) return false;
    const child = (key: string | number) => {
      if (depth >= maxPathDepth) return path.endsWith('…') ? path : `${path}…`;
      if (typeof key === 'number') return `${path}[${key}]`;
      return path === '' ? key : `${path}.${key}`;
    };
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) {
        const item = value[i];
        if (typeof item === 'object' && item !== null)
          stack.push({ value: item, path: child(i), depth: depth + 1 });
      }
    } else if (isObject(value)) {
      visit(value, path);
      const keys = Object.keys(value);
      for (let i = keys.length - 1; i >= 0; i--) {
        const item = value[keys[i]!];
        if (typeof item === 'object' && item !== null) {
          stack.push({ value: item, path: child(keys[i]!), depth: depth + 1 });
        }
      }
    }
  }
  return true;
}

/** Leading bytes of a text document: no NUL, no C0 controls other than whitespace, valid UTF-8. */
export function looksLikeText(head: Uint8Array): boolean {
  const sample = head.subarray(0, 4096);
  for (const byte of sample) {
    if (byte === 0 || (byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d)) return false;
  }
  try {
    // The sample may cut a multi-byte character; drop up to three trailing bytes before checking.
    new TextDecoder('utf-8', { fatal: true }).decode(trimPartial(sample));
    return true;
  } catch {
    return false;
  }
}

function trimPartial(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  for (let i = 0; i < 3 && end > 0 && (bytes[end - 1]! & 0xc0) === 0x80; i++) end--;
  if (end > 0 && bytes[end - 1]! >= 0xc0) end--;
  return bytes.subarray(0, end);
}
