import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { fail } from './failure.js';

/** An expected identity: exact strings unless a pattern is given, which must match whole. */
export interface IdentityPolicy {
  identity: string | RegExp;
  issuer: string | RegExp;
}

/**
 * Keyless verification with sigstore-js: Fulcio chain to the trusted root, SCT, Rekor inclusion
 * (offline, from the bundle's own proof and promise), timestamps and the DSSE signature. The
 * identity is compared here, exactly: sigstore-js would match the SAN as an unanchored pattern.
 */
export function verifySigstoreBundle(
  json: unknown,
  trustedRoot: unknown,
  policy: IdentityPolicy,
): { identity: string; issuer: string; transparencyLogIndex?: string } {
  let signer: ReturnType<Verifier['verify']>;
  try {
    const material = toTrustMaterial(TrustedRoot.fromJSON(trustedRoot));
    signer = new Verifier(material).verify(toSignedEntity(bundleFromJSON(json)));
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    const message = (error as Error).message;
    if (code.startsWith('TLOG')) fail('transparency-log', `transparency log check failed: ${message}`);
    if (code.startsWith('CERTIFICATE') || code.startsWith('PUBLIC_KEY') || code.startsWith('TIMESTAMP')) {
      fail('certificate', `certificate check failed: ${message}`);
    }
    fail('signature', `Sigstore verification failed: ${message}`);
  }
  const identity = signer.identity?.subjectAlternativeName ?? '';
  const issuer = signer.identity?.extensions?.issuer ?? '';
  if (!matches(policy.identity, identity)) {
    fail('identity', `signed by ${JSON.stringify(identity)}, not ${describe(policy.identity)}`);
  }
  if (!matches(policy.issuer, issuer)) {
    fail('identity', `identity issued by ${JSON.stringify(issuer)}, not ${describe(policy.issuer)}`);
  }
  const entry = (json as { verificationMaterial?: { tlogEntries?: { logIndex?: string }[] } })
    .verificationMaterial?.tlogEntries?.[0];
  return { identity, issuer, ...(entry?.logIndex ? { transparencyLogIndex: String(entry.logIndex) } : {}) };
}

function matches(expected: string | RegExp, actual: string): boolean {
  if (typeof expected === 'string') return expected === actual;
  // Anchored as a whole, so an alternation cannot match a prefix and stop there.
  return new RegExp(`^(?:${expected.source})$`, expected.flags).test(actual);
}

function describe(expected: string | RegExp): string {
  return typeof expected === 'string' ? JSON.stringify(expected) : `a match of /${expected.source}/`;
}
