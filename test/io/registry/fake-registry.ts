import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Header } from 'tar';
import { onTestFinished } from 'vitest';

export interface SeenRequest {
  method: string;
  path: string;
  authorization: string | undefined;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean;

/** An HTTP server on 127.0.0.1 that answers with `handler`, or 404; closed when the test ends. */
export async function fakeServer(handler: Handler) {
  const requests: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push({ method: req.method ?? '', path: url.pathname, authorization: req.headers.authorization });
    req.resume();
    if (!handler(req, res, url)) {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

export const digestOf = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export interface FakeLayer {
  mediaType: string;
  bytes: Buffer;
  annotations?: Record<string, string>;
  /** Descriptor digest/size to claim instead of the real ones. */
  claim?: { digest?: string; size?: number };
}

/** A manifest and its blobs, as a registry would store them. */
export function artifact(layers: FakeLayer[]) {
  const config = Buffer.from('{"modelfs":{"type":"layers","diffIds":[]}}');
  const blobs = new Map<string, Buffer>([[digestOf(config), config]]);
  const descriptors = layers.map((layer) => {
    const digest = layer.claim?.digest ?? digestOf(layer.bytes);
    blobs.set(digest, layer.bytes);
    return {
      mediaType: layer.mediaType,
      digest,
      size: layer.claim?.size ?? layer.bytes.length,
      ...(layer.annotations ? { annotations: layer.annotations } : {}),
    };
  });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.cncf.model.config.v1+json',
        digest: digestOf(config),
        size: config.length,
      },
      layers: descriptors,
    }),
  );
  return { manifest, blobs, descriptors };
}

/** Serves `art` for repository `m/x` at tag `v1`; `override` answers first. */
export function serveArtifact(art: ReturnType<typeof artifact>, override?: Handler): Handler {
  return (req, res, url) => {
    if (override?.(req, res, url)) return true;
    if (url.pathname === '/v2/m/x/manifests/v1') {
      res.setHeader('content-type', 'application/vnd.oci.image.manifest.v1+json');
      res.end(art.manifest);
      return true;
    }
    const blob = /^\/v2\/m\/x\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    const bytes = blob ? art.blobs.get(blob[1]!) : undefined;
    if (bytes) {
      res.setHeader('content-length', bytes.length);
      res.end(bytes);
      return true;
    }
    return false;
  };
}

export interface TarMember {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice';
  body?: Buffer;
  linkpath?: string;
}

/** A tar written header by header, so it can hold what tar writers refuse to write. */
export function rawTar(members: TarMember[]): Buffer {
  const blocks: Buffer[] = [];
  for (const member of members) {
    const body = member.body ?? Buffer.alloc(0);
    const header = new Header({
      path: member.path,
      type: member.type ?? 'File',
      size: member.type && member.type !== 'File' ? 0 : body.length,
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: new Date(0),
      ...(member.linkpath ? { linkpath: member.linkpath } : {}),
    });
    const block = Buffer.alloc(512);
    header.encode(block);
    blocks.push(block, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** The blob requests a fake server saw (a pull refused from its manifest must have made none). */
export function blobRequests(server: { requests: SeenRequest[] }): SeenRequest[] {
  return server.requests.filter((r) => r.path.includes('/blobs/'));
}

/** Answers 200 and then one byte every `everyMs` for as long as the client listens: a body that never ends. */
export function trickle(res: ServerResponse, everyMs: number, headers: Record<string, string> = {}): void {
  res.writeHead(200, headers);
  res.write('{');
  const timer = setInterval(() => res.write(' '), everyMs);
  res.on('close', () => clearInterval(timer));
}
