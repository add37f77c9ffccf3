import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { create as createTar } from 'tar';
import { digestBytes, digestStream } from '../../core/hash/digest.js';
import { singleFileName } from '../../core/hash/manifest.js';
import { type PlannedLayer, planLayers } from '../../core/registry/layer-plan.js';
import {
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
import { type BlobPushResult, fileRange, type RegistryClient } from './client.js';
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
  /** sha256 hex of every listed file, by its path (from `hashModel`). */
  fileDigests: ReadonlyMap<string, string>;
  provenance: ModelProvenance;
  tag: string;
  concurrency: number;
  mountFrom?: string;
  attachments?: readonly Attachment[];
  onBlob?: (event: BlobEvent) => void;
}

export interface PushedBlob {
  name: string;
  digest: string;
  size: number;
  mediaType: string;
  status: BlobPushResult;
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

/**
 * Packs and pushes a listed, hashed model: layers (raw files, small files in tars), the ModelPack
 * config, the manifest at `tag`, then any attachments as referrers. Blobs the registry has are
 * skipped, so a second push of the same files uploads nothing.
 */
export async function pushModel(input: PushModelInput): Promise<PushModelResult> {
  const single = input.files.length === 1 && input.files[0]!.path === singleFileName;
  const nameOf = (file: ModelFile) => (single ? basename(input.root) : file.path);
  const byName = new Map(input.files.map((file) => [nameOf(file), file]));
  const plan = planLayers(input.files.map((file) => ({ path: nameOf(file), size: file.size })));
  const scratch = await input.cache.scratch();
  try {
    const built = await mapLimit(plan, input.concurrency, (layer, i) =>
      buildLayer(layer, i, byName, input, scratch, single),
    );
    const layers = built.map((b) => b.layer);
    const configBytes = buildModelConfig(layers, input.provenance);
    const config: Descriptor = {
      mediaType: modelConfigType,
      digest: `sha256:${digestBytes(configBytes).hex}`,
      size: configBytes.length,
    };
    const pending: PendingBlob[] = [
      ...built.map((b) => b.blob),
      { name: 'config', descriptor: config, open: () => configBytes },
    ];
    // The attachments' few small blobs go up beside the layers, not after them.
    const attachments = input.attachments ?? [];
    const attachmentBlobs =
      attachments.length > 0 ? pushAttachmentBlobs(input.client, attachments) : undefined;
    attachmentBlobs?.catch(() => undefined);
    const blobs = await mapLimit(pending, input.concurrency, async (blob) => {
      const { digest, size, mediaType } = blob.descriptor;
      const status = await input.client.pushBlob(blob.descriptor, blob.open, {
        ...(input.mountFrom ? { mountFrom: input.mountFrom } : {}),
        onProgress: (bytes) => input.onBlob?.({ name: blob.name, digest, size, bytes }),
      });
      input.onBlob?.({ name: blob.name, digest, size, bytes: size, status });
      return { name: blob.name, digest, size, mediaType, status };
    });
    const manifestBytes = encodeJson(buildModelManifest(config, layers, input.provenance));
    const pushed = await input.client.putManifest(input.tag, manifestBytes, ociManifestType);
    const manifest: Descriptor = {
      mediaType: ociManifestType,
      digest: pushed.digest,
      size: manifestBytes.length,
    };
    const referrers = [];
    const attachmentLayers = (await attachmentBlobs) ?? [];
    for (const [i, attachment] of attachments.entries()) {
      referrers.push(await attach(input.client, manifest, attachment, attachmentLayers[i]!));
    }
    return { manifest, blobs, referrers };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function buildLayer(
  layer: PlannedLayer,
  index: number,
  byName: ReadonlyMap<string, ModelFile>,
  input: PushModelInput,
  scratch: string,
  single: boolean,
): Promise<{ layer: BuiltLayer; blob: PendingBlob }> {
  if (layer.packing === 'raw') {
    const file = byName.get(layer.file.path)!;
    const hex = input.fileDigests.get(file.path);
    if (!hex) throw new Error(`no digest for ${file.path}`);
    const descriptor: Descriptor = {
      mediaType: layer.mediaType,
      digest: `sha256:${hex}`,
      size: file.size,
      annotations: rawLayerAnnotations(layer.file.path, file.size, layer.guessed),
    };
    return {
      layer: { descriptor, kind: layer.kind, paths: [layer.file.path] },
      blob: { name: layer.file.path, descriptor, open: fileRange(file.absolute) },
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
    layer: { descriptor, kind: layer.kind, paths },
    blob: { name: `${layer.kind} files (${paths.length})`, descriptor, open: fileRange(tarPath) },
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
