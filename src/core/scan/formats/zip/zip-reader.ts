import { crc32, inflateRawSync } from 'node:zlib';
import {
  type ByteSource,
  bufferAccess,
  bufferSource,
  cachedAccess,
  type RandomAccess,
  randomAccessSource,
  readAllBounded,
  sliceAccess,
  streamSource,
} from '../../../source.js';
import type { ScanContext } from '../../context.js';
import { ascii, type FormatReader, startsWith } from '../../format-reader.js';
import { expand } from '../compressed/expand.js';
import {
  type CentralDirectory,
  findEndOfCentralDirectory,
  readCentralDirectory,
  readLocalHeader,
  scanLocalHeaders,
  type ZipEntry,
} from './central-directory.js';

const methodNames: Record<number, string> = {
  1: 'shrink',
  6: 'implode',
  9: 'deflate64',
  12: 'bzip2',
  14: 'lzma',
  93: 'zstd',
  95: 'xz',
  98: 'ppmd',
  99: 'AES',
};

/** A PyTorch checkpoint keeps its object graph in `<any folder>/data.pkl`. */
const torchPickle = /^(?:(.*)\/)?data\.pkl$/;

/**
 * Zip archives: PyTorch checkpoints, .npz, plain zips. Members are read through the central
 * directory, as PyTorch reads them; tensor storages that data.pkl references are never read.
 */
export const zipReader: FormatReader = {
  id: 'zip',
  description: 'zip archive',
  detect: (head) => startsWith(head, ascii('PK\x03\x04')) || startsWith(head, ascii('PK\x05\x06')),
  async scan(source, context) {
    const direct = source.random ?? (await bufferedAccess(source, context));
    if (!direct) return undefined;
    const random = cachedAccess(direct);
    const directory = await readDirectory(random, context);
    const entries = directory.entries;
    reportNameIssues(entries, context);

    const torch = entries.map((e) => torchPickle.exec(e.name)).find((m) => m !== null);
    const files = entries.filter((e) => !e.name.endsWith('/'));
    const npz = files.length > 0 && files.every((e) => e.name.endsWith('.npy'));
    const torchscript = isTorchScript(files);
    if (torchscript) reportTorchScriptCode(files, context);
    const format = torchscript ? 'torchscript' : torch ? 'pytorch' : npz ? 'npz' : undefined;
    const pickles = entries.filter((e) => e.name.endsWith('.pkl'));
    const referenced = new Set<string>();
    for (const entry of pickles) {
      const result = await scanEntry(random, entry, context);
      for (const key of result?.storageKeys ?? []) referenced.add(key);
    }
    const storagePrefix = torch ? `${torch[1] === undefined ? '' : `${torch[1]}/`}data/` : undefined;
    for (const entry of entries) {
      if (entry.name.endsWith('/') || entry.name.endsWith('.pkl')) continue;
      if (
        storagePrefix &&
        entry.name.startsWith(storagePrefix) &&
        referenced.has(entry.name.slice(storagePrefix.length))
      ) {
        continue; // raw tensor bytes: PyTorch never unpickles them
      }
      await scanEntry(random, entry, context);
    }
    return format ? { format } : undefined;
  },
};

/** torch.jit.save writes `<folder>/code/` (TorchScript source) and `<folder>/constants.pkl`. */
function isTorchScript(files: readonly ZipEntry[]): boolean {
  const constants = files.find((e) => /^(?:[^/]+\/)?constants\.pkl$/.test(e.name));
  if (!constants) return false;
  const folder = constants.name.slice(0, constants.name.length - 'constants.pkl'.length);
  return files.some((e) => e.name.startsWith(`${folder}code/`));
}

const maxCodeFilesListed = 100;

/** The TorchScript source files, one finding each: torch.jit.load compiles and runs them. */
function reportTorchScriptCode(files: readonly ZipEntry[], context: ScanContext): void {
  const code = files.filter((e) => /^(?:[^/]+\/)?code\/.*\.py$/.test(e.name));
  for (const entry of code.slice(0, maxCodeFilesListed)) {
    context.report('torchscriptCode', `TorchScript code ${JSON.stringify(entry.name)} (${entry.size} bytes)`);
  }
  if (code.length > maxCodeFilesListed) {
    context.report('torchscriptCode', `${code.length - maxCodeFilesListed} more TorchScript code files`, {
      count: code.length - maxCodeFilesListed,
    });
  }
}

async function bufferedAccess(source: ByteSource, context: ScanContext): Promise<RandomAccess | undefined> {
  const bytes = await readAllBounded(source, context.limits.maxBufferedContainerBytes);
  if (bytes) return bufferAccess(bytes);
  context.report(
    'unscannable',
    `zip archive inside a stream is larger than ${context.limits.maxBufferedContainerBytes} bytes; unpack it to scan it`,
  );
  context.partial();
  return undefined;
}

async function readDirectory(random: RandomAccess, context: ScanContext): Promise<CentralDirectory> {
  const limits = {
    maxEntries: context.limits.maxArchiveEntries,
    maxBytes: context.limits.maxCentralDirectoryBytes,
  };
  const directory = await readCentralDirectory(random, limits);
  if (directory && !directory.damage) {
    if (directory.countMismatch) context.report('damaged', directory.countMismatch);
    if (directory.omitted > 0) reportEntryLimit(context, 'zip', directory.entries.length + directory.omitted);
    return directory;
  }
  const why = directory?.damage ?? 'no central directory';
  // PyTorch refuses such a file, but other zip readers recover members from the local headers.
  const recovered = await scanLocalHeaders(random, limits.maxEntries);
  context.report('damaged', `${why}; ${recovered.length} members recovered from local headers`);
  context.partial();
  const known = new Set(directory?.entries.map((e) => e.localHeaderOffset));
  return {
    entries: [...(directory?.entries ?? []), ...recovered.filter((e) => !known.has(e.localHeaderOffset))],
    damage: why,
    omitted: 0,
  };
}

/** Fail closed: members past the bound were not inspected and may hold anything. */
export function reportEntryLimit(context: ScanContext, kind: string, declared: number | undefined): void {
  const { maxArchiveEntries } = context.limits;
  const count = declared === undefined ? `more than ${maxArchiveEntries}` : `${declared}`;
  context.report(
    'entryLimit',
    `${kind} archive has ${count} members; only the first ${maxArchiveEntries} were inspected`,
  );
  context.partial();
}

/** TorchServe model archives: torch-model-archiver writes this member, TorchServe unzips the archive. */
const marManifest = 'MAR-INF/MANIFEST.json';

/**
 * Unsafe member paths are high where the loader extracts the archive (a TorchServe .mar) and
 * medium where it reads members in place (torch.load, numpy.load, zipfile).
 */
function reportNameIssues(entries: readonly ZipEntry[], context: ScanContext): void {
  const extracted = entries.some((e) => e.name === marManifest);
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.name)) {
      context.report(
        'damaged',
        `member name ${JSON.stringify(entry.name)} appears more than once; loaders disagree on which one counts`,
      );
    }
    seen.add(entry.name);
    if (isUnsafePath(entry.name)) {
      if (extracted) {
        context.report(
          'extractedUnsafePath',
          `member ${JSON.stringify(entry.name)} of a TorchServe model archive is written outside the model directory when the archive is extracted`,
        );
      } else {
        context.report(
          'unsafeMemberPath',
          `member ${JSON.stringify(entry.name)} would be extracted outside the target directory`,
        );
      }
    }
  }
}

/**
 * Zip readers find the directory at the end, so data may be prepended to a zip (self-extracting
 * archives, pickle/zip polyglots). Checked on every random-access file, whatever else it is.
 */
export async function hasTrailingZip(source: ByteSource): Promise<boolean> {
  return source.random !== undefined && (await findEndOfCentralDirectory(source.random)) !== undefined;
}

export function isUnsafePath(name: string): boolean {
  const normal = name.replaceAll('\\', '/');
  return normal.startsWith('/') || /^[A-Za-z]:/.test(normal) || normal.split('/').includes('..');
}

async function scanEntry(random: RandomAccess, entry: ZipEntry, context: ScanContext) {
  const label = JSON.stringify(entry.name);
  const { bombFloorBytes, maxCompressionRatio } = context.limits;
  if (entry.size > bombFloorBytes && entry.size > entry.compressedSize * maxCompressionRatio) {
    // Declared sizes alone show the bomb; inflation below stops at the same bound anyway.
    context.report(
      'decompressionBomb',
      `member ${label} declares ${entry.size} bytes from ${entry.compressedSize} compressed (more than ${maxCompressionRatio}x)`,
    );
  }
  if (entry.flags & 0x01) {
    context.report('unscannable', `member ${label} is encrypted and cannot be inspected`);
    context.partial();
    return undefined;
  }
  if (entry.method !== 0 && entry.method !== 8) {
    const method = methodNames[entry.method] ?? `method ${entry.method}`;
    context.report(
      'unscannable',
      `member ${label} uses unsupported compression (${method}) and cannot be inspected`,
    );
    context.partial();
    return undefined;
  }
  const local = await readLocalHeader(random, entry);
  if (!local) {
    context.report('damaged', `member ${label} has no valid local header`);
    context.partial();
    return undefined;
  }
  if (local.name !== entry.name) {
    context.report('damaged', `member ${label} is named ${JSON.stringify(local.name)} in its local header`);
  }
  const available = Math.max(0, Math.min(entry.compressedSize, random.size - local.dataOffset));
  if (available < entry.compressedSize) {
    context.report('damaged', `member ${label} is truncated`);
    context.partial();
  }
  const raw = sliceAccess(random, local.dataOffset, available);
  const source =
    entry.method === 0
      ? checkedSource(randomAccessSource(raw), entry, context)
      : checkedSource(
          (await inflateSmall(raw)) ??
            streamSource(expand('deflate-raw', randomAccessSource(raw).stream(), context, `member ${label}`)),
          entry,
          context,
        );
  return context.nested(source, entry.name);
}

const smallCompressed = 16 * 1024;
const smallInflated = 1 << 20;

/**
 * Inflates a small member in one call: a zlib stream per member costs more than the member
 * (200,000 small members took 18 s). Output is capped far below the bomb floor; a member that
 * exceeds the cap, or is damaged, takes the streaming path, which guards and reports.
 */
async function inflateSmall(raw: RandomAccess): Promise<ByteSource | undefined> {
  if (raw.size > smallCompressed) return undefined;
  try {
    const input = await raw.read(0, raw.size);
    // A small output buffer to start with: zlib's default of 16 KiB per member adds up.
    const chunkSize = Math.max(1024, Math.min(16 * 1024, input.length * 4));
    const bytes = inflateRawSync(input, { maxOutputLength: smallInflated, chunkSize });
    return bufferSource(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch {
    return undefined;
  }
}

/** Verifies the CRC-32 of members that get read to the end (pickles); tensor data is never read whole. */
function checkedSource(source: ByteSource, entry: ZipEntry, context: ScanContext): ByteSource {
  return {
    size: source.size,
    random: source.random,
    head: (length) => source.head(length),
    async *stream() {
      let crc = 0;
      let length = 0;
      for await (const chunk of source.stream()) {
        crc = crc32(chunk, crc);
        length += chunk.length;
        yield chunk;
      }
      if (length === entry.size && crc >>> 0 !== entry.crc32 >>> 0) {
        context.report(
          'damaged',
          `member ${JSON.stringify(entry.name)} fails its CRC-32 check (PyTorch loads it anyway)`,
        );
      }
    },
  };
}
