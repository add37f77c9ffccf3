import { MlsecError } from '../../core/errors.js';
import { type Descriptor, parseImageManifest } from '../../core/registry/model-pack.js';
import { parseReferrersIndex, referrersTag } from '../../core/registry/referrers.js';
import type { RegistryClient } from './client.js';

/** Referrers of `digest`: the registry's referrers API, else the `sha256-<hex>` tag index. */
export async function listReferrers(client: RegistryClient, digest: string): Promise<Descriptor[]> {
  const fromApi = await client.referrersApi(digest);
  const bytes = fromApi ?? (await client.findManifest(referrersTag(digest)))?.bytes;
  return bytes ? (parseReferrersIndex(bytes)?.manifests ?? []) : [];
}

/** The single-layer document of the newest referrer of `artifactType`, or undefined when there is none. */
export async function fetchReferrerDocument(
  client: RegistryClient,
  digest: string,
  artifactType: string,
): Promise<Uint8Array | undefined> {
  const found = (await listReferrers(client, digest)).filter((d) => d.artifactType === artifactType).at(-1);
  if (!found) return undefined;
  const fetched = await client.getManifest(found.digest);
  const manifest = parseImageManifest(fetched.bytes, `referrer ${found.digest}`);
  if (manifest.subject?.digest !== digest) {
    throw new MlsecError('VERIFICATION_FAILED', `referrer ${found.digest} does not refer to ${digest}`);
  }
  const layer = manifest.layers[0];
  if (!layer) throw new MlsecError('VERIFICATION_FAILED', `referrer ${found.digest} has no content`);
  return client.fetchSmallBlob(layer);
}
