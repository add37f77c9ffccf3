import { constants, createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Parser, type ReadEntry } from 'tar';
import { MlsecError } from '../../core/errors.js';
import { createDigester } from '../../core/hash/digest.js';
import {
  type Descriptor,
  type ImageManifest,
  type LayerAction,
  layerAction,
  parseImageManifest,
} from '../../core/registry/model-pack.js';
import {
  defaultUnpackLimits,
  isRootEntry,
  safeRelativePath,
  type TarEntryType,
  tarEntryProblem,
  type UnpackLimits,
} from '../../core/registry/unpack-policy.js';
import { writeFileAtomically } from '../atomic-write.js';
import type { BlobCache } from './blob-cache.js';
import type { RegistryClient } from './client.js';
import { mapLimit } from './parallel.js';

export interface PullBlobEvent {
  digest: string;
  size: number;
  bytes: number;
  cached?: boolean;
  done?: boolean;
}

export interface PullModelInput {
  client: RegistryClient;
  cache: BlobCache;
  /** Tag or digest. */
  reference: string;
  /** Where the model goes: absent or an empty directory. */
  target: string;
  concurrency: number;
  limits?: UnpackLimits;
  /**
   * Runs on the staged files before they move into `target`; a result with `ok: false` leaves
   * nothing in `target` (the seam for scanning and signature checks).
   */
  check?: (staging: string, manifest: PulledManifest) => Promise<{ ok: boolean }>;
  onBlob?: (event: PullBlobEvent) => void;
}

export interface PulledManifest {
  digest: string;
  manifest: ImageManifest;
}

export interface PullModelResult extends PulledManifest {
  files: { path: string; size: number }[];
  skipped: { digest: string; reason: string }[];
  /** Blobs fetched from the registry this time (the rest came from the cache). */
  downloaded: number;
  ok: boolean;
}

/**
 * Resolves, downloads (verified, into the cache), unpacks into a staging directory beside `target`
 * and checks; only then is the staging directory renamed to `target`. Any failure removes it.
 */
export async function pullModel(input: PullModelInput): Promise<PullModelResult> {
  const target = resolve(input.target);
  await checkTarget(target);
  const limits = input.limits ?? defaultUnpackLimits;
  const fetched = await fetchManifest(input);
  const manifest = parseImageManifest(fetched.bytes, `${input.client.repository}@${fetched.digest}`);
  const blobs = uniqueBlobs([manifest.config, ...manifest.layers]);
  let downloaded = 0;
  // Verified while streaming moments ago: copied without hashing again.
  const fresh = new Set<string>();
  await mapLimit(blobs, input.concurrency, async (blob) => {
    if (await input.cache.has(blob.digest, blob.size)) {
      // Bytes kept to resume a blob the cache now holds are no longer of use.
      await rm(`${input.cache.path(blob.digest)}.partial`, { force: true });
      input.onBlob?.({ digest: blob.digest, size: blob.size, bytes: blob.size, cached: true, done: true });
      return;
    }
    await input.client.downloadBlob(blob, input.cache.path(blob.digest), (bytes) =>
      input.onBlob?.({ digest: blob.digest, size: blob.size, bytes }),
    );
    downloaded += 1;
    fresh.add(blob.digest);
    input.onBlob?.({ digest: blob.digest, size: blob.size, bytes: blob.size, done: true });
  });

  await mkdir(dirname(target), { recursive: true });
  const staging = await mkdtemp(join(dirname(target), '.mlsec-pull-'));
  try {
    const state: UnpackState = { written: new Set(), files: [], entries: 0, bytes: 0, limits };
    const skipped: PullModelResult['skipped'] = [];
    for (const layer of manifest.layers) {
      const action: LayerAction = layerAction(layer);
      if (action.action === 'skip') skipped.push({ digest: layer.digest, reason: action.reason });
      else if (action.action === 'file')
        await placeFile(input.cache, layer, action.path, staging, state, fresh.has(layer.digest));
      else await untar(input.cache, layer, staging, state);
    }
    const pulled = { digest: fetched.digest, manifest };
    const checked = input.check ? await input.check(staging, pulled) : { ok: true };
    const result = { ...pulled, files: state.files, skipped, downloaded, ok: checked.ok };
    if (!checked.ok) return result;
    await moveIntoPlace(staging, target);
    return result;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * Each digest once: two identical files are two layers of one blob, and two downloads of it would
 * share one partial file. A manifest that gives one digest two sizes is refused.
 */
function uniqueBlobs(descriptors: readonly Descriptor[]): Descriptor[] {
  const byDigest = new Map<string, Descriptor>();
  for (const descriptor of descriptors) {
    const seen = byDigest.get(descriptor.digest);
    if (seen && seen.size !== descriptor.size) {
      throw new MlsecError(
        'VERIFICATION_FAILED',
        `the manifest gives blob ${descriptor.digest} two sizes, ${seen.size} and ${descriptor.size}`,
      );
    }
    byDigest.set(descriptor.digest, descriptor);
  }
  return [...byDigest.values()];
}

async function fetchManifest(input: PullModelInput) {
  const pinned = input.reference.startsWith('sha256:') ? input.reference : undefined;
  // A pinned manifest already in the cache needs no request at all.
  if (pinned) {
    const cached = await readCached(input.cache, pinned, input.client.maxManifestBytes);
    if (cached) return { bytes: cached, digest: pinned };
  }
  const fetched = await input.client.getManifest(input.reference);
  // A blob of the same digest may be read from the cache meanwhile.
  await writeFileAtomically(input.cache.path(fetched.digest), fetched.bytes);
  return fetched;
}

async function readCached(cache: BlobCache, digest: string, limit: number): Promise<Uint8Array | undefined> {
  const path = cache.path(digest);
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile() || info.size > limit) return undefined;
  const digester = createDigester('sha256');
  const chunks: Uint8Array[] = [];
  for await (const chunk of createReadStream(path) as AsyncIterable<Uint8Array>) {
    digester.update(chunk);
    chunks.push(chunk);
  }
  return `sha256:${digester.digest().hex}` === digest ? Buffer.concat(chunks) : undefined;
}

async function checkTarget(target: string): Promise<void> {
  const info = await stat(target).catch(() => undefined);
  if (!info) return;
  if (!info.isDirectory()) throw new MlsecError('USAGE', `${target} exists and is not a directory`);
  if ((await readdir(target)).length > 0) {
    throw new MlsecError('USAGE', `${target} is not empty; pull writes only into an empty or new directory`);
  }
}

async function moveIntoPlace(staging: string, target: string): Promise<void> {
  // An empty target (checked at the start) is replaced; anything that appeared since is not touched.
  await rmdir(target).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') {
      throw new MlsecError('OUTPUT_UNWRITABLE', `cannot replace ${target}: ${error.message}`);
    }
  });
  await rename(staging, target);
}

interface UnpackState {
  written: Set<string>;
  files: { path: string; size: number }[];
  entries: number;
  bytes: number;
  limits: UnpackLimits;
}

function claim(state: UnpackState, path: string, size: number): void {
  if (state.written.has(path)) {
    throw new MlsecError('VERIFICATION_FAILED', `${path} appears twice in the artifact; refused`);
  }
  state.entries += 1;
  if (state.entries > state.limits.maxEntries) {
    throw new MlsecError('VERIFICATION_FAILED', `more than ${state.limits.maxEntries} files; refused`);
  }
  state.written.add(path);
  state.files.push({ path, size });
}

function countBytes(state: UnpackState, n: number, layerBudget: { left: number }, layer: Descriptor): void {
  state.bytes += n;
  layerBudget.left -= n;
  if (state.bytes > state.limits.maxTotalBytes) {
    throw new MlsecError(
      'VERIFICATION_FAILED',
      `unpacked size is over ${state.limits.maxTotalBytes} bytes; refused`,
    );
  }
  if (layerBudget.left < 0) throw bombError(layer, state.limits);
}

function bombError(layer: Descriptor, limits: UnpackLimits): MlsecError {
  return new MlsecError(
    'VERIFICATION_FAILED',
    `layer ${layer.digest} expands past ${limits.maxExpansionRatio} times its size; refused as a decompression bomb`,
  );
}

/** A verifying tap on the cached blob: the bytes are hashed again as they are copied out. */
function verifier(layer: Descriptor): Transform {
  const digester = createDigester('sha256');
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      digester.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      const { hex, size } = digester.digest();
      if (`sha256:${hex}` !== layer.digest || size !== layer.size) {
        done(new MlsecError('VERIFICATION_FAILED', `cached blob ${layer.digest} does not match its digest`));
      } else done();
    },
  });
}

async function placeFile(
  cache: BlobCache,
  layer: Descriptor,
  name: string,
  staging: string,
  state: UnpackState,
  verified: boolean,
): Promise<void> {
  const checked = safeRelativePath(name);
  if ('problem' in checked) {
    throw new MlsecError(
      'VERIFICATION_FAILED',
      `layer ${layer.digest} names file ${JSON.stringify(name)}: ${checked.problem}`,
    );
  }
  claim(state, checked.path, layer.size);
  countBytes(state, layer.size, { left: layer.size }, layer);
  const destination = join(staging, checked.path);
  await mkdir(dirname(destination), { recursive: true });
  if (verified) {
    // The kernel copies (or clones) it; EXCL so that nothing already there is overwritten.
    await copyFile(
      cache.path(layer.digest),
      destination,
      constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE,
    );
    return;
  }
  await pipeline(
    createReadStream(cache.path(layer.digest), { highWaterMark: 1 << 20 }),
    verifier(layer),
    createWriteStream(destination, { flags: 'wx' }),
  );
}

function entryType(entry: ReadEntry): TarEntryType {
  switch (entry.type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      return 'file';
    case 'Directory':
      return 'directory';
    case 'SymbolicLink':
      return 'symlink';
    case 'Link':
      return 'hardlink';
    default:
      return 'other';
  }
}

/**
 * Unpacks a tar (or tar+gzip) layer entry by entry, writing only regular files and directories
 * whose names stay inside `staging`; the first refused entry fails the whole pull.
 */
async function untar(
  cache: BlobCache,
  layer: Descriptor,
  staging: string,
  state: UnpackState,
): Promise<void> {
  const budget = { left: Math.max(layer.size * state.limits.maxExpansionRatio, 1 << 20) };
  const writes: Promise<void>[] = [];
  // Entries still being written: an aborted parse never ends them, so they are destroyed instead.
  const open = new Set<ReadEntry>();
  let failure: unknown;
  const parser = new Parser({
    strict: true,
    // tar measures gzip, brotli and zstd expansion as it inflates, before any entry is written.
    maxDecompressionRatio: state.limits.maxExpansionRatio,
    onReadEntry: (entry: ReadEntry) => {
      const fail = (error: unknown) => {
        failure ??= error;
        entry.resume();
        parser.abort(error as Error);
      };
      if (failure) return void entry.resume();
      const type = entryType(entry);
      const problem = tarEntryProblem({
        path: entry.path,
        type,
        ...(entry.linkpath ? { linkpath: entry.linkpath } : {}),
      });
      if (problem) return fail(new MlsecError('VERIFICATION_FAILED', `layer ${layer.digest}: ${problem}`));
      if (type === 'directory') {
        entry.resume();
        if (isRootEntry(entry.path)) return;
        const dir = safeRelativePath(entry.path);
        if ('path' in dir) writes.push(mkdir(join(staging, dir.path), { recursive: true }).then(() => {}));
        return;
      }
      const checked = safeRelativePath(entry.path) as { path: string };
      try {
        claim(state, checked.path, entry.size ?? 0);
      } catch (error) {
        return fail(error);
      }
      const destination = join(staging, checked.path);
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          try {
            countBytes(state, chunk.length, budget, layer);
            done(null, chunk);
          } catch (error) {
            done(error as Error);
          }
        },
      });
      open.add(entry);
      writes.push(
        mkdir(dirname(destination), { recursive: true })
          .then(() => pipeline(entry, counter, createWriteStream(destination, { flags: 'wx' })))
          .catch((error) => fail(error))
          .finally(() => open.delete(entry)),
      );
    },
  });
  parser.on('warn', (code: string, message: string) => {
    failure ??= new MlsecError('VERIFICATION_FAILED', `layer ${layer.digest}: bad tar (${code}: ${message})`);
  });
  try {
    await pipeline(
      createReadStream(cache.path(layer.digest), { highWaterMark: 1 << 20 }),
      verifier(layer),
      parser,
    );
  } catch (error) {
    failure ??= error;
  }
  if (failure) {
    for (const entry of open) {
      entry.on('error', () => {}); // its pipeline may not be listening yet
      entry.destroy(new Error('unpacking stopped'));
    }
  }
  await Promise.allSettled(writes);
  if (failure) {
    if (failure instanceof MlsecError) throw failure;
    if (/decompression ratio exceeded/.test((failure as Error).message)) throw bombError(layer, state.limits);
    throw new MlsecError(
      'VERIFICATION_FAILED',
      `layer ${layer.digest}: cannot unpack: ${(failure as Error).message}`,
    );
  }
}
