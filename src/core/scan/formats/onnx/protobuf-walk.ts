import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import type { RandomAccess } from '../../../source.js';
import { DataError } from '../../data-error.js';

/** One field of a message: its number, wire type, and where its value lies. */
export interface Field {
  no: number;
  wire: WireType;
  /** Varint value (VARINT only). */
  value: bigint;
  /** Payload range (LEN only): a nested message, string or bytes, never read unless asked. */
  start: number;
  end: number;
}

/** The longest tag plus length (two 10-byte varints). */
const maxPrefix = 20;

/**
 * The fields of the message at [start, end) of `access`, decoded with @bufbuild/protobuf's
 * wire reader from a few bytes at a time: a LEN field's payload (a tensor's raw data, a whole
 * subgraph) is skipped by its length and read only if the caller descends into it.
 */
export async function* fields(access: RandomAccess, start: number, end: number): AsyncGenerator<Field> {
  let pos = start;
  while (pos < end) {
    const window = await access.read(pos, Math.min(maxPrefix, end - pos));
    const reader = new BinaryReader(window);
    let no: number;
    let wire: WireType;
    try {
      [no, wire] = reader.tag();
    } catch {
      throw new DataError(`invalid field tag at offset ${pos}`);
    }
    const at = pos;
    const field: Field = { no, wire, value: 0n, start: 0, end: 0 };
    try {
      switch (wire) {
        case WireType.Varint:
          field.value = BigInt(reader.uint64());
          pos += reader.pos;
          break;
        case WireType.Bit64:
          pos += reader.pos + 8;
          break;
        case WireType.Bit32:
          pos += reader.pos + 4;
          break;
        case WireType.LengthDelimited: {
          const length = BigInt(reader.uint64());
          field.start = pos + reader.pos;
          if (length > BigInt(end - field.start)) {
            throw new DataError(
              `field ${no} at offset ${at} claims ${length} bytes, past the end of its message`,
            );
          }
          field.end = field.start + Number(length);
          pos = field.end;
          break;
        }
        default:
          throw new DataError(`field ${no} at offset ${at} uses wire type ${wire}, which ONNX never writes`);
      }
    } catch (error) {
      if (error instanceof DataError) throw error;
      throw new DataError(`field ${no} at offset ${at} is truncated`);
    }
    if (pos > end) throw new DataError(`field ${no} at offset ${at} runs past the end of its message`);
    yield field;
  }
}

/** A string field, at most `limit` bytes of it (longer ones are cut, with `…`). */
export async function readString(access: RandomAccess, field: Field, limit = 4096): Promise<string> {
  const length = Math.min(field.end - field.start, limit);
  const bytes = await access.read(field.start, length);
  const text = new TextDecoder().decode(bytes);
  return field.end - field.start > limit ? `${text}…` : text;
}

/** A small message (a map entry, an opset id) decoded whole, in memory. */
export function smallMessage(bytes: Uint8Array): Map<number, string | bigint> {
  const reader = new BinaryReader(bytes);
  const values = new Map<number, string | bigint>();
  try {
    while (reader.pos < reader.len) {
      const [no, wire] = reader.tag();
      if (wire === WireType.LengthDelimited) values.set(no, reader.string());
      else if (wire === WireType.Varint) values.set(no, BigInt(reader.uint64()));
      else reader.skip(wire, no);
    }
  } catch {
    throw new DataError('a small message is malformed');
  }
  return values;
}
