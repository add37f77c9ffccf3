import { MlsecError } from '../errors.js';
import {
  annotations,
  type ModelLayerKind,
  modelConfigType,
  modelManifestArtifactType,
  ociManifestType,
  weightFormat,
} from './media-types.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** A built layer: its blob's descriptor plus what ModelPack's config needs. */
export interface BuiltLayer {
  descriptor: Descriptor;
  kind: ModelLayerKind;
  /** Files it holds, for `config.format` and reports. */
  paths: string[];
}

export interface ModelProvenance {
  name: string;
  /** `sha256:<hex>` of the OpenSSF Model Signing manifest of the files. */
  modelDigest: string;
  /** RFC 3339; goes in the manifest only, so the config blob of an unchanged model is unchanged. */
  created: string;
  /** SPDX expressions. */
  licenses?: readonly string[];
  revision?: string;
  source?: string;
}

/**
 * The ModelPack config JSON. Uncompressed layers only, so each diffId is the layer digest. No
 * timestamps: the same files give the same config blob, so a re-push uploads nothing.
 */
export function buildModelConfig(layers: readonly BuiltLayer[], provenance: ModelProvenance): Uint8Array {
  const format = weightFormat(layers.filter((l) => l.kind === 'weight').flatMap((l) => l.paths));
  const config = {
    descriptor: {
      name: provenance.name,
      ...(provenance.licenses?.length ? { licenses: [...provenance.licenses] } : {}),
      ...(provenance.source ? { sourceURL: provenance.source } : {}),
      ...(provenance.revision ? { revision: provenance.revision } : {}),
    },
    config: format ? { format } : {},
    modelfs: { type: 'layers', diffIds: layers.map((l) => l.descriptor.digest) },
  };
  return new TextEncoder().encode(JSON.stringify(config));
}

export function buildModelManifest(
  config: Descriptor,
  layers: readonly BuiltLayer[],
  provenance: ModelProvenance,
): ImageManifest {
  const manifestAnnotations: Record<string, string> = {
    [annotations.created]: provenance.created,
    [annotations.title]: provenance.name,
    [annotations.modelDigest]: provenance.modelDigest,
  };
  if (provenance.revision) manifestAnnotations[annotations.revision] = provenance.revision;
  if (provenance.source) manifestAnnotations[annotations.source] = provenance.source;
  if (provenance.licenses?.length)
    manifestAnnotations[annotations.licenses] = provenance.licenses.join(' AND ');
  return {
    schemaVersion: 2,
    mediaType: ociManifestType,
    artifactType: modelManifestArtifactType,
    config: { mediaType: modelConfigType, digest: config.digest, size: config.size },
    layers: layers.map((l) => l.descriptor),
    annotations: manifestAnnotations,
  };
}

/** Annotations of a raw file layer: ModelPack's and ORAS's names, so `oras pull` writes the file too. */
export function rawLayerAnnotations(path: string, size: number, guessed: boolean): Record<string, string> {
  return {
    [annotations.title]: path,
    [annotations.filepath]: path,
    [annotations.fileMetadata]: JSON.stringify({
      name: path,
      mode: 0o644,
      uid: 0,
      gid: 0,
      size,
      mtime: '1970-01-01T00:00:00Z',
      typeflag: 48,
    }),
    [annotations.untested]: guessed ? 'true' : 'false',
  };
}

export function tarLayerAnnotations(kind: ModelLayerKind): Record<string, string> {
  return { [annotations.title]: `${kind}-files.tar`, [annotations.filepath]: '.' };
}

const digestPattern = /^sha256:[0-9a-f]{64}$/;

/** Checks a descriptor from a registry before anything trusts its digest or size. */
export function parseDescriptor(value: unknown, where: string): Descriptor {
  const bad = (why: string) => new MlsecError('VERIFICATION_FAILED', `${where}: ${why}`);
  if (typeof value !== 'object' || value === null) throw bad('not a descriptor');
  const d = value as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || d.mediaType.length === 0 || d.mediaType.length > 255) {
    throw bad('missing or bad mediaType');
  }
  if (typeof d.digest !== 'string' || !digestPattern.test(d.digest)) throw bad('digest is not sha256:<hex>');
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw bad('bad size');
  const result: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.annotations !== undefined) {
    if (typeof d.annotations !== 'object' || d.annotations === null) throw bad('bad annotations');
    const entries = Object.entries(d.annotations as Record<string, unknown>);
    if (entries.some(([, v]) => typeof v !== 'string')) throw bad('annotation values must be strings');
    result.annotations = Object.fromEntries(entries) as Record<string, string>;
  }
  if (typeof d.artifactType === 'string') result.artifactType = d.artifactType;
  return result;
}

/** An OCI image manifest from registry bytes, validated; an index or a Docker schema is refused. */
export function parseImageManifest(bytes: Uint8Array, where: string): ImageManifest {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new MlsecError('VERIFICATION_FAILED', `${where}: manifest is not JSON`);
  }
  if (typeof value !== 'object' || value === null) {
    throw new MlsecError('VERIFICATION_FAILED', `${where}: manifest is not an object`);
  }
  const m = value as Record<string, unknown>;
  if (m.schemaVersion !== 2) throw new MlsecError('VERIFICATION_FAILED', `${where}: schemaVersion is not 2`);
  if (m.mediaType !== undefined && m.mediaType !== ociManifestType) {
    throw new MlsecError(
      'VERIFICATION_FAILED',
      `${where}: ${String(m.mediaType)} is not an OCI image manifest (indexes are not pulled)`,
    );
  }
  if (!Array.isArray(m.layers)) throw new MlsecError('VERIFICATION_FAILED', `${where}: no layers`);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: ociManifestType,
    config: parseDescriptor(m.config, `${where} config`),
    layers: m.layers.map((layer, i) => parseDescriptor(layer, `${where} layer ${i}`)),
  };
  if (typeof m.artifactType === 'string') manifest.artifactType = m.artifactType;
  if (m.subject !== undefined) manifest.subject = parseDescriptor(m.subject, `${where} subject`);
  if (typeof m.annotations === 'object' && m.annotations !== null) {
    manifest.annotations = Object.fromEntries(
      Object.entries(m.annotations as Record<string, unknown>).filter(([, v]) => typeof v === 'string'),
    ) as Record<string, string>;
  }
  return manifest;
}

/** How pull lays a layer out: a file at a path, a tar to unpack, or nothing it knows how to place. */
export type LayerAction =
  | { action: 'file'; path: string }
  | { action: 'untar'; gzip: boolean }
  | { action: 'skip'; reason: string };

/**
 * Reads ModelPack, KitOps and ORAS layouts. Raw layers are named by `org.cncf.model.filepath` or
 * the ORAS title; an ORAS layer is a raw file unless it says to unpack.
 */
export function layerAction(layer: Descriptor): LayerAction {
  const type = layer.mediaType;
  const a = layer.annotations ?? {};
  const name = a[annotations.filepath] ?? a[annotations.title];
  const modelPack = /^application\/vnd\.cncf\.model\.[a-z.]+\.v1\.(raw|tar|tar\+gzip|tar\+zstd)$/.exec(type);
  if (modelPack) {
    const packing = modelPack[1];
    if (packing === 'raw') {
      return name
        ? { action: 'file', path: name }
        : { action: 'skip', reason: 'raw layer without a file path' };
    }
    if (packing === 'tar+zstd') return { action: 'skip', reason: 'zstd layers are not supported' };
    return { action: 'untar', gzip: packing === 'tar+gzip' };
  }
  if (/^application\/vnd\.kitops\.modelkit\.[a-z]+\.v1\.tar(\+gzip)?$/.test(type)) {
    return { action: 'untar', gzip: type.endsWith('+gzip') };
  }
  if (a[annotations.orasUnpack] === 'true' && type.endsWith('tar+gzip'))
    return { action: 'untar', gzip: true };
  if (name) return { action: 'file', path: name };
  return { action: 'skip', reason: `layer of type ${type} has no file name` };
}
