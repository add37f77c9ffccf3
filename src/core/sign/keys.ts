import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { MlsecError } from '../errors.js';

export const signingCurves = ['P-256', 'P-384', 'P-521'] as const;
export type SigningCurve = (typeof signingCurves)[number];
export type SignatureHash = 'sha256' | 'sha384' | 'sha512';

const byNodeName: Record<string, { curve: SigningCurve; hash: SignatureHash; details: string }> = {
  prime256v1: { curve: 'P-256', hash: 'sha256', details: 'PKIX_ECDSA_P256_SHA_256' },
  secp384r1: { curve: 'P-384', hash: 'sha384', details: 'PKIX_ECDSA_P384_SHA_384' },
  secp521r1: { curve: 'P-521', hash: 'sha512', details: 'PKIX_ECDSA_P521_SHA_512' },
};

export const nodeCurveName: Record<SigningCurve, string> = {
  'P-256': 'prime256v1',
  'P-384': 'secp384r1',
  'P-521': 'secp521r1',
};

/** The curve of an EC key and the hash OMS pairs with it; any other key is refused. */
export function keyAlgorithm(key: KeyObject): { curve: SigningCurve; hash: SignatureHash; details: string } {
  const curve = key.asymmetricKeyType === 'ec' ? key.asymmetricKeyDetails?.namedCurve : undefined;
  const known = curve === undefined ? undefined : byNodeName[curve];
  if (!known) {
    const what = key.asymmetricKeyType === 'ec' ? `EC key on ${curve}` : `${key.asymmetricKeyType} key`;
    throw new MlsecError(
      'INPUT_INVALID',
      `unsupported ${what}: OMS signatures use ECDSA on P-256, P-384 or P-521`,
    );
  }
  return known;
}

/** SubjectPublicKeyInfo PEM, exactly as model_signing writes it before hashing it into the hint. */
export function publicKeyPem(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'pem' }).toString();
}

/** The `publicKey.hint` of an OMS key bundle: hex SHA-256 of the public key's PEM text. */
export function keyHint(key: KeyObject): string {
  return createHash('sha256').update(publicKeyPem(key)).digest('hex');
}
