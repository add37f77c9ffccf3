import type { RandomAccess } from '../source.js';

/** Licence fields found inside a model file, as key and value. */
export interface MetadataLicense {
  format: 'safetensors' | 'gguf' | 'onnx';
  fields: { key: string; value: string }[];
  /** Set when the header could not be read to the end; the fields before the damage are kept. */
  problem?: string;
}

const licenseKey = /licen[cs]e/i;
/** Larger headers are not read for metadata: safetensors headers of real models stay far below this. */
const maxHeaderBytes = 16 << 20;
const maxStringBytes = 1 << 20;

export type MetadataReader = (random: RandomAccess) => Promise<MetadataLicense | undefined>;

/** safetensors: 8-byte little-endian length, then a JSON header whose `__metadata__` is a string map. */
export const readSafetensorsLicense: MetadataReader = async (random) => {
  const result: MetadataLicense = { format: 'safetensors', fields: [] };
  const prefix = await random.read(0, 8);
  if (prefix.length < 8) return { ...result, problem: 'shorter than a safetensors header' };
  const length = Number(new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true));
  if (length > maxHeaderBytes || 8 + length > random.size) {
    return { ...result, problem: `header length ${length} is larger than the file or 16 MiB` };
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await random.read(8, length)));
  } catch {
    return { ...result, problem: 'header is not valid JSON' };
  }
  const metadata = (header as Record<string, unknown> | null)?.__metadata__;
  if (metadata && typeof metadata === 'object') {
    for (const [key, value] of Object.entries(metadata)) {
      if (licenseKey.test(key) && typeof value === 'string') result.fields.push({ key, value });
    }
  }
  return result;
};

/** Buffered sequential reads over random access, so a GGUF vocabulary is skipped in large chunks. */
class Cursor {
  offset = 0;
  private chunk: Uint8Array = new Uint8Array(0);
  private chunkStart = 0;
  constructor(private readonly random: RandomAccess) {}

  async bytes(length: number): Promise<Uint8Array> {
    const start = this.offset - this.chunkStart;
    if (start < 0 || start + length > this.chunk.length) {
      this.chunk = await this.random.read(this.offset, Math.max(length, 64 * 1024));
      this.chunkStart = this.offset;
    }
    const from = this.offset - this.chunkStart;
    if (from + length > this.chunk.length) throw new RangeError('unexpected end of file');
    this.offset += length;
    return this.chunk.subarray(from, from + length);
  }

  async u32(): Promise<number> {
    const b = await this.bytes(4);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
  }

  async u64(): Promise<number> {
    const b = await this.bytes(8);
    const value = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('count out of range');
    return Number(value);
  }

  skip(length: number): void {
    if (this.offset + length > this.random.size) throw new RangeError('unexpected end of file');
    this.offset += length;
  }
}

const ggufFixedSizes: Record<number, number> = {
  0: 1,
  1: 1,
  2: 2,
  3: 2,
  4: 4,
  5: 4,
  6: 4,
  7: 1,
  10: 8,
  11: 8,
  12: 8,
};
const ggufString = 8;
const maxGgufValues = 16_000_000;
const ggufArray = 9;

/** GGUF: the `general.license*` keys of the key-value header (spec: an SPDX expression, a name, a link). */
export const readGgufLicense: MetadataReader = async (random) => {
  const result: MetadataLicense = { format: 'gguf', fields: [] };
  const cursor = new Cursor(random);
  try {
    if (new TextDecoder().decode(await cursor.bytes(4)) !== 'GGUF') return undefined;
    const version = await cursor.u32();
    if (version < 2 || version > 3) return { ...result, problem: `unsupported GGUF version ${version}` };
    await cursor.u64(); // tensor count
    const count = await cursor.u64();
    const text = async () => {
      const length = await cursor.u64();
      if (length > maxStringBytes) throw new RangeError('string longer than 1 MiB');
      return new TextDecoder().decode(await cursor.bytes(length));
    };
    // Real vocabularies hold a few hundred thousand strings; nesting is one level deep.
    let budget = maxGgufValues;
    const skipValue = async (type: number, depth = 0): Promise<void> => {
      if (--budget < 0) throw new RangeError(`more than ${maxGgufValues} values`);
      const size = ggufFixedSizes[type];
      if (size !== undefined) return cursor.skip(size);
      if (type === ggufString) return cursor.skip(await cursor.u64());
      if (type !== ggufArray) throw new RangeError(`unknown value type ${type}`);
      if (depth >= 4) throw new RangeError('arrays nested too deep');
      const itemType = await cursor.u32();
      const items = await cursor.u64();
      const itemSize = ggufFixedSizes[itemType];
      if (itemSize !== undefined) return cursor.skip(items * itemSize);
      for (let i = 0; i < items; i++) await skipValue(itemType, depth + 1);
    };
    for (let i = 0; i < count; i++) {
      const key = await text();
      const type = await cursor.u32();
      if (key.startsWith('general.license') && type === ggufString) {
        result.fields.push({ key, value: await text() });
      } else await skipValue(type);
    }
  } catch (error) {
    result.problem = `key-value header is damaged: ${(error as Error).message}`;
  }
  return result;
};

/**
 * ONNX: `ModelProto.metadata_props` (field 14, key/value entries). Protobuf fields are walked by
 * their lengths, so the graph and its weights (field 7) are skipped, not read.
 */
export const readOnnxLicense: MetadataReader = async (random) => {
  const result: MetadataLicense = { format: 'onnx', fields: [] };
  const cursor = new Cursor(random);
  const varint = async (): Promise<number> => {
    let value = 0;
    for (let shift = 0; shift < 56; shift += 7) {
      const byte = (await cursor.bytes(1))[0]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    throw new RangeError('varint too long');
  };
  try {
    while (cursor.offset < random.size) {
      const tag = await varint();
      const field = Math.floor(tag / 8);
      const wire = tag % 8;
      if (wire === 0) await varint();
      else if (wire === 1) cursor.skip(8);
      else if (wire === 5) cursor.skip(4);
      else if (wire === 2) {
        const length = await varint();
        if (field === 14 && length <= maxStringBytes) {
          const entry = decodeStringPair(await cursor.bytes(length));
          if (entry && licenseKey.test(entry.key)) result.fields.push(entry);
        } else cursor.skip(length);
      } else throw new RangeError(`wire type ${wire} is not valid in a ModelProto`);
    }
  } catch (error) {
    result.problem = `not a readable ONNX model: ${(error as Error).message}`;
  }
  return result;
};

/** StringStringEntryProto: field 1 key, field 2 value, both length-delimited strings. */
function decodeStringPair(bytes: Uint8Array): { key: string; value: string } | undefined {
  const decoder = new TextDecoder();
  const out: { key?: string; value?: string } = {};
  let offset = 0;
  while (offset < bytes.length) {
    const tag = bytes[offset++]!;
    if (tag % 8 !== 2) return undefined;
    let length = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[offset++];
      if (byte === undefined || shift > 28) return undefined;
      length += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) break;
    }
    const text = decoder.decode(bytes.subarray(offset, offset + length));
    offset += length;
    if (tag >> 3 === 1) out.key = text;
    else if (tag >> 3 === 2) out.value = text;
  }
  return out.key !== undefined && out.value !== undefined ? { key: out.key, value: out.value } : undefined;
}

/** Readers by file extension: ONNX has no magic number, GGUF and safetensors are named by convention. */
export const metadataReaders: Record<string, MetadataReader> = {
  '.safetensors': readSafetensorsLicense,
  '.gguf': readGgufLicense,
  '.onnx': readOnnxLicense,
};
