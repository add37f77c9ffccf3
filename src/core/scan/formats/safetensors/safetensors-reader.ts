import type { ByteSource } from '../../../source.js';
import type { ScanContext } from '../../context.js';
import type { FormatReader } from '../../format-reader.js';

/** The safetensors library refuses larger headers (`HeaderTooLarge`). */
export const maxSafetensorsHeader = 100_000_000;

/** Bits per element, as `Dtype::bitsize` in the safetensors crate. */
const dtypeBits: Readonly<Record<string, number>> = {
  BOOL: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
};

/**
 * Bytes 4 to 7 of a header length under the cap are zeros, an invalid opcode: pickle.load stops
 * there after at most four opcodes, which cannot import anything.
 */
const notPickle = { notPickle: true } as const;

/** Findings of one kind past this count are summed up in one finding. */
const maxReportsPerRule = 20;

interface Tensor {
  name: string;
  begin: number;
  end: number;
}

/**
 * safetensors: an 8-byte little-endian header length, a JSON header, then the tensor bytes.
 * Only the header is read; it is checked as the safetensors crate checks it, and more strictly
 * where readers disagree (duplicate keys, trailing bytes).
 */
export const safetensorsReader: FormatReader = {
  id: 'safetensors',
  description: 'safetensors file',
  detect(head) {
    if (head.length < 10 || head[8] !== 0x7b) return false;
    const length = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
    // `{"`, `{}` or `{` and blanks: the header is a JSON object.
    return length > 1n && length < 2n ** 53n && /^[\s"}]$/.test(String.fromCharCode(head[9]!));
  },
  async scan(source, context, head) {
    const length = Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true));
    const report = limitedReporter(context);
    if (length > maxSafetensorsHeader) {
      report(
        'safetensorsHeader',
        `header length ${length} exceeds the ${maxSafetensorsHeader}-byte limit of safetensors readers`,
        0,
      );
      return undefined;
    }
    if (source.size !== undefined && 8 + length > source.size) {
      report(
        'safetensorsHeader',
        `header length ${length} runs past the end of the file (${source.size} bytes)`,
        0,
      );
      return notPickle;
    }
    const bytes = await readHeader(source, head, length);
    if (bytes.length < length) {
      report(
        'safetensorsHeader',
        `header length ${length} runs past the end of the data (${8 + bytes.length} bytes)`,
        0,
      );
      return notPickle;
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      report('safetensorsHeader', 'header is not valid UTF-8', 8);
      return notPickle;
    }
    let header: unknown;
    try {
      header = JSON.parse(text);
    } catch {
      report('safetensorsHeader', 'header is not valid JSON', 8);
      return notPickle;
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) {
      report('safetensorsHeader', 'header is not a JSON object', 8);
      return notPickle;
    }
    for (const key of duplicateKeys(text)) {
      report(
        'safetensorsDuplicateKey',
        `header repeats the key ${JSON.stringify(key)}; parsers disagree on which one counts`,
        8,
      );
    }
    const dataSize = source.size === undefined ? undefined : source.size - 8 - length;
    const tensors: Tensor[] = [];
    for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        checkMetadata(entry, report);
        continue;
      }
      const tensor = checkTensor(name, entry, report);
      if (tensor) tensors.push(tensor);
    }
    checkLayout(tensors, dataSize, report);
    report.flush();
    return notPickle;
  },
};

type RuleKey =
  | 'safetensorsHeader'
  | 'safetensorsTensor'
  | 'safetensorsLayout'
  | 'safetensorsMetadata'
  | 'safetensorsDuplicateKey';

type Report = ((rule: RuleKey, message: string, offset?: number) => void) & { flush(): void };

/** A hostile header can hold millions of bad entries: report the first few of each rule, count the rest. */
function limitedReporter(context: ScanContext): Report {
  const counts = new Map<RuleKey, number>();
  const report = (rule: RuleKey, message: string, offset?: number) => {
    const count = (counts.get(rule) ?? 0) + 1;
    counts.set(rule, count);
    if (count <= maxReportsPerRule) context.report(rule, message, offset === undefined ? {} : { offset });
  };
  report.flush = () => {
    for (const [rule, count] of counts) {
      if (count > maxReportsPerRule) {
        context.report(rule, `${count - maxReportsPerRule} more problems of this kind in the header`, {
          count: count - maxReportsPerRule,
        });
      }
    }
  };
  return report;
}

async function readHeader(source: ByteSource, head: Uint8Array, length: number): Promise<Uint8Array> {
  if (8 + length <= head.length) return head.subarray(8, 8 + length);
  if (source.random) return source.random.read(8, length);
  return (await source.head(8 + length)).subarray(8);
}

const label = (name: string) => `tensor ${JSON.stringify(name)}`;

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function checkTensor(name: string, entry: unknown, report: Report): Tensor | undefined {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    report('safetensorsTensor', `${label(name)} is not an object with dtype, shape and data_offsets`);
    return undefined;
  }
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  const bits = typeof dtype === 'string' && Object.hasOwn(dtypeBits, dtype) ? dtypeBits[dtype]! : undefined;
  if (bits === undefined)
    report('safetensorsTensor', `${label(name)} has unknown dtype ${JSON.stringify(dtype) ?? 'undefined'}`);
  const shapeOk = Array.isArray(shape) && shape.every(isIndex);
  if (!shapeOk)
    report(
      'safetensorsTensor',
      `${label(name)} has an invalid shape (a list of non-negative integers is required)`,
    );
  const offsetsOk =
    Array.isArray(offsets) && offsets.length === 2 && isIndex(offsets[0]) && isIndex(offsets[1]);
  if (!offsetsOk) {
    report(
      'safetensorsTensor',
      `${label(name)} has invalid data_offsets (two non-negative integers are required)`,
    );
    return undefined;
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) {
    report('safetensorsTensor', `${label(name)} ends (${end}) before it begins (${begin})`);
    return undefined;
  }
  if (bits !== undefined && shapeOk) {
    const elementBits = (shape as number[]).reduce((product, n) => product * BigInt(n), 1n) * BigInt(bits);
    if (elementBits % 8n !== 0n) {
      report('safetensorsTensor', `${label(name)} of ${dtype} ${shapeText(shape)} does not fill whole bytes`);
    } else if (elementBits / 8n !== BigInt(end - begin)) {
      report(
        'safetensorsTensor',
        `${label(name)} of ${dtype} ${shapeText(shape)} needs ${elementBits / 8n} bytes but its range [${begin}, ${end}) holds ${end - begin}`,
      );
    }
  }
  return { name, begin, end };
}

function shapeText(shape: unknown): string {
  const text = JSON.stringify(shape);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function checkLayout(tensors: Tensor[], dataSize: number | undefined, report: Report): void {
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let last: Tensor | undefined;
  for (const tensor of tensors) {
    if (tensor.begin < covered && last) {
      report(
        'safetensorsLayout',
        `${label(tensor.name)} overlaps ${label(last.name)} (bytes ${tensor.begin} to ${Math.min(covered, tensor.end)})`,
      );
    } else if (tensor.begin > covered) {
      report(
        'safetensorsLayout',
        `${tensor.begin - covered} bytes before ${label(tensor.name)} belong to no tensor`,
      );
    }
    if (dataSize !== undefined && tensor.end > dataSize) {
      report(
        'safetensorsLayout',
        `${label(tensor.name)} ends at ${tensor.end}, past the end of the data section (${dataSize} bytes)`,
      );
    }
    if (tensor.end > covered) {
      covered = tensor.end;
      last = tensor;
    }
  }
  if (dataSize !== undefined && covered < dataSize) {
    report('safetensorsLayout', `${dataSize - covered} bytes after the last tensor belong to no tensor`);
  }
}

function checkMetadata(entry: unknown, report: Report): void {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    report('safetensorsMetadata', '__metadata__ is not an object');
    return;
  }
  for (const [key, value] of Object.entries(entry)) {
    if (typeof value !== 'string') {
      report(
        'safetensorsMetadata',
        `__metadata__ ${JSON.stringify(key)} is a ${value === null ? 'null' : Array.isArray(value) ? 'list' : typeof value}, not a string`,
      );
    }
  }
}

/**
 * Keys that appear twice in one object, found by walking the text: JSON.parse keeps the last
 * one silently. Iterative, so nesting depth costs no stack. The text is already valid JSON.
 */
export function duplicateKeys(text: string): string[] {
  const stack: (Set<string> | undefined)[] = [];
  const found: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b) stack.push(new Set());
    else if (c === 0x5b) stack.push(undefined);
    else if (c === 0x7d || c === 0x5d) stack.pop();
    else if (c === 0x22) {
      let j = i + 1;
      while (j < text.length && text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      const token = text.slice(i, j + 1);
      let k = j + 1;
      while (k < text.length && /\s/.test(text[k]!)) k++;
      const keys = stack.at(-1);
      if (keys && text[k] === ':') {
        const key = JSON.parse(token) as string;
        if (keys.has(key)) found.push(key);
        keys.add(key);
      }
      i = j;
    }
  }
  return found;
}
