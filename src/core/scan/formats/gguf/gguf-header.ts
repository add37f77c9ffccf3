import type { ByteSource } from '../../../source.js';
import { DataError } from '../../data-error.js';
import { ByteCursor, TruncatedError } from './byte-cursor.js';

/** Bounds on what a header may declare; a real header stays far below every one. */
export interface GgufLimits {
  maxKeyValues: number;
  maxTensors: number;
  /** Items of one array whose items must be walked (strings, nested arrays). */
  maxWalkedArrayItems: number;
  maxArrayNesting: number;
  maxKeyBytes: number;
  /** Longest tensor name ggml accepts (GGML_MAX_NAME - 1). */
  maxTensorNameBytes: number;
  maxDims: number;
  /** Longest chat template kept for analysis; longer ones are reported, not analysed. */
  maxTemplateBytes: number;
}

export const defaultGgufLimits: GgufLimits = {
  maxKeyValues: 100_000,
  maxTensors: 1_000_000,
  maxWalkedArrayItems: 16_000_000,
  maxArrayNesting: 4,
  maxKeyBytes: 65_535,
  maxTensorNameBytes: 63,
  maxDims: 4,
  maxTemplateBytes: 1 << 20,
};

export type GgufProblemKind = 'malformed' | 'tensor' | 'duplicate';

export interface GgufProblem {
  kind: GgufProblemKind;
  message: string;
  offset?: number;
}

export interface GgufTemplate {
  key: string;
  /** Offset of the template text in the file. */
  offset: number;
  /** Undefined when the template is longer than `maxTemplateBytes`. */
  text: string | undefined;
  length: number;
}

export interface GgufHeader {
  version: number | undefined;
  bigEndian: boolean;
  tensorCount: number;
  keyValueCount: number;
  alignment: number;
  /** First byte after the tensor table (the data section starts at the next aligned offset). */
  headerEnd: number | undefined;
  templates: GgufTemplate[];
  problems: GgufProblem[];
}

enum ValueType {
  Uint8 = 0,
  Int8 = 1,
  Uint16 = 2,
  Int16 = 3,
  Uint32 = 4,
  Int32 = 5,
  Float32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  Uint64 = 10,
  Int64 = 11,
  Float64 = 12,
}

const fixedSizes: Record<number, number> = {
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

/** [elements per block, bytes per block] of each ggml tensor type (ggml.c type_traits). */
const ggmlTypes: Record<number, readonly [number, number]> = {
  0: [1, 4], // F32
  1: [1, 2], // F16
  2: [32, 18], // Q4_0
  3: [32, 20], // Q4_1
  6: [32, 22], // Q5_0
  7: [32, 24], // Q5_1
  8: [32, 34], // Q8_0
  9: [32, 36], // Q8_1
  10: [256, 84], // Q2_K
  11: [256, 110], // Q3_K
  12: [256, 144], // Q4_K
  13: [256, 176], // Q5_K
  14: [256, 210], // Q6_K
  15: [256, 292], // Q8_K
  16: [256, 66], // IQ2_XXS
  17: [256, 74], // IQ2_XS
  18: [256, 98], // IQ3_XXS
  19: [256, 50], // IQ1_S
  20: [32, 18], // IQ4_NL
  21: [256, 110], // IQ3_S
  22: [256, 82], // IQ2_S
  23: [256, 136], // IQ4_XS
  24: [1, 1], // I8
  25: [1, 2], // I16
  26: [1, 4], // I32
  27: [1, 8], // I64
  28: [1, 8], // F64
  29: [256, 56], // IQ1_M
  30: [1, 2], // BF16
  34: [256, 54], // TQ1_0
  35: [256, 66], // TQ2_0
  39: [32, 17], // MXFP4
  40: [64, 36], // NVFP4
};
/** Types ggml removed from GGUF files: loaders reject them. */
const removedTypes = new Set([4, 5, 31, 32, 33, 36, 37, 38]);
/** Ids past the table that newer ggml versions may define; sizes are not checked for them. */
const maxPlausibleType = 63;

/** Stops the parse: what follows cannot be located. */
class HeaderError extends DataError {}

function describe(n: bigint | number): string {
  return n.toString();
}

/**
 * Parses a GGUF header (versions 2 and 3, either byte order) without reading tensor data: the
 * metadata, the tensor table and the checks that every count, length and offset fits in the file.
 * Only chat templates are kept; every other value is skipped.
 */
export async function parseGgufHeader(source: ByteSource, limits = defaultGgufLimits): Promise<GgufHeader> {
  const cursor = new ByteCursor(source);
  const header: GgufHeader = {
    version: undefined,
    bigEndian: false,
    tensorCount: 0,
    keyValueCount: 0,
    alignment: 32,
    headerEnd: undefined,
    templates: [],
    problems: [],
  };
  const problem = (kind: GgufProblemKind, message: string, offset?: number) => {
    header.problems.push(offset === undefined ? { kind, message } : { kind, message, offset });
  };
  let littleEndian = true;

  const u32 = async () => {
    const bytes = await cursor.take(4);
    return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, littleEndian);
  };
  const u64 = async () => {
    const bytes = await cursor.take(8);
    return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, littleEndian);
  };
  /** A length or count that must fit, `unit` bytes per item at least, in what is left of the file. */
  const fits = (count: bigint, unit: number, what: string, at: number): number => {
    const remaining = cursor.remaining();
    const bound = remaining === undefined ? BigInt(Number.MAX_SAFE_INTEGER) : BigInt(remaining);
    if (count * BigInt(unit) > bound) {
      throw new HeaderError(
        `${what} ${describe(count)} at offset ${at} needs more bytes than the file holds${remaining === undefined ? '' : ` (${remaining} left)`}`,
      );
    }
    return Number(count);
  };
  const stringLength = async (what: string): Promise<{ length: number; at: number }> => {
    const at = cursor.position;
    const length = fits(await u64(), 1, `${what} length`, at);
    return { length, at: at + 8 };
  };
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const text = (bytes: Uint8Array, what: string, at: number): string => {
    try {
      return decoder.decode(bytes);
    } catch {
      throw new HeaderError(`${what} at offset ${at} is not valid UTF-8`);
    }
  };

  try {
    try {
      const magic = await cursor.take(4);
      if (String.fromCharCode(...magic) !== 'GGUF') throw new HeaderError('not a GGUF file');
      const versionBytes = await cursor.take(4);
      const view = new DataView(versionBytes.buffer, versionBytes.byteOffset, 4);
      let version = view.getUint32(0, true);
      // gguf-py writes big-endian files; their version reads as 0x03000000 in little-endian.
      if ((version & 0xffff) === 0 && version !== 0) {
        littleEndian = false;
        header.bigEndian = true;
        version = view.getUint32(0, false);
      }
      header.version = version;
      if (version === 1) throw new HeaderError('GGUF version 1 is obsolete and current loaders refuse it');
      if (version !== 2 && version !== 3) throw new HeaderError(`unknown GGUF version ${version}`);

      const tensorCountAt = cursor.position;
      const tensorCount = await u64();
      const keyValueCountAt = cursor.position;
      const keyValueCount = await u64();
      // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor 8 + 4 + 4 + 8.
      if (keyValueCount > BigInt(limits.maxKeyValues)) {
        throw new HeaderError(
          `metadata count ${describe(keyValueCount)} at offset ${keyValueCountAt} exceeds the limit of ${limits.maxKeyValues}`,
        );
      }
      if (tensorCount > BigInt(limits.maxTensors)) {
        throw new HeaderError(
          `tensor count ${describe(tensorCount)} at offset ${tensorCountAt} exceeds the limit of ${limits.maxTensors}`,
        );
      }
      header.keyValueCount = fits(keyValueCount, 13, 'metadata count', keyValueCountAt);
      header.tensorCount = fits(tensorCount, 24, 'tensor count', tensorCountAt);

      const keys = new Set<string>();
      let keyBytesKept = 0;
      for (let index = 0; index < header.keyValueCount; index++) {
        const keyAt = cursor.position;
        const { length: keyLength, at: keyTextAt } = await stringLength('metadata key');
        if (keyLength > limits.maxKeyBytes) {
          throw new HeaderError(
            `metadata key at offset ${keyAt} is ${keyLength} bytes long (limit ${limits.maxKeyBytes})`,
          );
        }
        const key = text(await cursor.take(keyLength), 'metadata key', keyTextAt);
        if (keys.has(key))
          problem('duplicate', `metadata key ${JSON.stringify(key)} appears more than once`, keyAt);
        else if (keyBytesKept < 16 << 20) {
          keys.add(key);
          keyBytesKept += keyLength;
        }
        const typeAt = cursor.position;
        const type = await u32();
        const isTemplate = key === 'tokenizer.chat_template' || key.startsWith('tokenizer.chat_template.');
        if (type === ValueType.String) {
          const { length, at } = await stringLength(`value of ${JSON.stringify(key)}`);
          if (isTemplate) {
            const keep = length <= limits.maxTemplateBytes;
            const value = keep
              ? text(await cursor.take(length), `value of ${JSON.stringify(key)}`, at)
              : undefined;
            if (!keep) await cursor.skip(length);
            header.templates.push({ key, offset: at, text: value, length });
          } else {
            await cursor.skip(length);
          }
        } else if (type === ValueType.Uint32 && key === 'general.alignment') {
          const alignment = await u32();
          if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
            problem('malformed', `general.alignment ${alignment} is not a power of two`, typeAt + 4);
          } else header.alignment = alignment;
        } else {
          if (key === 'general.alignment') {
            problem('malformed', `general.alignment has value type ${type}, not UINT32`, typeAt);
          }
          if (isTemplate) problem('malformed', `${key} has value type ${type}, not a string`, typeAt);
          await skipValue(type, typeAt, 0);
        }
      }

      const names = new Set<string>();
      const tensors: { name: string; offset: bigint; size: bigint | undefined; at: number }[] = [];
      for (let index = 0; index < header.tensorCount; index++) {
        const at = cursor.position;
        const { length: nameLength, at: nameAt } = await stringLength('tensor name');
        if (nameLength > limits.maxTensorNameBytes) {
          throw new HeaderError(
            `tensor name at offset ${at} is ${nameLength} bytes long (limit ${limits.maxTensorNameBytes})`,
          );
        }
        const name = text(await cursor.take(nameLength), 'tensor name', nameAt);
        const label = JSON.stringify(name);
        if (names.has(name)) problem('tensor', `tensor ${label} appears more than once`, at);
        names.add(name);
        const dimsAt = cursor.position;
        const dimCount = await u32();
        if (dimCount > limits.maxDims) {
          throw new HeaderError(`tensor ${label} has ${dimCount} dimensions (limit ${limits.maxDims})`);
        }
        let elements = 1n;
        for (let d = 0; d < dimCount; d++) {
          const dim = await u64();
          if (dim >= 1n << 63n) problem('tensor', `tensor ${label} has a negative dimension`, dimsAt);
          elements *= dim;
        }
        const typeAt = cursor.position;
        const type = await u32();
        const offset = await u64();
        let size: bigint | undefined;
        const traits = ggmlTypes[type];
        if (traits) {
          const [block, bytes] = traits;
          if (elements % BigInt(block) !== 0n) {
            problem(
              'tensor',
              `tensor ${label} has ${elements} elements, not a multiple of its block size ${block}`,
              at,
            );
          }
          size = (elements / BigInt(block)) * BigInt(bytes);
        } else if (removedTypes.has(type) || type > maxPlausibleType) {
          problem('tensor', `tensor ${label} has ggml type ${type}, which loaders do not accept`, typeAt);
        }
        if (offset % BigInt(header.alignment) !== 0n) {
          problem(
            'tensor',
            `tensor ${label} data offset ${offset} is not a multiple of the alignment ${header.alignment}`,
            at,
          );
        }
        tensors.push({ name: label, offset, size, at });
      }
      header.headerEnd = cursor.position;

      // The data section starts at the next multiple of the alignment; every tensor must lie in it.
      const align = BigInt(header.alignment);
      const dataStart = ((BigInt(cursor.position) + align - 1n) / align) * align;
      const fileSize = cursor.size === undefined ? undefined : BigInt(cursor.size);
      tensors.sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
      let previous: (typeof tensors)[number] | undefined;
      let reportedBounds = 0;
      for (const tensor of tensors) {
        const end = tensor.size === undefined ? undefined : dataStart + tensor.offset + tensor.size;
        if (fileSize !== undefined && end !== undefined && end > fileSize && reportedBounds++ < 5) {
          problem(
            'tensor',
            `tensor ${tensor.name} data ends at byte ${end}, past the end of the file (${fileSize} bytes)`,
            tensor.at,
          );
        }
        if (previous?.size !== undefined && previous.offset + previous.size > tensor.offset) {
          problem('tensor', `tensor ${tensor.name} overlaps the data of tensor ${previous.name}`, tensor.at);
        }
        previous = tensor;
      }
      if (reportedBounds > 5) {
        problem('tensor', `${reportedBounds - 5} more tensors end past the end of the file`);
      }
    } catch (error) {
      if (error instanceof TruncatedError) {
        throw new HeaderError(
          `header is truncated at offset ${cursor.position} (${cursor.size ?? 'unknown'} bytes)`,
        );
      }
      throw error;
    }
  } catch (error) {
    if (!(error instanceof HeaderError)) throw error;
    problem('malformed', error.message);
  } finally {
    await cursor.close();
  }
  return header;

  async function skipValue(type: number, at: number, depth: number): Promise<void> {
    const fixed = fixedSizes[type];
    if (fixed !== undefined) return cursor.skip(fixed);
    if (type === ValueType.String) {
      const { length } = await stringLength('string');
      return cursor.skip(length);
    }
    if (type !== ValueType.Array) throw new HeaderError(`unknown value type ${type} at offset ${at}`);
    if (depth >= limits.maxArrayNesting) {
      throw new HeaderError(`arrays nested more than ${limits.maxArrayNesting} deep at offset ${at}`);
    }
    const itemTypeAt = cursor.position;
    const itemType = await u32();
    const countAt = cursor.position;
    const count = await u64();
    const itemFixed = fixedSizes[itemType];
    if (itemFixed !== undefined) {
      return cursor.skip(fits(count, itemFixed, 'array length', countAt) * itemFixed);
    }
    if (itemType !== ValueType.String && itemType !== ValueType.Array) {
      throw new HeaderError(`unknown array item type ${itemType} at offset ${itemTypeAt}`);
    }
    const items = fits(count, itemType === ValueType.String ? 8 : 12, 'array length', countAt);
    if (items > limits.maxWalkedArrayItems) {
      throw new HeaderError(
        `array of ${items} items at offset ${countAt} exceeds the limit of ${limits.maxWalkedArrayItems}`,
      );
    }
    for (let i = 0; i < items; i++) await skipValue(itemType, itemTypeAt, depth + 1);
  }
}
