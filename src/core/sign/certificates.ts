import { X509Certificate } from 'node:crypto';
import { X509Certificate as SigstoreCertificate } from '@sigstore/core';
import { fail } from './failure.js';

const codeSigning = '1.3.6.1.5.5.7.3.3';
const maxChainLength = 10;

/**
 * Checks that `leaf` chains to one of `roots` through `intermediates`, as model_signing does:
 * every certificate valid at the leaf's notBefore (a signature outlives its short-lived
 * certificate), each signed by the next, every issuer a CA, and a leaf fit for signing.
 */
export function verifyCertificateChain(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  roots: readonly X509Certificate[],
): X509Certificate[] {
  if (roots.length === 0) fail('certificate', 'no trusted root certificates given (--certificate-chain)');
  const at = new Date(leaf.validFrom);
  // As OpenSSL's store does by default, only self-signed roots anchor a chain: a pinned leaf or
  // intermediate does not, so handing over the signer's own certificate trusts nothing.
  const anchors = roots.filter((root) => isIssuer(root, root));
  const chain = [leaf];
  let current = leaf;
  while (!anchors.some((root) => root.fingerprint256 === current.fingerprint256)) {
    if (chain.length > maxChainLength) fail('certificate', 'the certificate chain is too long');
    const issuer = [...intermediates, ...anchors].find((c) => c !== current && isIssuer(c, current));
    if (!issuer) {
      fail(
        'certificate',
        `certificate "${current.subject.replace(/\n/g, ', ')}" does not chain to a trusted root`,
      );
    }
    if (!issuer.ca) fail('certificate', `issuer "${issuer.subject.replace(/\n/g, ', ')}" is not a CA`);
    chain.push(issuer);
    current = issuer;
  }
  for (const cert of chain) {
    if (at < new Date(cert.validFrom) || at > new Date(cert.validTo)) {
      fail(
        'certificate',
        `certificate "${cert.subject.replace(/\n/g, ', ')}" was not valid when the signing certificate was issued`,
      );
    }
  }
  // A CA's pathLenConstraint bounds the CAs below it, as OpenSSL (and so model_signing) enforces.
  chain.forEach((cert, index) => {
    const limit = index === 0 ? undefined : pathLength(cert);
    const below = Math.max(0, index - 1);
    if (limit !== undefined && below > limit) {
      fail(
        'certificate',
        `certificate "${cert.subject.replace(/\n/g, ', ')}" allows ${limit} CAs below it, the chain has ${below}`,
      );
    }
  });
  if (!usableForSigning(leaf)) {
    fail('certificate', 'the signing certificate allows neither digitalSignature nor codeSigning');
  }
  return chain;
}

function isIssuer(candidate: X509Certificate, cert: X509Certificate): boolean {
  return cert.checkIssued(candidate) && cert.verify(candidate.publicKey);
}

/** Key usage digitalSignature or extended key usage codeSigning, as model_signing requires. */
function usableForSigning(leaf: X509Certificate): boolean {
  if (leaf.keyUsage?.includes(codeSigning)) return true;
  return extensionsOf(leaf)?.digitalSignature ?? false;
}

/** The basicConstraints pathLenConstraint of a CA, when it has one. */
function pathLength(cert: X509Certificate): number | undefined {
  const extensions = extensionsOf(cert);
  if (!extensions) {
    fail(
      'certificate',
      `the extensions of certificate "${cert.subject.replace(/\n/g, ', ')}" cannot be read`,
    );
  }
  return extensions.pathLength;
}

/**
 * node:crypto exposes neither the KeyUsage bits nor the path length: @sigstore/core's ASN.1 reader
 * decodes the extensions (lazily, so every read is inside the try). A certificate it cannot decode
 * is refused.
 */
function extensionsOf(
  cert: X509Certificate,
): { digitalSignature: boolean; pathLength: number | undefined } | undefined {
  try {
    const parsed = SigstoreCertificate.parse(Buffer.from(cert.raw));
    const limit = parsed.extBasicConstraints?.pathLenConstraint;
    return {
      digitalSignature: parsed.extKeyUsage?.digitalSignature ?? false,
      pathLength: limit === undefined ? undefined : Number(limit),
    };
  } catch {
    return undefined;
  }
}

export function parseCertificate(der: Buffer, what: string): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch {
    return fail('certificate', `${what} is not an X.509 certificate`);
  }
}
