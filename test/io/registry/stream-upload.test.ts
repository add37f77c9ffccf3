import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BlobCache } from '../../../src/io/registry/blob-cache.js';
import { RegistryClient } from '../../../src/io/registry/client.js';
import { pushModel } from '../../../src/io/registry/push-model.js';
import { tempDir } from '../../helpers/cli.js';
import { fakeServer } from './fake-registry.js';

const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** An in-memory registry; with `reset`, its first PATCH (the streamed upload) loses its connection midway. */
async function memoryRegistry(reset: boolean) {
  const blobs = new Map<string, Buffer>();
  const sessions = new Map<string, Buffer[]>();
  let patches = 0;
  const server = await fakeServer((req, res, url) => {
    const path = url.pathname;
    if (req.method === 'HEAD' && path.includes('/blobs/sha256:')) {
      res.writeHead(blobs.has(path.slice(path.lastIndexOf('/') + 1)) ? 200 : 404);
      res.end();
      return true;
    }
    if (req.method === 'POST') {
      const id = String(sessions.size + 1);
      sessions.set(id, []);
      res.writeHead(202, { location: `/v2/m/x/blobs/uploads/${id}` });
      res.end();
      return true;
    }
    const upload = /\/blobs\/uploads\/(\d+)$/.exec(path);
    if (upload && (req.method === 'PATCH' || req.method === 'PUT')) {
      patches += req.method === 'PATCH' ? 1 : 0;
      const chunks: Buffer[] = [];
      req.removeAllListeners('data');
      req.on('data', (c: Buffer) => {
        chunks.push(c);
        if (reset && req.method === 'PATCH' && patches === 1) req.socket.destroy();
      });
      req.on('end', () => {
        const session = sessions.get(upload[1]!)!;
        session.push(Buffer.concat(chunks));
        if (req.method === 'PATCH') {
          res.writeHead(202, { location: path });
          res.end();
          return;
        }
        const all = Buffer.concat(session);
        const digest = url.searchParams.get('digest') ?? '';
        const ok = digest === `sha256:${sha256Hex(all)}`;
        if (ok) blobs.set(digest, all);
        res.writeHead(ok ? 201 : 400);
        res.end();
      });
      return true;
    }
    if (req.method === 'PUT' && path.includes('/manifests/')) {
      res.writeHead(201);
      res.end();
      return true;
    }
    return false;
  });
  return { ...server, blobs, patches: () => patches };
}

async function push(registry: { host: string }, fileDigest: (hex: string) => string) {
  const dir = await tempDir();
  const bytes = Buffer.alloc(1_200_000, 9);
  await writeFile(join(dir, 'weights.bin'), bytes);
  const client = new RegistryClient({
    registry: registry.host,
    repository: 'm/x',
    plainHttp: true,
    retry: { retries: 2, baseDelayMs: 1 },
  });
  const hex = sha256Hex(bytes);
  try {
    const result = await pushModel({
      client,
      cache: await BlobCache.open(join(dir, 'cache')),
      root: dir,
      files: [{ path: 'weights.bin', absolute: join(dir, 'weights.bin'), size: bytes.length }],
      fileDigests: Promise.resolve(new Map([['weights.bin', fileDigest(hex)]])),
      provenance: { name: 'm', modelDigest: `sha256:${'0'.repeat(64)}`, created: '2026-01-01T00:00:00Z' },
      tag: 'v1',
      concurrency: 2,
    });
    return { result, hex, bytes };
  } finally {
    await client.close();
  }
}

describe('streamed blob upload', () => {
  it('falls back to the digest-first upload when the stream breaks off', async () => {
    const registry = await memoryRegistry(true);
    const { result, hex, bytes } = await push(registry, (h) => h);
    expect(result.blobs.map((b) => [b.name, b.status, b.streamed ?? false])).toEqual([
      ['weights.bin', 'uploaded', false],
      ['config', 'uploaded', false],
    ]);
    expect(registry.patches()).toBe(1);
    expect(registry.blobs.get(`sha256:${hex}`)?.equals(bytes)).toBe(true);
  });

  it('streams a new file in one PATCH and closes it with the digest of the bytes sent', async () => {
    const registry = await memoryRegistry(false);
    const { result, hex, bytes } = await push(registry, (h) => h);
    expect(result.blobs.map((b) => [b.name, b.digest, b.status, b.streamed ?? false])).toEqual([
      ['weights.bin', `sha256:${hex}`, 'uploaded', true],
      ['config', result.blobs[1]!.digest, 'uploaded', false],
    ]);
    expect(registry.patches()).toBe(1);
    expect(registry.blobs.get(`sha256:${hex}`)?.equals(bytes)).toBe(true);
  });

  it("fails the push when the streamed bytes' digest is not the one the model hash computed", async () => {
    const registry = await memoryRegistry(false);
    const other = 'f'.repeat(64);
    const hex = sha256Hex(Buffer.alloc(1_200_000, 9));
    await expect(push(registry, () => other)).rejects.toThrow(
      `weights.bin changed during the push: uploaded sha256:${hex}, hashed sha256:${other}`,
    );
  });
});
