import { X509Certificate } from 'node:crypto';
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
    const limit = index === 0 ? undefined : pathLength(cert.raw);
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
  return keyUsageBits(leaf.raw)?.digitalSignature ?? false;
}

/**
 * The KeyUsage extension's digitalSignature bit, read from the DER (node:crypto exposes only the
 * extended key usage): OID 2.5.29.15, optional critical flag, then an OCTET STRING holding a BIT STRING.
 */
function keyUsageBits(der: Buffer): { digitalSignature: boolean } | undefined {
  const oid = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x0f]);
  let at = der.indexOf(oid);
  if (at < 0) return undefined;
  at += oid.length;
  if (der[at] === 0x01) at += 3; // BOOLEAN critical
  if (der[at] !== 0x04) return undefined;
  at += 2; // OCTET STRING, short length
  if (der[at] !== 0x03) return undefined;
  const length = der[at + 1] ?? 0;
  const firstByte = length >= 2 ? (der[at + 3] ?? 0) : 0;
  return { digitalSignature: (firstByte & 0x80) !== 0 };
}

/**
 * The pathLenConstraint of a basicConstraints extension (OID 2.5.29.19), read from the DER:
 * optional critical flag, OCTET STRING, SEQUENCE { BOOLEAN cA, INTEGER pathLen }.
 */
function pathLength(der: Buffer): number | undefined {
  const oid = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x13]);
  let at = der.indexOf(oid);
  if (at < 0) return undefined;
  at += oid.length;
  if (der[at] === 0x01) at += 3;
  if (der[at] !== 0x04) return undefined;
  at += 2;
  if (der[at] !== 0x30) return undefined;
  const end = at + 2 + (der[at + 1] ?? 0);
  at += 2;
  if (der[at] === 0x01) at += 3;
  if (at >= end || der[at] !== 0x02) return undefined;
  const length = der[at + 1] ?? 0;
  let value = 0;
  for (let i = 0; i < length && i < 4; i++) value = value * 256 + (der[at + 2 + i] ?? 0);
  return value;
}

export function parseCertificate(der: Buffer, what: string): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch {
    return fail('certificate', `${what} is not an X.509 certificate`);
  }
}
