import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { create as createTar } from 'tar';
import { MlsecError } from '../../core/errors.js';
import { digestBytes, digestStream } from '../../core/hash/digest.js';
import { singleFileName } from '../../core/hash/manifest.js';
import { type PlannedLayer, planLayers } from '../../core/registry/layer-plan.js';
import {
  annotations,
  modelConfigType,
  ociEmptyDigest,
  ociEmptyType,
  ociManifestType,
} from '../../core/registry/media-types.js';
import {
  type BuiltLayer,
  buildModelConfig,
  buildModelManifest,
  type Descriptor,
  type ModelProvenance,
  parseImageManifest,
  rawLayerAnnotations,
  tarLayerAnnotations,
} from '../../core/registry/model-pack.js';
import {
  addReferrer,
  buildReferrerManifest,
  parseReferrersIndex,
  referrersTag,
} from '../../core/registry/referrers.js';
import type { ModelFile } from '../model-files.js';
import type { BlobCache } from './blob-cache.js';
import { type BlobPushResult, fileRange, type RegistryClient, StreamInterrupted } from './client.js';
import { mapLimit } from './parallel.js';

/** A document to attach to the pushed manifest as an OCI 1.1 referrer (scan report, signature, ...). */
export interface Attachment {
  artifactType: string;
  mediaType: string;
  bytes: Uint8Array;
  annotations?: Record<string, string>;
}

export interface BlobEvent {
  name: string;
  digest: string;
  size: number;
  /** Bytes sent so far; with `status` once the blob is done. */
  bytes: number;
  status?: BlobPushResult;
}

export interface PushModelInput {
  client: RegistryClient;
  cache: BlobCache;
  /** Absolute path of the model directory or file. */
  root: string;
  files: readonly ModelFile[];
  /**
   * sha256 hex of every listed file, by its path (from `hashModel`). May still be computing: files
   * the registry is unlikely to have are hashed while they stream and checked against it after.
   */
  fileDigests: ReadonlyMap<string, string> | Promise<ReadonlyMap<string, string>>;
  provenance: ModelProvenance | Promise<ModelProvenance>;
  tag: string;
  concurrency: number;
  mountFrom?: string;
  attachments?: readonly Attachment[] | Promise<readonly Attachment[]>;
  onBlob?: (event: BlobEvent) => void;
}

export interface PushedBlob {
  name: string;
  digest: string;
  size: number;
  mediaType: string;
  status: BlobPushResult;
  /** Uploaded while it was hashed (the registry had no such file at the tag). */
  streamed?: true;
}

export interface PushModelResult {
  manifest: Descriptor;
  blobs: PushedBlob[];
  referrers: { artifactType: string; digest: string; indexedBy: 'registry' | 'tag-schema' }[];
}

interface PendingBlob {
  name: string;
  descriptor: Descriptor;
  open: (start: number, end: number) => ReturnType<ReturnType<typeof fileRange>>;
}

/** A raw file layer; its digest comes from `hashModel` or from hashing it while it streams. */
interface RawBlob {
  name: string;
  file: ModelFile;
  mediaType: string;
  annotations: Record<string, string>;
  kind: BuiltLayer['kind'];
}

type PlannedBlob = { raw: RawBlob } | { tar: { layer: BuiltLayer; blob: PendingBlob } };

/** Files from this size on stream while they hash, unless the registry likely has them. */
export const streamMinBytes = 1 << 20;

/**
 * Packs and pushes a listed, hashed model: layers (raw files, small files in tars), the ModelPack
 * config, the manifest at `tag`, then any attachments as referrers. A file the manifest now at
 * `tag` lists under the same title and size is likely there: hashed, checked with HEAD, skipped, so
 * a second push of the same files uploads nothing. Other large files upload while they hash.
 */
export async function pushModel(input: PushModelInput): Promise<PushModelResult> {
  const single = input.files.length === 1 && input.files[0]!.path === singleFileName;
  const nameOf = (file: ModelFile) => (single ? basename(input.root) : file.path);
  const byName = new Map(input.files.map((file) => [nameOf(file), file]));
  const plan = planLayers(input.files.map((file) => ({ path: nameOf(file), size: file.size })));
  input.client.expectTransfer(input.files.reduce((sum, file) => sum + file.size, 0));
  const fileDigests = Promise.resolve(input.fileDigests);
  fileDigests.catch(() => undefined);
  const present = presentLayers(input.client, input.tag);
  const scratch = await input.cache.scratch();
  try {
    const planned = await mapLimit(plan, input.concurrency, (layer, i) =>
      planBlob(layer, i, byName, input, scratch, single),
    );
    const likelyPresent = await present;
    // The attachments' few small blobs go up beside the layers, not after them.
    const attachmentBlobs = Promise.resolve(input.attachments ?? []).then((attachments) =>
      attachments.length > 0 ? pushAttachmentBlobs(input.client, attachments) : [],
    );
    attachmentBlobs.catch(() => undefined);
    const pushed = await mapLimit(planned, input.concurrency, async (item) => {
      if ('tar' in item) {
        return { layer: item.tar.layer, blob: await pushPending(input, item.tar.blob) };
      }
      const raw = item.raw;
      const known = likelyPresent.has(`${raw.name}\0${raw.file.size}`);
      const stream = !known && input.mountFrom === undefined && raw.file.size >= streamMinBytes;
      const streamed = stream ? await streamRaw(input, raw) : undefined;
      const hex = (await fileDigests).get(raw.file.path);
      if (!hex) throw new Error(`no digest for ${raw.file.path}`);
      const descriptor: Descriptor = {
        mediaType: raw.mediaType,
        digest: `sha256:${hex}`,
        size: raw.file.size,
        annotations: raw.annotations,
      };
      const layer: BuiltLayer = { descriptor, kind: raw.kind, paths: [raw.name] };
      if (streamed !== undefined) {
        if (streamed !== descriptor.digest) {
          throw new MlsecError(
            'VERIFICATION_FAILED',
            `${raw.name} changed during the push: uploaded ${streamed}, hashed ${descriptor.digest}`,
          );
        }
        return { layer, blob: { ...blobOf(raw.name, descriptor, 'uploaded'), streamed: true as const } };
      }
      const blob = await pushPending(input, {
        name: raw.name,
        descriptor,
        open: fileRange(raw.file.absolute),
      });
      return { layer, blob };
    });
    const layers = pushed.map((p) => p.layer);
    const provenance = await input.provenance;
    const configBytes = buildModelConfig(layers, provenance);
    const config: Descriptor = {
      mediaType: modelConfigType,
      digest: `sha256:${digestBytes(configBytes).hex}`,
      size: configBytes.length,
    };
    const configBlob = await pushPending(input, {
      name: 'config',
      descriptor: config,
      open: () => configBytes,
    });
    const blobs = [...pushed.map((p) => p.blob), configBlob];
    const manifestBytes = encodeJson(buildModelManifest(config, layers, provenance));
    const put = await input.client.putManifest(input.tag, manifestBytes, ociManifestType);
    const manifest: Descriptor = {
      mediaType: ociManifestType,
      digest: put.digest,
      size: manifestBytes.length,
    };
    const referrers = [];
    const attachments = (await input.attachments) ?? [];
    const attachmentLayers = await attachmentBlobs;
    for (const [i, attachment] of attachments.entries()) {
      referrers.push(await attach(input.client, manifest, attachment, attachmentLayers[i]!));
    }
    return { manifest, blobs, referrers };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function blobOf(name: string, descriptor: Descriptor, status: BlobPushResult): PushedBlob {
  return { name, digest: descriptor.digest, size: descriptor.size, mediaType: descriptor.mediaType, status };
}

async function pushPending(input: PushModelInput, blob: PendingBlob): Promise<PushedBlob> {
  const { digest, size } = blob.descriptor;
  const status = await input.client.pushBlob(blob.descriptor, blob.open, {
    ...(input.mountFrom ? { mountFrom: input.mountFrom } : {}),
    onProgress: (bytes) => input.onBlob?.({ name: blob.name, digest, size, bytes }),
  });
  input.onBlob?.({ name: blob.name, digest, size, bytes: size, status });
  return blobOf(blob.name, blob.descriptor, status);
}

/** The streamed upload's digest, or undefined when it broke off (then `pushBlob` takes over). */
async function streamRaw(input: PushModelInput, raw: RawBlob): Promise<string | undefined> {
  const size = raw.file.size;
  try {
    // The digest is known only at the end; progress events carry none until then.
    const digest = await input.client.streamBlob(raw.file.absolute, size, (bytes) =>
      input.onBlob?.({ name: raw.name, digest: '', size, bytes }),
    );
    input.onBlob?.({ name: raw.name, digest, size, bytes: size, status: 'uploaded' });
    return digest;
  } catch (error) {
    if (error instanceof StreamInterrupted) return undefined;
    throw error;
  }
}

/** Tags besides the target whose manifests hint at what a repository has, when the target has none. */
const hintTags = 4;

/**
 * `title\0size` of the raw layers in the manifest now at `tag`, or, when there is none, in a few of
 * the repository's other tags (a new version of a model shares most files with the last); none in a
 * new repository.
 */
async function presentLayers(client: RegistryClient, tag: string): Promise<Set<string>> {
  const present = new Set<string>();
  const collect = async (reference: string) => {
    const current = await client.findManifest(reference);
    if (!current) return false;
    for (const layer of parseImageManifest(current.bytes, `${client.repository}:${reference}`).layers) {
      const title = layer.annotations?.[annotations.title];
      if (title !== undefined) present.add(`${title}\0${layer.size}`);
    }
    return true;
  };
  try {
    if (await collect(tag)) return present;
    // Referrers-schema tags (`sha256-<hex>`) name indexes, not models.
    const others = (await client.listTags(1000)).filter((t) => t !== tag && !/^sha256-[0-9a-f]{64}$/.test(t));
    await Promise.all(
      others
        .sort()
        .slice(-hintTags)
        .map((t) => collect(t).catch(() => false)),
    );
  } catch {
    // Only a hint: without it every large file streams, and the upload reports real failures.
  }
  return present;
}

async function planBlob(
  layer: PlannedLayer,
  index: number,
  byName: ReadonlyMap<string, ModelFile>,
  input: PushModelInput,
  scratch: string,
  single: boolean,
): Promise<PlannedBlob> {
  if (layer.packing === 'raw') {
    const file = byName.get(layer.file.path)!;
    return {
      raw: {
        name: layer.file.path,
        file,
        mediaType: layer.mediaType,
        annotations: rawLayerAnnotations(layer.file.path, file.size, layer.guessed),
        kind: layer.kind,
      },
    };
  }
  // Reproducible: sorted names, no owners, one fixed time; the same files give the same blob.
  const tarPath = join(scratch, `layer-${index}.tar`);
  const cwd = single ? join(input.root, '..') : input.root;
  await createTar(
    { cwd, file: tarPath, portable: true, mtime: new Date(0), noDirRecurse: true, follow: false },
    layer.files.map((f) => f.path),
  );
  const digest = await digestStream(createReadStream(tarPath, { highWaterMark: 1 << 20 }));
  const descriptor: Descriptor = {
    mediaType: layer.mediaType,
    digest: `sha256:${digest.hex}`,
    size: digest.size,
    annotations: tarLayerAnnotations(layer.kind),
  };
  const paths = layer.files.map((f) => f.path);
  return {
    tar: {
      layer: { descriptor, kind: layer.kind, paths },
      blob: { name: `${layer.kind} files (${paths.length})`, descriptor, open: fileRange(tarPath) },
    },
  };
}

/** The empty config every referrer manifest names, and each attachment's layer; their descriptors. */
async function pushAttachmentBlobs(
  client: RegistryClient,
  attachments: readonly Attachment[],
): Promise<Descriptor[]> {
  const empty = new TextEncoder().encode('{}');
  const emptyDescriptor: Descriptor = { mediaType: ociEmptyType, digest: ociEmptyDigest, size: 2 };
  const layers = attachments.map((attachment) => ({
    mediaType: attachment.mediaType,
    digest: `sha256:${digestBytes(attachment.bytes).hex}`,
    size: attachment.bytes.length,
  }));
  await Promise.all([
    client.pushBlob(emptyDescriptor, () => empty),
    ...attachments.map((attachment, i) => client.pushBlob(layers[i]!, () => attachment.bytes)),
  ]);
  return layers;
}

/**
 * Pushes an attachment (its blobs already there) as a referrer of `subject`. A registry that indexes
 * referrers itself says so with `OCI-Subject`; otherwise (distribution 2.8 and 3.x) the
 * `sha256-<hex>` tag's index is updated.
 */
async function attach(
  client: RegistryClient,
  subject: Descriptor,
  attachment: Attachment,
  layer: Descriptor,
): Promise<PushModelResult['referrers'][number]> {
  const manifest = buildReferrerManifest(subject, attachment.artifactType, layer, attachment.annotations);
  const bytes = encodeJson(manifest);
  const digest = `sha256:${digestBytes(bytes).hex}`;
  const pushed = await client.putManifest(digest, bytes, ociManifestType);
  if (pushed.subject === subject.digest)
    return { artifactType: attachment.artifactType, digest, indexedBy: 'registry' };
  const tag = referrersTag(subject.digest);
  const existing = await client.findManifest(tag);
  const index = addReferrer(existing ? parseReferrersIndex(existing.bytes) : undefined, {
    mediaType: ociManifestType,
    digest,
    size: bytes.length,
    artifactType: attachment.artifactType,
    ...(attachment.annotations ? { annotations: attachment.annotations } : {}),
  });
  await client.putManifest(tag, encodeJson(index), index.mediaType);
  return { artifactType: attachment.artifactType, digest, indexedBy: 'tag-schema' };
}

function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
