import { createHash, generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fulcioHandler, initializeCA, initializeCTLog, initializeTLog } from '@sigstore/mock';

/** An unsigned JWT, enough for Fulcio's mock, which reads the claims without checking them. */
export function fakeIdentityToken(claims: { iss: string; sub: string }): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ ...claims, aud: 'sigstore', iat: now, exp: now + 600 })}.`;
}

export interface FakeSigstore {
  fulcioURL: string;
  rekorURL: string;
  /** A trusted root naming this CA, CT log and transparency log. */
  trustedRoot: object;
  /** Requests served, by path: tests check that verification made none. */
  requests: string[];
  close: () => Promise<void>;
}

const p256 = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const b64 = (bytes: ArrayBufferView | Buffer) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/**
 * Fulcio and Rekor on 127.0.0.1 from @sigstore/mock's building blocks. Rekor's mock logs the
 * proposed entry as sent; a real Rekor logs the canonical `dsse` body, so that is built here.
 */
export async function startFakeSigstore(): Promise<FakeSigstore> {
  const requests: string[] = [];
  const handlers = new Map<string, (body: string) => Promise<{ statusCode: number; response: unknown }>>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', async () => {
      const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
      requests.push(path);
      const handler = handlers.get(path);
      if (!handler) {
        response.writeHead(404).end();
        return;
      }
      const result = await handler(Buffer.concat(chunks).toString('utf8'));
      const body =
        typeof result.response === 'string' ? result.response : Buffer.from(result.response as Uint8Array);
      response.writeHead(result.statusCode, { 'content-type': 'application/json' }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const ctlog = await initializeCTLog(p256());
  const ca = await initializeCA(p256(), ctlog);
  const tlog = await initializeTLog(url, p256());
  const fulcio = fulcioHandler(ca);
  handlers.set(fulcio.path, fulcio.fn);
  handlers.set('/api/v1/log/entries', async (body) => {
    const proposed = JSON.parse(body) as {
      spec: { proposedContent: { envelope: string; verifiers: string[] } };
    };
    const { envelope, verifiers } = proposed.spec.proposedContent;
    const parsed = JSON.parse(envelope) as { payload: string; signatures: { sig: string }[] };
    const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
    const entry = await tlog.log({
      apiVersion: '0.0.1',
      kind: 'dsse',
      spec: {
        envelopeHash: { algorithm: 'sha256', value: sha256(envelope) },
        payloadHash: { algorithm: 'sha256', value: sha256(Buffer.from(parsed.payload, 'base64')) },
        signatures: [{ signature: parsed.signatures[0]!.sig, verifier: verifiers[0] }],
      },
    });
    return { statusCode: 201, response: JSON.stringify(entry) };
  });
  const since = { start: '2000-01-01T00:00:00Z' };
  const key = (raw: Buffer) => ({
    rawBytes: b64(raw),
    keyDetails: 'PKIX_ECDSA_P256_SHA_256',
    validFor: since,
  });
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      {
        baseUrl: url,
        hashAlgorithm: 'SHA2_256',
        publicKey: key(tlog.publicKey),
        logId: { keyId: createHash('sha256').update(tlog.publicKey).digest('base64') },
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: 'mlsec tests', commonName: 'fake fulcio' },
        uri: url,
        certChain: { certificates: [{ rawBytes: b64(ca.rootCertificate) }] },
        validFor: since,
      },
    ],
    ctlogs: [
      {
        baseUrl: url,
        hashAlgorithm: 'SHA2_256',
        publicKey: key(ctlog.publicKey),
        logId: { keyId: b64(ctlog.logID) },
      },
    ],
    timestampAuthorities: [],
  };
  return {
    fulcioURL: url,
    rekorURL: url,
    trustedRoot,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
