import { bundleToJSON } from '@sigstore/bundle';
import { DSSEBundleBuilder, FulcioSigner, RekorWitness } from '@sigstore/sign';
import { MlsecError } from '../core/errors.js';
import { inTotoPayloadType } from '../core/sign/dsse.js';

export const publicGoodFulcio = 'https://fulcio.sigstore.dev';
export const publicGoodRekor = 'https://rekor.sigstore.dev';

export interface KeylessOptions {
  identityToken: string;
  fulcioURL: string;
  rekorURL: string;
  /** Per request; sigstore-js retries on its own. */
  timeoutMs?: number;
}

/**
 * Keyless signing: an ephemeral key, a Fulcio certificate for the token's identity, and a Rekor
 * `dsse` entry whose inclusion proof lands in the bundle so it verifies offline later.
 */
export async function signKeyless(
  payload: Buffer,
  options: KeylessOptions,
): Promise<Record<string, unknown>> {
  const timeout = options.timeoutMs ?? 30_000;
  const retry = { retries: 2 };
  const signer = new FulcioSigner({
    fulcioBaseURL: options.fulcioURL,
    identityProvider: { getToken: async () => options.identityToken },
    timeout,
    retry,
  });
  const witnesses = [
    new RekorWitness({
      rekorBaseURL: options.rekorURL,
      entryType: 'dsse',
      fetchOnConflict: false,
      timeout,
      retry,
    }),
  ];
  try {
    const bundle = await new DSSEBundleBuilder({ signer, witnesses }).create({
      data: payload,
      type: inTotoPayloadType,
    });
    return bundleToJSON(bundle) as unknown as Record<string, unknown>;
  } catch (error) {
    // sigstore-js messages name the service and the HTTP status, never the token.
    throw new MlsecError('SIGNING_FAILED', `keyless signing failed: ${(error as Error).message}`);
  }
}
