import { constants, createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Parser, type ReadEntry } from 'tar';
import { MlsecError } from '../../core/errors.js';
import { createDigester } from '../../core/hash/digest.js';
import { type Descriptor, type ImageManifest, parseImageManifest } from '../../core/registry/model-pack.js';
import { planPull, type TargetTree } from '../../core/registry/pull-plan.js';
import {
  defaultUnpackLimits,
  isRootEntry,
  maxPathBytes,
  quoteName,
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
 * Resolves, checks every name the manifest gives before any blob is fetched, downloads (verified,
 * into the cache), unpacks into a staging directory beside `target` and checks; only then is the
 * staging directory renamed to `target`. Any failure removes it, and any parent directory of
 * `target` this pull made.
 */
export async function pullModel(input: PullModelInput): Promise<PullModelResult> {
  const target = resolve(input.target);
  await checkTarget(target);
  const limits = input.limits ?? defaultUnpackLimits;
  const fetched = await fetchManifest(input);
  const manifest = parseImageManifest(fetched.bytes, `${input.client.repository}@${fetched.digest}`);
  // Files land below the staging directory first, then below the target: the longer of the two.
  const rootBytes = Math.max(
    Buffer.byteLength(target),
    Buffer.byteLength(join(dirname(target), stagingPrefix)) + stagingRandomLength,
  );
  const plan = planPull(manifest, limits, rootBytes);
  if (!fetched.cached) {
    // A blob of the same digest may be read from the cache meanwhile; a refused manifest is not kept.
    await writeFileAtomically(input.cache.path(fetched.digest), fetched.bytes).catch((error) => {
      throw fsError(`cannot write manifest ${fetched.digest} to the cache`, error);
    });
  }
  input.client.expectTransfer(plan.blobs.reduce((sum, blob) => sum + blob.size, 0));
  let downloaded = 0;
  // Verified while streaming moments ago: copied without hashing again.
  const fresh = new Set<string>();
  await mapLimit(plan.blobs, input.concurrency, async (blob) => {
    if (await input.cache.has(blob.digest, blob.size)) {
      // Bytes kept to resume a blob the cache now holds are no longer of use.
      await rm(`${input.cache.path(blob.digest)}.partial`, { force: true });
      input.onBlob?.({ digest: blob.digest, size: blob.size, bytes: blob.size, cached: true, done: true });
      return;
    }
    await input.client
      .downloadBlob(blob, input.cache.path(blob.digest), (bytes) =>
        input.onBlob?.({ digest: blob.digest, size: blob.size, bytes }),
      )
      .catch((error) => {
        throw fsError(`blob ${blob.digest}: cannot write it to the cache`, error);
      });
    downloaded += 1;
    fresh.add(blob.digest);
    input.onBlob?.({ digest: blob.digest, size: blob.size, bytes: blob.size, done: true });
  });

  const made = await makeParents(dirname(target));
  let moved = false;
  try {
    const staging = await mkdtemp(join(dirname(target), stagingPrefix)).catch((error) => {
      throw fsError(`cannot make a staging directory beside ${target}`, error);
    });
    try {
      const state: UnpackState = { tree: plan.tree, rootBytes, files: [], bytes: 0, limits };
      const skipped: PullModelResult['skipped'] = [];
      for (const planned of plan.layers) {
        const { layer } = planned;
        if (planned.action === 'skip') skipped.push({ digest: layer.digest, reason: planned.reason });
        else if (planned.action === 'file')
          await placeFile(input.cache, layer, planned.path, staging, state, fresh.has(layer.digest));
        else await untar(input.cache, layer, staging, state);
      }
      const pulled = { digest: fetched.digest, manifest };
      const checked = input.check ? await input.check(staging, pulled) : { ok: true };
      const result = { ...pulled, files: state.files, skipped, downloaded, ok: checked.ok };
      if (!checked.ok) return result;
      await moveIntoPlace(staging, target);
      moved = true;
      return result;
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  } finally {
    if (!moved) await removeParents(dirname(target), made);
  }
}

const stagingPrefix = '.mlsec-pull-';
/** Characters `mkdtemp` appends. */
const stagingRandomLength = 6;

/**
 * Makes the missing parents of the target; returns the topmost one made (what `mkdir -p` reports),
 * so a pull that ends without moving the model into place can remove them again.
 */
async function makeParents(dir: string): Promise<string | undefined> {
  try {
    return await mkdir(dir, { recursive: true });
  } catch (error) {
    throw fsError(`cannot make directory ${dir}`, error);
  }
}

/** Removes `dir` and its parents up to `topmost`, each only while it is empty. */
async function removeParents(dir: string, topmost: string | undefined): Promise<void> {
  if (!topmost) return;
  for (let current = dir; ; current = dirname(current)) {
    try {
      await rmdir(current);
    } catch {
      return; // not empty: something else wrote there meanwhile
    }
    if (current === topmost || dirname(current) === current) return;
  }
}

/** A one-line error for a failed file-system call (`what: reason (CODE)`); others pass unchanged. */
function fsError(what: string, error: unknown): unknown {
  if (error instanceof MlsecError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== 'string' || !/^E[A-Z]+$/.test(code)) return error;
  // Node's messages read `CODE: reason, syscall 'path'`: the reason alone, as the caller names the path.
  const reason = /^E[A-Z]+: ([^,]+)/.exec((error as Error).message)?.[1] ?? 'failed';
  return new MlsecError('OUTPUT_UNWRITABLE', `${what}: ${reason} (${code})`, { cause: error });
}

async function fetchManifest(input: PullModelInput) {
  const pinned = input.reference.startsWith('sha256:') ? input.reference : undefined;
  // A pinned manifest already in the cache needs no request at all.
  if (pinned) {
    const cached = await readCached(input.cache, pinned, input.client.maxManifestBytes);
    if (cached) return { bytes: cached, digest: pinned, cached: true };
  }
  const fetched = await input.client.getManifest(input.reference);
  return { bytes: fetched.bytes, digest: fetched.digest, cached: false };
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
  if (Buffer.byteLength(target) > maxPathBytes) {
    throw new MlsecError('USAGE', `the target directory's path is longer than ${maxPathBytes} bytes`);
  }
  const info = await stat(target).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw fsError(`cannot use ${target}`, error);
  });
  if (!info) return;
  if (!info.isDirectory()) throw new MlsecError('USAGE', `${target} exists and is not a directory`);
  const names = await readdir(target).catch((error) => {
    throw fsError(`cannot read ${target}`, error);
  });
  if (names.length > 0) {
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
  await rename(staging, target).catch((error) => {
    throw fsError(`cannot move the model into ${target}`, error);
  });
}

interface UnpackState {
  /** Every file and directory written so far, raw layers' files from the start. */
  tree: TargetTree;
  /** Bytes of the longer of the staging and the target directory's path. */
  rootBytes: number;
  files: { path: string; size: number }[];
  bytes: number;
  limits: UnpackLimits;
}

/** Adds a tar entry to the tree, or refuses it, naming the layer. */
function claimEntry(state: UnpackState, layer: Descriptor, path: string, kind: 'file' | 'directory'): void {
  const owner = `layer ${layer.digest}`;
  let problem: string | undefined;
  if (state.rootBytes + 1 + Buffer.byteLength(path) > maxPathBytes) {
    problem = `path longer than ${maxPathBytes} bytes below the target directory`;
  } else {
    problem = kind === 'file' ? state.tree.addFile(path, owner) : state.tree.addDirectory(path, owner);
  }
  if (problem) {
    throw new MlsecError('VERIFICATION_FAILED', `${owner}: tar entry ${quoteName(path)}: ${problem}`);
  }
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

/** A raw layer's file, its name checked and in the tree since the plan. */
async function placeFile(
  cache: BlobCache,
  layer: Descriptor,
  path: string,
  staging: string,
  state: UnpackState,
  verified: boolean,
): Promise<void> {
  state.files.push({ path, size: layer.size });
  countBytes(state, layer.size, { left: layer.size }, layer);
  const destination = join(staging, path);
  try {
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
  } catch (error) {
    throw fsError(`layer ${layer.digest}: cannot write ${quoteName(path)}`, error);
  }
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
        const dir = safeRelativePath(entry.path) as { path: string };
        try {
          claimEntry(state, layer, dir.path, 'directory');
        } catch (error) {
          return fail(error);
        }
        writes.push(
          mkdir(join(staging, dir.path), { recursive: true }).then(
            () => {},
            (error) => fail(fsError(`layer ${layer.digest}: cannot make ${quoteName(dir.path)}`, error)),
          ),
        );
        return;
      }
      const checked = safeRelativePath(entry.path) as { path: string };
      try {
        claimEntry(state, layer, checked.path, 'file');
      } catch (error) {
        return fail(error);
      }
      state.files.push({ path: checked.path, size: entry.size ?? 0 });
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
          .catch((error) =>
            fail(fsError(`layer ${layer.digest}: cannot write ${quoteName(checked.path)}`, error)),
          )
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
