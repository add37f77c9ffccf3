import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../../src/io/registry/client.js';
import { digestOf, fakeServer } from './fake-registry.js';

describe('chunked upload', () => {
  it('resumes from the offset the registry reports after a connection reset', async () => {
    const blob = Buffer.from(Array.from({ length: 3500 }, (_, i) => i % 251));
    const received: Buffer[] = [];
    const ranges: string[] = [];
    let resetDone = false;
    let stored: string | undefined;
    const server = await fakeServer((req, res, url) => {
      const size = () => received.reduce((n, b) => n + b.length, 0);
      if (req.method === 'HEAD') return false;
      if (req.method === 'POST') {
        res.writeHead(202, { location: '/v2/m/x/blobs/uploads/1' });
        res.end();
        return true;
      }
      if (req.method === 'GET' && url.pathname === '/v2/m/x/blobs/uploads/1') {
        res.writeHead(204, { range: `0-${size() - 1}`, location: '/v2/m/x/blobs/uploads/1' });
        res.end();
        return true;
      }
      if (req.method === 'PATCH') {
        ranges.push(String(req.headers['content-range']));
        if (ranges.length === 2 && !resetDone) {
          resetDone = true;
          req.socket.destroy();
          return true;
        }
        const chunks: Buffer[] = [];
        req.removeAllListeners('data');
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          received.push(Buffer.concat(chunks));
          res.writeHead(202, { location: '/v2/m/x/blobs/uploads/1', range: `0-${size() - 1}` });
          res.end();
        });
        return true;
      }
      if (req.method === 'PUT') {
        const all = Buffer.concat(received);
        stored = `sha256:${createHash('sha256').update(all).digest('hex')}`;
        res.writeHead(stored === url.searchParams.get('digest') ? 201 : 400);
        res.end();
        return true;
      }
      return false;
    });
    const client = new RegistryClient({
      registry: server.host,
      repository: 'm/x',
      plainHttp: true,
      chunkSize: 1000,
      retry: { retries: 2, baseDelayMs: 1 },
    });
    try {
      const result = await client.pushBlob(
        { mediaType: 'application/octet-stream', digest: digestOf(blob), size: blob.length },
        (start, end) => blob.subarray(start, end),
      );
      expect(result).toBe('uploaded');
    } finally {
      await client.close();
    }
    expect(ranges).toEqual(['0-999', '1000-1999', '1000-1999', '2000-2999', '3000-3499']);
    expect(stored).toBe(digestOf(blob));
    expect(server.requests.filter((r) => r.method === 'GET').map((r) => r.path)).toEqual([
      '/v2/m/x/blobs/uploads/1',
    ]);
  });
});
