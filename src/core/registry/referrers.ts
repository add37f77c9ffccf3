import { ociEmptyDigest, ociEmptyType, ociIndexType, ociManifestType } from './media-types.js';
import type { Descriptor, ImageManifest } from './model-pack.js';

export interface ImageIndex {
  schemaVersion: 2;
  mediaType: typeof ociIndexType;
  manifests: Descriptor[];
}

/** An OCI 1.1 artifact manifest that refers to `subject`: the empty config and one layer. */
export function buildReferrerManifest(
  subject: Descriptor,
  artifactType: string,
  layer: Descriptor,
  annotations: Record<string, string> = {},
): ImageManifest {
  return {
    schemaVersion: 2,
    mediaType: ociManifestType,
    artifactType,
    config: { mediaType: ociEmptyType, digest: ociEmptyDigest, size: 2 },
    layers: [layer],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
}

/** The referrers tag schema's tag for a digest: `sha256:<hex>` → `sha256-<hex>`. */
export function referrersTag(digest: string): string {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return `${algorithm.slice(0, 32)}-${hex.slice(0, 64)}`.replace(/[^A-Za-z0-9_.-]/g, '-');
}

/** The fallback index with `referrer` added once; `current` is the index found at the tag, if any. */
export function addReferrer(current: ImageIndex | undefined, referrer: Descriptor): ImageIndex {
  const manifests = (current?.manifests ?? []).filter((d) => d.digest !== referrer.digest);
  return { schemaVersion: 2, mediaType: ociIndexType, manifests: [...manifests, referrer] };
}

/** Reads an index from registry bytes; anything else gives an empty list (a tag the schema does not own). */
export function parseReferrersIndex(bytes: Uint8Array): ImageIndex | undefined {
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes)) as Partial<ImageIndex>;
    if (value.schemaVersion !== 2 || !Array.isArray(value.manifests)) return undefined;
    const manifests = value.manifests.filter(
      (d): d is Descriptor =>
        typeof d === 'object' &&
        d !== null &&
        typeof d.digest === 'string' &&
        typeof d.mediaType === 'string',
    );
    return { schemaVersion: 2, mediaType: ociIndexType, manifests };
  } catch {
    return undefined;
  }
}
