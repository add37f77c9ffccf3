import { createPublicKey, type KeyObject, sign, type X509Certificate } from 'node:crypto';
import { MlsecError } from '../errors.js';
import type { OmsStatement } from '../hash/manifest.js';
import { inTotoPayloadType, pae, sigstoreBundleMediaType } from './dsse.js';
import { keyAlgorithm, keyHint, publicKeyPem } from './keys.js';

/** The statement's bytes as signed: model_signing's layout (two-space JSON); never re-serialized after. */
export function statementBytes(statement: OmsStatement): Buffer {
  return Buffer.from(JSON.stringify(statement, null, 2), 'utf8');
}

function envelope(payload: Buffer, privateKey: KeyObject) {
  const { hash } = keyAlgorithm(privateKey);
  const signature = sign(hash, pae(inTotoPayloadType, payload), privateKey);
  return {
    payload: payload.toString('base64'),
    payloadType: inTotoPayloadType,
    signatures: [{ sig: signature.toString('base64'), keyid: '' }],
  };
}

/** A key-method bundle in the shape model_signing 1.1 writes: the key's hint, no log entries. */
export function buildKeyBundle(payload: Buffer, privateKey: KeyObject): Record<string, unknown> {
  return {
    mediaType: sigstoreBundleMediaType,
    verificationMaterial: { publicKey: { hint: keyHint(privateKey) }, tlogEntries: [] },
    dsseEnvelope: envelope(payload, privateKey),
  };
}

/**
 * A certificate-method bundle: the chain, leaf first, as model_signing writes it. The leaf must
 * certify the signing key, or every verifier would reject the result.
 */
export function buildCertificateBundle(
  payload: Buffer,
  privateKey: KeyObject,
  chain: readonly X509Certificate[],
): Record<string, unknown> {
  const leaf = chain[0];
  if (!leaf) throw new MlsecError('USAGE', '--certificate is required with --certificate-chain');
  const leafKey = publicKeyPem(createPublicKey(leaf.publicKey.export({ type: 'spki', format: 'pem' })));
  if (leafKey !== publicKeyPem(privateKey)) {
    throw new MlsecError(
      'INPUT_INVALID',
      'the signing certificate does not certify the private key given with --key',
    );
  }
  return {
    mediaType: sigstoreBundleMediaType,
    verificationMaterial: {
      x509CertificateChain: { certificates: chain.map((c) => ({ rawBytes: c.raw.toString('base64') })) },
      tlogEntries: [],
    },
    dsseEnvelope: envelope(payload, privateKey),
  };
}
