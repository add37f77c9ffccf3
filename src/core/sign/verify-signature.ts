import { createPublicKey, type KeyObject, verify, type X509Certificate } from 'node:crypto';
import type { OmsBundle } from './bundle.js';
import { parseCertificate, verifyCertificateChain } from './certificates.js';
import { pae, paeCompat } from './dsse.js';
import { fail } from './failure.js';
import { keyAlgorithm, keyHint } from './keys.js';
import { type IdentityPolicy, verifySigstoreBundle } from './sigstore-verify.js';

/** What a signature is checked against: the three OMS signing methods. */
export type VerifyMaterial =
  | { method: 'key'; publicKey: KeyObject }
  | { method: 'certificate'; roots: readonly X509Certificate[] }
  | { method: 'sigstore'; trustedRoot: unknown; identity: IdentityPolicy };

/** Who signed, as far as verification established it. */
export interface Signer {
  method: VerifyMaterial['method'];
  keyHint?: string;
  certificateSubject?: string;
  identity?: string;
  issuer?: string;
  transparencyLogIndex?: string;
}

/** Checks the envelope's signature (and chain, log and identity); throws a VerificationFailure. */
export function verifyBundleSignature(bundle: OmsBundle, material: VerifyMaterial): Signer {
  if (material.method === 'sigstore') {
    if (bundle.material.kind !== 'certificate') {
      fail('signature', `the signature was made with a ${describeMaterial(bundle)}, not keyless Sigstore`);
    }
    return {
      method: 'sigstore',
      ...verifySigstoreBundle(bundle.json, material.trustedRoot, material.identity),
    };
  }
  if (material.method === 'key') {
    if (bundle.material.kind !== 'publicKey') {
      fail(
        'signature',
        `the signature was made with a ${describeMaterial(bundle)}, not a key (use the matching verify options)`,
      );
    }
    const expected = keyHint(material.publicKey);
    if (bundle.material.hint !== undefined && bundle.material.hint !== expected) {
      fail('key', `signed by another key (key hint ${bundle.material.hint}, the given key is ${expected})`);
    }
    checkEnvelope(bundle, material.publicKey);
    return { method: 'key', keyHint: expected };
  }
  if (bundle.material.kind !== 'x509CertificateChain') {
    fail('signature', `the signature was made with a ${describeMaterial(bundle)}, not a certificate chain`);
  }
  const [leafDer, ...rest] = bundle.material.certificates;
  const leaf = parseCertificate(leafDer!, 'the signing certificate');
  const intermediates = rest.map((der, i) => parseCertificate(der, `chain certificate ${i + 1}`));
  verifyCertificateChain(leaf, intermediates, material.roots);
  checkEnvelope(bundle, createPublicKey(leaf.publicKey.export({ type: 'spki', format: 'pem' })));
  return { method: 'certificate', certificateSubject: leaf.subject.replace(/\n/g, ', ') };
}

function describeMaterial(bundle: OmsBundle): string {
  return { publicKey: 'key', x509CertificateChain: 'certificate chain', certificate: 'Sigstore certificate' }[
    bundle.material.kind
  ];
}

/** ECDSA over the PAE with the curve's hash; then model_signing v0.2's encoding with SHA-256. */
function checkEnvelope(bundle: OmsBundle, key: KeyObject): void {
  const { hash } = keyAlgorithm(key);
  const signed = (data: Buffer, algorithm: string) => {
    try {
      return verify(algorithm, data, key, bundle.signature);
    } catch {
      return false;
    }
  };
  if (signed(pae(bundle.payloadType, bundle.payload), hash)) return;
  if (signed(paeCompat(bundle.payloadType, bundle.payload), 'sha256')) return;
  fail(
    'signature',
    'the signature does not match the signed statement (the signature file was altered, or another key signed it)',
  );
}
