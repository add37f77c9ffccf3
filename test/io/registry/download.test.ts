import { mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { BlobCache, ownPartialSuffix } from '../../../src/io/registry/blob-cache.js';
import { RegistryClient } from '../../../src/io/registry/client.js';
import { tempDir } from '../../helpers/cli.js';
import { describeWithRegistry, registries } from '../../helpers/registry.js';
import { digestOf, fakeServer } from './fake-registry.js';

const blob = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) % 251));
const descriptor = { mediaType: 'application/octet-stream', digest: digestOf(blob), size: blob.length };

/** Answers a blob GET with the whole blob, or with the range asked for when `ranges` is on. */
function sendBlob(res: ServerResponse, range: string | undefined, ranges: boolean): void {
  const start = ranges && range ? Number(/^bytes=(\d+)-$/.exec(range)?.[1]) : 0;
  if (start > 0) {
    res.writeHead(206, { 'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}` });
  } else res.writeHead(200, { 'content-length': String(blob.length) });
  res.end(blob.subarray(start));
}

/** A registry that serves the blob, recording the Range header of each GET. */
async function blobServer(honoursRanges: boolean) {
  const ranges: (string | undefined)[] = [];
  const server = await fakeServer((req, res) => {
    if (req.method !== 'GET') return false;
    ranges.push(req.headers.range);
    sendBlob(res, req.headers.range, honoursRanges);
    return true;
  });
  return { server, ranges };
}

async function download(host: string, target: string, progress: number[] = []) {
  const client = new RegistryClient({
    registry: host,
    repository: 'm/x',
    plainHttp: true,
    retry: { retries: 2, baseDelayMs: 1 },
  });
  onTestFinished(() => client.close());
  await client.downloadBlob(descriptor, target, (bytes) => progress.push(bytes));
}

describe('blob download', () => {
  it('resumes with a Range request after the connection breaks mid-blob', async () => {
    const ranges: (string | undefined)[] = [];
    const server = await fakeServer((req, res) => {
      if (req.method !== 'GET') return false;
      ranges.push(req.headers.range);
      if (ranges.length === 1) {
        res.writeHead(200, { 'content-length': String(blob.length) });
        // 1000 bytes arrive, then the connection drops.
        res.write(blob.subarray(0, 1000), () => setTimeout(() => req.socket.destroy(), 100));
        return true;
      }
      sendBlob(res, req.headers.range, true);
      return true;
    });
    const target = join(await tempDir(), 'blob');
    await download(server.host, target);
    expect(ranges).toEqual([undefined, 'bytes=1000-']);
    expect(await readFile(target)).toEqual(blob);
  });

  it('resumes what an earlier run left, and hashes those bytes with the rest', async () => {
    const { server, ranges } = await blobServer(true);
    const target = join(await tempDir(), 'blob');
    await writeFile(`${target}.partial`, blob.subarray(0, 1200));
    const progress: number[] = [];
    await download(server.host, target, progress);
    expect(ranges).toEqual(['bytes=1200-']);
    expect(progress[0]).toBe(1200);
    expect(progress.at(-1)).toBe(3000);
    expect(await readFile(target)).toEqual(blob);
    expect(await readdir(dirname(target))).toEqual(['blob']);
  });

  it('starts again from zero when the kept bytes are not the blob, or the registry ignores the range', async () => {
    for (const honoursRanges of [true, false]) {
      const { server, ranges } = await blobServer(honoursRanges);
      const target = join(await tempDir(), 'blob');
      await writeFile(`${target}.partial`, Buffer.alloc(1200, 0xee));
      await download(server.host, target);
      // Kept garbage: resumed, fails verification, then fetched whole; an ignored range is whole at once.
      expect(ranges).toEqual(honoursRanges ? ['bytes=1200-', undefined] : ['bytes=1200-']);
      expect(await readFile(target)).toEqual(blob);
    }
  });

  it('keeps what arrived when every attempt fails, for the next pull to resume', async () => {
    let sent = 0;
    const server = await fakeServer((req, res) => {
      if (req.method !== 'GET') return false;
      const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
      // 500 more bytes each time, then the connection drops.
      const end = Math.min(blob.length, start + 500);
      sent += 1;
      res.writeHead(start > 0 ? 206 : 200, {
        ...(start > 0 ? { 'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}` } : {}),
      });
      res.write(blob.subarray(start, end), () => setTimeout(() => req.socket.destroy(), 100));
      return true;
    });
    const target = join(await tempDir(), 'blob');
    await expect(download(server.host, target)).rejects.toMatchObject({ code: 'REGISTRY_ERROR' });
    expect(sent).toBe(3);
    expect(await readFile(`${target}.partial`)).toEqual(blob.subarray(0, 1500));
    await expect(stat(target)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('blob download: what a failed resume keeps', () => {
  it('keeps the partial when the registry is down after the connection broke', async () => {
    let gets = 0;
    const server = await fakeServer((req, res) => {
      if (req.method !== 'GET') return false;
      gets += 1;
      if (gets === 1) {
        res.writeHead(200, { 'content-length': String(blob.length) });
        res.write(blob.subarray(0, 1000), () => setTimeout(() => req.socket.destroy(), 100));
      } else {
        res.writeHead(503);
        res.end();
      }
      return true;
    });
    const target = join(await tempDir(), 'blob');
    await expect(download(server.host, target)).rejects.toMatchObject({ code: 'REGISTRY_ERROR' });
    expect(await readFile(`${target}.partial`)).toEqual(blob.subarray(0, 1000));
  });

  it('starts from zero when the registry cannot serve the range (416)', async () => {
    const ranges: (string | undefined)[] = [];
    const server = await fakeServer((req, res) => {
      if (req.method !== 'GET') return false;
      ranges.push(req.headers.range);
      if (req.headers.range) {
        res.writeHead(416, { 'content-range': `bytes */${blob.length}` });
        res.end();
      } else sendBlob(res, undefined, false);
      return true;
    });
    const target = join(await tempDir(), 'blob');
    await writeFile(`${target}.partial`, blob.subarray(0, 1000));
    await download(server.host, target);
    expect(ranges).toEqual(['bytes=1000-', undefined]);
    expect(await readFile(target)).toEqual(blob);
  });
});

describe('blob download: two downloads of one blob into one cache', () => {
  it('each writes its own file, and the blob is whole whoever finishes first', async () => {
    // The registry sends the blob slowly, 100 bytes every 10 ms, so the two downloads overlap.
    const server = await fakeServer((req, res) => {
      if (req.method !== 'GET') return false;
      res.writeHead(200, { 'content-length': String(blob.length) });
      let at = 0;
      const next = () => {
        if (at >= blob.length) return void res.end();
        res.write(blob.subarray(at, at + 100));
        at += 100;
        setTimeout(next, 10);
      };
      next();
      return true;
    });
    const dir = await tempDir();
    const target = join(dir, 'blob');
    const seen = new Set<string>();
    const watch = setInterval(async () => {
      for (const name of await readdir(dir).catch(() => [])) seen.add(name);
    }, 5);
    try {
      await Promise.all([download(server.host, target), download(server.host, target)]);
    } finally {
      clearInterval(watch);
    }
    expect(await readFile(target)).toEqual(blob);
    const own = [...seen].filter((name) => name.endsWith(ownPartialSuffix));
    expect(own.length).toBe(2);
    expect(await readdir(dir)).toEqual(['blob']);
  });

  it('kept bytes from days ago, once claimed, are not swept by another pull opening the cache', async () => {
    let answer: (() => void) | undefined;
    const server = await fakeServer((req, res) => {
      if (req.method !== 'GET') return false;
      // The answer waits until the other pull has opened (and swept) the cache.
      answer = () => sendBlob(res, req.headers.range, true);
      return true;
    });
    const root = await tempDir();
    const cache = await BlobCache.open(root);
    const target = cache.path(descriptor.digest);
    await writeFile(`${target}.partial`, blob.subarray(0, 1200));
    const threeDaysAgo = new Date(Date.now() - 72 * 3600_000);
    await utimes(`${target}.partial`, threeDaysAgo, threeDaysAgo);
    const running = download(server.host, target);
    while (!answer) await new Promise((resolve) => setTimeout(resolve, 5));
    await BlobCache.open(root);
    answer();
    await running;
    expect(await readFile(target)).toEqual(blob);
  });

  it('the cache sweeps a download file a killed process left a day ago, and keeps a recent one', async () => {
    const root = await tempDir();
    const blobs = join(root, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    const old = join(blobs, `${'a'.repeat(64)}.123-0badc0de${ownPartialSuffix}`);
    const recent = join(blobs, `${'b'.repeat(64)}.124-0badc0de${ownPartialSuffix}`);
    const resumable = join(blobs, `${'c'.repeat(64)}.partial`);
    for (const path of [old, recent, resumable]) await writeFile(path, 'x');
    const twoDaysAgo = new Date(Date.now() - 48 * 3600_000);
    await utimes(old, twoDaysAgo, twoDaysAgo);
    await utimes(resumable, twoDaysAgo, twoDaysAgo);
    await BlobCache.open(root);
    expect((await readdir(blobs)).sort()).toEqual([basename(recent), basename(resumable)].sort());
  });
});

describeWithRegistry('blob download from a real registry', registries.plain, () => {
  it('the registry answers the Range request, so only the rest is fetched', async () => {
    const client = new RegistryClient({
      registry: registries.plain!,
      repository: 'mlsec-test/resume',
      plainHttp: true,
    });
    onTestFinished(() => client.close());
    const big = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 13) % 256));
    const bigDescriptor = { mediaType: 'application/octet-stream', digest: digestOf(big), size: big.length };
    await client.pushBlob(bigDescriptor, (start, end) => big.subarray(start, end));
    const target = join(await tempDir(), 'blob');
    await writeFile(`${target}.partial`, big.subarray(0, 200_000));
    const progress: number[] = [];
    await client.downloadBlob(bigDescriptor, target, (bytes) => progress.push(bytes));
    // Counted from the kept 200,000 bytes up, never from zero again.
    expect(progress[0]).toBe(200_000);
    expect(progress.every((bytes, i) => i === 0 || bytes > progress[i - 1]!)).toBe(true);
    expect(progress.at(-1)).toBe(300_000);
    expect(await readFile(target)).toEqual(big);
  });
});
