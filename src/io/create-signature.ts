import type { KeyObject, X509Certificate } from 'node:crypto';
import { buildCertificateBundle, buildKeyBundle } from '../core/sign/sign-bundle.js';
import { signKeyless } from './sigstore-signing.js';

/** How to sign: the three OMS methods, with what each needs already loaded. */
export type SignatureSpec =
  | { method: 'key'; privateKey: KeyObject }
  | { method: 'certificate'; privateKey: KeyObject; chain: readonly X509Certificate[] }
  | { method: 'sigstore'; identityToken: string; fulcioURL: string; rekorURL: string };

/** The OMS bundle over a statement's bytes; `sign` and `push --sign` both sign through here. */
export async function createSignature(
  payload: Buffer,
  spec: SignatureSpec,
): Promise<Record<string, unknown>> {
  if (spec.method === 'key') return buildKeyBundle(payload, spec.privateKey);
  if (spec.method === 'certificate') return buildCertificateBundle(payload, spec.privateKey, spec.chain);
  return signKeyless(payload, spec);
}
