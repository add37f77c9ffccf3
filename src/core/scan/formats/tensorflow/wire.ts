import type { RandomAccess } from '../../../source.js';

/** A protobuf field whose value lies at [start, end) of the file (varints: `value` too). */
export interface WireField {
  number: number;
  wire: number;
  /** Offset of the field's tag. */
  at: number;
  start: number;
  end: number;
  value: number;
}

/** Input that is not the protobuf it claims to be: lengths past their message, bad wire types. */
export class WireError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/** Budget on the fields walked in one file: a file of millions of empty fields stays bounded in time. */
export class WireBudget {
  fields = 0;
  constructor(readonly maxFields: number) {}
}

/**
 * The fields of the message at [start, end), read lazily from random access: only tags and
 * lengths are read here, so walking past a tensor of a gigabyte costs one small read. Groups
 * (wire types 3 and 4) are not used by any TensorFlow message and are refused.
 */
export async function* fields(
  random: RandomAccess,
  start: number,
  end: number,
  budget: WireBudget,
): AsyncGenerator<WireField> {
  let at = start;
  while (at < end) {
    const head = await random.read(at, Math.min(20, end - at));
    const field = fieldAt(head, 0, at, end, budget);
    yield field;
    at = field.end;
  }
}

/** The same walk over bytes already in memory; `base` is the file offset of `bytes[0]`. */
export function* fieldsIn(
  bytes: Uint8Array,
  start: number,
  end: number,
  budget: WireBudget,
  base: number,
): Generator<WireField> {
  let at = start;
  while (at < end) {
    const field = fieldAt(bytes, at, base + at, base + end, budget);
    yield { ...field, start: field.start - base, end: field.end - base, at: field.at - base };
    at = field.end - base;
  }
}

/** The field whose tag is at `bytes[from]`, file offset `at`, inside a message ending at `end`. */
function fieldAt(bytes: Uint8Array, from: number, at: number, end: number, budget: WireBudget): WireField {
  if (++budget.fields > budget.maxFields) {
    throw new WireError(`more than ${budget.maxFields} protobuf fields`, at);
  }
  const tag = varint(bytes, from, at - from);
  const number = Math.floor(tag.value / 8);
  const wire = tag.value % 8;
  if (number === 0) throw new WireError(`field number 0 at offset ${at}`, at);
  let valueStart = at + tag.length;
  let valueEnd: number;
  let value = 0;
  switch (wire) {
    case 0: {
      const v = varint(bytes, from + tag.length, at - from);
      value = v.value;
      valueEnd = valueStart + v.length;
      break;
    }
    case 1:
      valueEnd = valueStart + 8;
      break;
    case 5:
      valueEnd = valueStart + 4;
      break;
    case 2: {
      const length = varint(bytes, from + tag.length, at - from);
      valueStart += length.length;
      valueEnd = valueStart + length.value;
      break;
    }
    default:
      throw new WireError(`field ${number} at offset ${at} has wire type ${wire}`, at);
  }
  if (valueEnd > end) {
    throw new WireError(
      `field ${number} at offset ${at} claims ${valueEnd - valueStart} bytes, past the end of its message at ${end}`,
      at,
    );
  }
  return { number, wire, at, start: valueStart, end: valueEnd, value };
}

/** A base-128 varint; values past 2^53 are reported as such (no TensorFlow length reaches them). */
function varint(bytes: Uint8Array, from: number, base: number): { value: number; length: number } {
  let value = 0;
  let scale = 1;
  for (let i = from; i < bytes.length && i < from + 10; i++) {
    const byte = bytes[i]!;
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if ((byte & 0x80) === 0) {
      if (!Number.isSafeInteger(value))
        throw new WireError(`varint at offset ${base + from} is too large`, base + from);
      return { value, length: i - from + 1 };
    }
  }
  throw new WireError(`truncated varint at offset ${base + from}`, base + from);
}

/** Reads a length-delimited field's bytes when they fit `max`; undefined when larger. */
export async function bytesOf(
  random: RandomAccess,
  field: WireField,
  max: number,
): Promise<Uint8Array | undefined> {
  if (field.end - field.start > max) return undefined;
  return random.read(field.start, field.end - field.start);
}

const utf8 = new TextDecoder();

/** A string field, cut at `max` bytes. */
export async function stringOf(random: RandomAccess, field: WireField, max = 4096): Promise<string> {
  return textOf(
    await random.read(field.start, Math.min(max, field.end - field.start)),
    field.end - field.start > max,
  );
}

export function textOf(bytes: Uint8Array, cut = false): string {
  const text = utf8.decode(bytes);
  return cut ? `${text}...` : text;
}
