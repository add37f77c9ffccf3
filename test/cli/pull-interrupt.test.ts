import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { bin, tempDir } from '../helpers/cli.js';
import { artifact, digestOf, fakeServer, serveArtifact } from '../io/registry/fake-registry.js';

const weights = Buffer.from(Array.from({ length: 400_000 }, (_, i) => (i * 31) % 256));
const art = artifact([
  {
    mediaType: 'application/vnd.cncf.model.weight.v1.raw',
    bytes: weights,
    annotations: { 'org.opencontainers.image.title': 'weights.bin' },
  },
]);
const hex = digestOf(weights).slice('sha256:'.length);

describe('mlsec pull interrupted', () => {
  it('Ctrl-C keeps the downloaded bytes and writes nothing; the next pull resumes them with a Range request', async () => {
    const ranges: (string | undefined)[] = [];
    let slow = true;
    const server = await fakeServer(
      serveArtifact(art, (req, res, url) => {
        if (!url.pathname.endsWith(hex)) return false;
        ranges.push(req.headers.range);
        const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
        res.writeHead(start > 0 ? 206 : 200, {
          'content-length': String(weights.length - start),
          ...(start > 0 ? { 'content-range': `bytes ${start}-${weights.length - 1}/${weights.length}` } : {}),
        });
        // The first time, 100 kB and then nothing more: the pull waits until it is interrupted.
        if (slow) res.write(weights.subarray(0, 100_000));
        else res.end(weights.subarray(start));
        return true;
      }),
    );
    const dir = await tempDir();
    const cacheBlobs = join(dir, 'cache', 'blobs', 'sha256');
    const pull = () =>
      execa(
        'node',
        [bin, 'pull', `${server.host}/m/x:v1`, 'out', '--plain-http', '--cache-dir', 'cache', '--no-scan'],
        {
          cwd: dir,
          env: { CI: 'true', NO_COLOR: '1' },
          reject: false,
          timeout: 60_000,
        },
      );

    const first = pull();
    // Wait until the 100 kB are on disk, then interrupt.
    for (;;) {
      const own = (await readdir(cacheBlobs).catch(() => [] as string[])).find((n) =>
        n.endsWith('.downloading'),
      );
      if (own && (await stat(join(cacheBlobs, own))).size === 100_000) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    first.kill('SIGINT');
    const interrupted = await first;
    expect([interrupted.exitCode, interrupted.stderr]).toEqual([
      130,
      'mlsec: interrupted: nothing was written; the next pull resumes the downloads',
    ]);
    expect(await readdir(dir)).not.toContain('out');
    expect((await readFile(join(cacheBlobs, `${hex}.partial`))).length).toBe(100_000);

    slow = false;
    const second = await pull();
    expect([second.exitCode, second.stderr]).toEqual([0, '']);
    expect(ranges).toEqual([undefined, 'bytes=100000-']);
    expect(await readFile(join(dir, 'out', 'weights.bin'))).toEqual(weights);
  });
});
