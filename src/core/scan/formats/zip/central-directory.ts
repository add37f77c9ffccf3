import type { RandomAccess } from '../../../source.js';

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** Offset of the local header, corrected for data prepended to the archive. */
  localHeaderOffset: number;
}

export interface CentralDirectory {
  entries: ZipEntry[];
  /** Set when the directory is truncated or inconsistent; entries read before the damage are kept. */
  damage: string | undefined;
  /** Entries the directory holds past `maxEntries`, which were not read. */
  omitted: number;
  /** Set when the end record's count disagrees with the entries the directory holds. */
  countMismatch?: string | undefined;
}

const eocdSignature = 0x06054b50;
const zip64LocatorSignature = 0x07064b50;
const zip64EocdSignature = 0x06064b50;
const centralSignature = 0x02014b50;
const maxComment = 0xffff;
const eocdSize = 22;

/** Finds the end-of-central-directory record in the last 64 KiB; undefined when there is none. */
export async function findEndOfCentralDirectory(
  random: RandomAccess,
): Promise<{ offset: number; record: DataView } | undefined> {
  const tailLength = Math.min(random.size, maxComment + eocdSize);
  if (tailLength < eocdSize) return undefined;
  const tailStart = random.size - tailLength;
  const tail = await random.read(tailStart, tailLength);
  const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  for (let i = tail.length - eocdSize; i >= 0; i--) {
    if (view.getUint32(i, true) === eocdSignature) {
      return { offset: tailStart + i, record: new DataView(tail.buffer, tail.byteOffset + i, eocdSize) };
    }
  }
  return undefined;
}

/** Reads the central directory, including ZIP64 records; bounded by `maxEntries` and `maxBytes`. */
export async function readCentralDirectory(
  random: RandomAccess,
  limits: { maxEntries: number; maxBytes: number },
): Promise<CentralDirectory | undefined> {
  const eocd = await findEndOfCentralDirectory(random);
  if (!eocd) return undefined;
  let entryCount = eocd.record.getUint16(10, true);
  let cdSize = eocd.record.getUint32(12, true);
  let cdOffset = eocd.record.getUint32(16, true);
  let cdEnd = eocd.offset;
  // Writers such as PyTorch's add ZIP64 records even to small archives; they sit before the EOCD.
  const zip64 = await readZip64(random, eocd.offset);
  if (zip64) {
    ({ entryCount, cdSize, cdOffset } = zip64);
    cdEnd = zip64.recordOffset;
  }
  // Data prepended to the archive shifts every offset; CPython and miniz both correct for it.
  const shift = Math.max(0, cdEnd - cdSize - cdOffset);
  const start = cdOffset + shift;
  if (cdSize > limits.maxBytes) {
    return { entries: [], damage: `central directory of ${cdSize} bytes exceeds the limit`, omitted: 0 };
  }
  if (start + cdSize > random.size) {
    return { entries: [], damage: 'central directory lies beyond the end of the file', omitted: 0 };
  }
  const bytes = await random.read(start, cdSize);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder('utf-8');
  const entries: ZipEntry[] = [];
  let at = 0;
  let damage: string | undefined;
  let found = 0;
  // Walked by its size, as CPython's zipfile (and so numpy.load) does: the 16-bit count in the end
  // record may be wrong or wrapped, and miniz (torch.load) trusts it, so a mismatch is reported.
  while (at < bytes.length) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== centralSignature) {
      if (found < entryCount) damage = `central directory ends after ${found} of ${entryCount} entries`;
      break;
    }
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const next = at + 46 + nameLength + extraLength + commentLength;
    if (next > bytes.length) {
      damage = `central directory entry ${found + 1} is truncated`;
      break;
    }
    found++;
    // Past the bound, entries are only counted.
    if (entries.length < limits.maxEntries) {
      const entry: ZipEntry = {
        name: decoder.decode(bytes.subarray(at + 46, at + 46 + nameLength)),
        method: view.getUint16(at + 10, true),
        flags: view.getUint16(at + 8, true),
        crc32: view.getUint32(at + 16, true),
        compressedSize: view.getUint32(at + 20, true),
        size: view.getUint32(at + 24, true),
        localHeaderOffset: view.getUint32(at + 42, true),
      };
      applyZip64Extra(entry, view, at + 46 + nameLength, extraLength);
      entry.localHeaderOffset += shift;
      entries.push(entry);
    }
    at = next;
  }
  const countMismatch =
    !damage && found !== entryCount
      ? `the central directory holds ${found} entries but its end record declares ${entryCount}; loaders that trust the count (PyTorch) see other members than those that walk the directory (zipfile, numpy)`
      : undefined;
  return { entries, damage, omitted: damage ? 0 : found - entries.length, countMismatch };
}

async function readZip64(
  random: RandomAccess,
  eocdOffset: number,
): Promise<{ entryCount: number; cdSize: number; cdOffset: number; recordOffset: number } | undefined> {
  if (eocdOffset < 20) return undefined;
  const locator = await random.read(eocdOffset - 20, 20);
  const lv = new DataView(locator.buffer, locator.byteOffset, locator.byteLength);
  if (lv.getUint32(0, true) !== zip64LocatorSignature) return undefined;
  const recordOffset = Number(lv.getBigUint64(8, true));
  if (recordOffset + 56 > random.size) return undefined;
  const record = await random.read(recordOffset, 56);
  const rv = new DataView(record.buffer, record.byteOffset, record.byteLength);
  if (rv.getUint32(0, true) !== zip64EocdSignature) return undefined;
  return {
    entryCount: Number(rv.getBigUint64(32, true)),
    cdSize: Number(rv.getBigUint64(40, true)),
    cdOffset: Number(rv.getBigUint64(48, true)),
    recordOffset,
  };
}

/** The ZIP64 extra field holds whichever of the sizes and offset overflowed, in this order. */
function applyZip64Extra(entry: ZipEntry, view: DataView, start: number, length: number): void {
  let at = start;
  const end = start + length;
  while (at + 4 <= end) {
    const id = view.getUint16(at, true);
    const size = view.getUint16(at + 2, true);
    if (id === 0x0001) {
      let field = at + 4;
      const take = () => {
        if (field + 8 > at + 4 + size) return undefined;
        const value = Number(view.getBigUint64(field, true));
        field += 8;
        return value;
      };
      if (entry.size === 0xffffffff) entry.size = take() ?? entry.size;
      if (entry.compressedSize === 0xffffffff) entry.compressedSize = take() ?? entry.compressedSize;
      if (entry.localHeaderOffset === 0xffffffff) entry.localHeaderOffset = take() ?? entry.localHeaderOffset;
      return;
    }
    at += 4 + size;
  }
}

export interface LocalHeader {
  name: string;
  dataOffset: number;
}

/** Reads the local header of an entry: where its data starts and the name it claims there. */
export async function readLocalHeader(
  random: RandomAccess,
  entry: ZipEntry,
): Promise<LocalHeader | undefined> {
  const fixed = await random.read(entry.localHeaderOffset, 30);
  if (fixed.length < 30) return undefined;
  const view = new DataView(fixed.buffer, fixed.byteOffset, fixed.byteLength);
  if (view.getUint32(0, true) !== 0x04034b50) return undefined;
  const nameLength = view.getUint16(26, true);
  const extraLength = view.getUint16(28, true);
  const nameBytes = await random.read(entry.localHeaderOffset + 30, nameLength);
  return {
    name: new TextDecoder('utf-8').decode(nameBytes),
    dataOffset: entry.localHeaderOffset + 30 + nameLength + extraLength,
  };
}

/** Walks local headers from the start: the fallback when the central directory is missing. */
export async function scanLocalHeaders(random: RandomAccess, maxEntries: number): Promise<ZipEntry[]> {
  const entries: ZipEntry[] = [];
  let at = 0;
  while (entries.length < maxEntries && at + 30 <= random.size) {
    const fixed = await random.read(at, 30);
    const view = new DataView(fixed.buffer, fixed.byteOffset, fixed.byteLength);
    if (view.getUint32(0, true) !== 0x04034b50) break;
    const flags = view.getUint16(6, true);
    const compressedSize = view.getUint32(18, true);
    const nameLength = view.getUint16(26, true);
    const extraLength = view.getUint16(28, true);
    const nameBytes = await random.read(at + 30, nameLength);
    entries.push({
      name: new TextDecoder('utf-8').decode(nameBytes),
      method: view.getUint16(8, true),
      flags,
      crc32: view.getUint32(14, true),
      compressedSize,
      size: view.getUint32(22, true),
      localHeaderOffset: at,
    });
    // Sizes after the data (flag bit 3) cannot be walked without inflating; stop there.
    if (flags & 0x08) break;
    at += 30 + nameLength + extraLength + compressedSize;
  }
  return entries;
}
