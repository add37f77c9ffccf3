import { fail } from './failure.js';

/** The parts of an OMS signature file (a Sigstore bundle) that verification needs. */
export interface OmsBundle {
  mediaType: string;
  payload: Buffer;
  payloadType: string;
  signature: Buffer;
  material: BundleMaterial;
  tlogEntries: unknown[];
  /** The parsed JSON, for the Sigstore verifier, which reads the bundle itself. */
  json: Record<string, unknown>;
}

export type BundleMaterial =
  | { kind: 'publicKey'; hint?: string; rawBytes?: Buffer }
  | { kind: 'x509CertificateChain'; certificates: Buffer[] }
  | { kind: 'certificate'; rawBytes: Buffer };

/** Bundles larger than this are refused before parsing: a real one is a few KiB. */
export const maxBundleBytes = 4 << 20;

const base64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function bytes(value: unknown, what: string): Buffer {
  if (typeof value !== 'string' || !base64.test(value)) fail('signature-file', `${what} is not base64`);
  return Buffer.from(value, 'base64');
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail('signature-file', `${what} is missing or not an object`);
  }
  return value as Record<string, unknown>;
}

/** Reads a signature file; anything that is not an OMS bundle fails with a precise reason. */
export function parseOmsBundle(text: string): OmsBundle {
  if (text.length > maxBundleBytes) fail('signature-file', 'signature file is larger than 4 MiB');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    fail('signature-file', `signature file is not JSON: ${(error as Error).message}`);
  }
  const json = object(data, 'the bundle');
  const mediaType = json.mediaType;
  if (typeof mediaType !== 'string' || !mediaType.startsWith('application/vnd.dev.sigstore.bundle')) {
    fail('signature-file', `not a Sigstore bundle (mediaType ${JSON.stringify(mediaType)})`);
  }
  const envelope = object(json.dsseEnvelope, 'dsseEnvelope');
  const signatures = envelope.signatures;
  if (!Array.isArray(signatures) || signatures.length !== 1) {
    fail('signature-file', 'the DSSE envelope must hold exactly one signature');
  }
  const first = object(signatures[0], 'the DSSE signature');
  const payloadType = envelope.payloadType;
  if (typeof payloadType !== 'string') fail('signature-file', 'dsseEnvelope.payloadType is missing');
  const material = object(json.verificationMaterial, 'verificationMaterial');
  const tlogEntries = material.tlogEntries ?? [];
  if (!Array.isArray(tlogEntries)) fail('signature-file', 'verificationMaterial.tlogEntries is not a list');
  return {
    mediaType,
    payload: bytes(envelope.payload, 'dsseEnvelope.payload'),
    payloadType,
    signature: bytes(first.sig, 'the DSSE signature'),
    material: readMaterial(material),
    tlogEntries,
    json,
  };
}

function readMaterial(material: Record<string, unknown>): BundleMaterial {
  if (material.publicKey !== undefined) {
    const key = object(material.publicKey, 'verificationMaterial.publicKey');
    const hint = key.hint;
    if (hint !== undefined && typeof hint !== 'string')
      fail('signature-file', 'publicKey.hint is not a string');
    return {
      kind: 'publicKey',
      ...(hint ? { hint } : {}),
      ...(key.rawBytes === undefined ? {} : { rawBytes: bytes(key.rawBytes, 'publicKey.rawBytes') }),
    };
  }
  if (material.x509CertificateChain !== undefined) {
    const chain = object(material.x509CertificateChain, 'verificationMaterial.x509CertificateChain');
    const list = chain.certificates;
    if (!Array.isArray(list) || list.length === 0) fail('signature-file', 'the certificate chain is empty');
    return {
      kind: 'x509CertificateChain',
      certificates: list.map((c, i) => bytes(object(c, `certificate ${i}`).rawBytes, `certificate ${i}`)),
    };
  }
  if (material.certificate !== undefined) {
    const cert = object(material.certificate, 'verificationMaterial.certificate');
    return { kind: 'certificate', rawBytes: bytes(cert.rawBytes, 'the certificate') };
  }
  return fail('signature-file', 'verificationMaterial has no public key or certificate');
}
