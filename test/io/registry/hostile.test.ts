import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MlsecError } from '../../../src/core/errors.js';
import { BlobCache } from '../../../src/io/registry/blob-cache.js';
import { RegistryClient } from '../../../src/io/registry/client.js';
import { pullModel } from '../../../src/io/registry/pull-model.js';
import { tempDir } from '../../helpers/cli.js';
import {
  artifact,
  blobRequests,
  digestOf,
  fakeServer,
  type Handler,
  rawTar,
  serveArtifact,
  trickle,
} from './fake-registry.js';

const raw = 'application/vnd.cncf.model.weight.v1.raw';
const tarType = 'application/vnd.cncf.model.code.v1.tar';
const named = (path: string) => ({ 'org.opencontainers.image.title': path });

interface PullOptions {
  credential?: { username: string; password: string };
  timeoutMs?: number;
  requestTimeoutMs?: number;
  allowInsecureTokenRealm?: boolean;
}

async function pull(handler: Handler, options: PullOptions = {}) {
  const dir = await tempDir();
  const server = await fakeServer(handler);
  const client = new RegistryClient({
    registry: server.host,
    repository: 'm/x',
    plainHttp: true,
    retry: { retries: 2, baseDelayMs: 1 },
    ...(options.credential ? { credential: { kind: 'basic', ...options.credential } } : {}),
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    ...(options.allowInsecureTokenRealm ? { allowInsecureTokenRealm: true } : {}),
  });
  const cache = await BlobCache.open(join(dir, 'cache'));
  // Two parents that do not exist yet: a refused pull must not leave them behind.
  const target = join(dir, 'work', 'deep', 'model');
  const run = pullModel({ client, cache, reference: 'v1', target, concurrency: 2 }).finally(() =>
    client.close(),
  );
  return { run, dir, target, cache, server };
}

/** The pull fails with `message`, and nothing is left in, beside or above the target directory. */
async function refused(setup: Awaited<ReturnType<typeof pull>>, message: string | RegExp) {
  const error = await setup.run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MlsecError);
  if (typeof message === 'string') expect((error as Error).message).toBe(message);
  else expect((error as Error).message).toMatch(message);
  expect((error as Error).message).not.toMatch(/\n/);
  await expect(stat(join(setup.dir, 'work'))).rejects.toThrow(/ENOENT/);
  return error as MlsecError;
}

describe('pull against a hostile registry', () => {
  it('pulls a well-formed artifact (control)', async () => {
    const art = artifact([
      { mediaType: raw, bytes: Buffer.from('weights'), annotations: named('w.bin') },
      {
        mediaType: tarType,
        bytes: rawTar([
          { path: 'src/', type: 'Directory' },
          { path: 'src/a.py', body: Buffer.from('x=1\n') },
        ]),
      },
    ]);
    const setup = await pull(serveArtifact(art));
    const result = await setup.run;
    expect(result.files).toEqual([
      { path: 'w.bin', size: 7 },
      { path: 'src/a.py', size: 4 },
    ]);
    expect(result.digest).toBe(digestOf(art.manifest));
    expect((await readdir(setup.target)).sort()).toEqual(['src', 'w.bin']);
  });

  it('refuses a blob whose bytes do not match its digest, and caches nothing', async () => {
    const good = Buffer.from('the real weights');
    const art = artifact([
      {
        mediaType: raw,
        bytes: Buffer.from('evil weights!!!!'),
        annotations: named('w.bin'),
        claim: { digest: digestOf(good) },
      },
    ]);
    const setup = await pull(serveArtifact(art));
    const error = await refused(
      setup,
      new RegExp(`^blob ${digestOf(good)} has the wrong digest sha256:[0-9a-f]{64}$`),
    );
    expect(error.exitCode).toBe(1);
    expect(await setup.cache.has(digestOf(good), good.length)).toBe(false);
  });

  it('refuses a truncated blob', async () => {
    const bytes = Buffer.alloc(1000, 1);
    const art = artifact([{ mediaType: raw, bytes, annotations: named('w.bin') }]);
    const setup = await pull(
      serveArtifact(art, (_req, res, url) => {
        if (!url.pathname.endsWith(digestOf(bytes))) return false;
        res.end(bytes.subarray(0, 600)); // no Content-Length: a clean end after 600 bytes
        return true;
      }),
    );
    await refused(setup, `blob ${digestOf(bytes)} is truncated: 600 of 1000 bytes`);
  });

  it('refuses a blob longer than its descriptor without reading the rest', async () => {
    const bytes = Buffer.alloc(1000, 1);
    const art = artifact([{ mediaType: raw, bytes, annotations: named('w.bin'), claim: { size: 10 } }]);
    const setup = await pull(serveArtifact(art));
    await refused(setup, `blob ${digestOf(bytes)} is longer than the 10 bytes its manifest says`);
  });

  it('refuses ../ paths in a tar layer and in a file name', async () => {
    const tar = rawTar([{ path: '../evil.txt', body: Buffer.from('owned') }]);
    const setup = await pull(serveArtifact(artifact([{ mediaType: tarType, bytes: tar }])));
    await refused(setup, `layer ${digestOf(tar)}: tar entry "../evil.txt": ".." in path`);
    await expect(stat(join(setup.dir, 'work', 'evil.txt'))).rejects.toThrow(/ENOENT/);

    const bytes = Buffer.from('owned');
    const file = await pull(
      serveArtifact(artifact([{ mediaType: raw, bytes, annotations: named('a/../../evil.txt') }])),
    );
    await refused(file, `layer ${digestOf(bytes)} names file "a/../../evil.txt": ".." in path`);
    expect(blobRequests(file.server)).toEqual([]);
  });

  it('refuses absolute paths, absolute and escaping symlinks, hard links and devices', async () => {
    const cases: [Parameters<typeof rawTar>[0][number], string][] = [
      [{ path: '/etc/cron.d/x', body: Buffer.from('x') }, 'tar entry "/etc/cron.d/x": absolute path'],
      [
        { path: 'link', type: 'SymbolicLink', linkpath: '/etc/passwd' },
        'tar entry "link": symbolic link to "/etc/passwd" escapes the directory',
      ],
      [
        { path: 'a/link', type: 'SymbolicLink', linkpath: '../../x' },
        'tar entry "a/link": symbolic link to "../../x" escapes the directory',
      ],
      [
        { path: 'hard', type: 'Link', linkpath: 'weights.bin' },
        'tar entry "hard": hard link to "weights.bin" refused (pull writes regular files only)',
      ],
      [{ path: 'dev', type: 'CharacterDevice' }, 'tar entry "dev": not a regular file or directory'],
    ];
    for (const [member, message] of cases) {
      const tar = rawTar([{ path: 'ok.txt', body: Buffer.from('fine') }, member]);
      const setup = await pull(serveArtifact(artifact([{ mediaType: tarType, bytes: tar }])));
      await refused(setup, `layer ${digestOf(tar)}: ${message}`);
    }
  });

  it('refuses a gzip layer that expands like a bomb', async () => {
    const tar = rawTar([{ path: 'zeros.bin', body: Buffer.alloc(20 << 20) }]);
    const bomb = gzipSync(tar, { level: 9 });
    const setup = await pull(
      serveArtifact(artifact([{ mediaType: 'application/vnd.cncf.model.dataset.v1.tar+gzip', bytes: bomb }])),
    );
    await refused(
      setup,
      `layer ${digestOf(bomb)} expands past 200 times its size; refused as a decompression bomb`,
    );
  });

  it('refuses a 100 MB manifest, declared or streamed, without buffering it', async () => {
    const declared = await pull((_req, res, url) => {
      if (!url.pathname.includes('/manifests/')) return false;
      res.writeHead(200, {
        'content-length': String(100 << 20),
        'content-type': 'application/vnd.oci.image.manifest.v1+json',
      });
      res.write(Buffer.alloc(1 << 16, 32));
      return true;
    });
    await refused(declared, 'manifest v1 is 104857600 bytes, over the limit of 4194304');

    const streamed = await pull((_req, res, url) => {
      if (!url.pathname.includes('/manifests/')) return false;
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      let sent = 0;
      const more = () => {
        while (sent < 100 << 20 && !res.destroyed) {
          sent += 1 << 16;
          if (!res.write(Buffer.alloc(1 << 16, 32))) return void res.once('drain', more);
        }
        res.end();
      };
      more();
      return true;
    });
    await refused(streamed, 'manifest v1 is over the limit of 4194304 bytes');
  });

  it('answers a challenge once: a registry that keeps saying 401 is a refusal, not a loop', async () => {
    let host = '';
    const setup = await pull((_req, res, url) => {
      if (url.pathname === '/token') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ token: 'abc', expires_in: 300 }));
        return true;
      }
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="fake"` });
      res.end();
      return true;
    });
    host = setup.server.host;
    const error = await refused(setup, `${host} refused anonymous access for m/x (HTTP 401)`);
    expect(error.exitCode).toBe(2);
    expect(setup.server.requests.map((r) => [r.path, r.authorization])).toEqual([
      ['/v2/m/x/manifests/v1', undefined],
      ['/token', undefined],
      ['/v2/m/x/manifests/v1', 'Bearer abc'],
    ]);
  });

  it('follows a blob redirect to another host without sending it the credentials', async () => {
    const bytes = Buffer.from('weights from a CDN');
    const art = artifact([{ mediaType: raw, bytes, annotations: named('w.bin') }]);
    const cdn = await fakeServer((_req, res) => {
      res.end(bytes);
      return true;
    });
    const auth = `Basic ${Buffer.from('me:secret').toString('base64')}`;
    const setup = await pull(
      serveArtifact(art, (req, res, url) => {
        if (req.headers.authorization !== auth) {
          res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' });
          res.end();
          return true;
        }
        if (url.pathname.endsWith(digestOf(bytes))) {
          res.writeHead(307, { location: `http://${cdn.host}/storage/blob?sig=1` });
          res.end();
          return true;
        }
        return false;
      }),
      { credential: { username: 'me', password: 'secret' } },
    );
    const result = await setup.run;
    expect(result.files).toEqual([{ path: 'w.bin', size: bytes.length }]);
    expect(cdn.requests).toEqual([{ method: 'GET', path: '/storage/blob', authorization: undefined }]);
    expect(setup.server.requests.filter((r) => r.authorization === auth).length).toBeGreaterThan(0);
  });

  it('retries 503s with backoff and then succeeds', async () => {
    const art = artifact([{ mediaType: raw, bytes: Buffer.from('w'), annotations: named('w.bin') }]);
    let failures = 2;
    const setup = await pull(
      serveArtifact(art, (_req, res, url) => {
        if (!url.pathname.includes('/manifests/') || failures === 0) return false;
        failures -= 1;
        res.writeHead(503, { 'retry-after': '0' });
        res.end();
        return true;
      }),
    );
    expect((await setup.run).files).toEqual([{ path: 'w.bin', size: 1 }]);
    expect(setup.server.requests.filter((r) => r.path === '/v2/m/x/manifests/v1')).toHaveLength(3);
  });

  it('refuses two layers that write the same file', async () => {
    const art = artifact([
      { mediaType: raw, bytes: Buffer.from('one'), annotations: named('w.bin') },
      { mediaType: raw, bytes: Buffer.from('two'), annotations: named('./w.bin') },
    ]);
    const setup = await pull(serveArtifact(art));
    await refused(
      setup,
      `layer ${digestOf(Buffer.from('two'))} names file "./w.bin": "w.bin" is written twice (also by layer ${digestOf(Buffer.from('one'))})`,
    );
    expect(blobRequests(setup.server)).toEqual([]);
  });

  it('refuses a file where another layer needs a directory (a and a/b), in either order, before fetching any blob', async () => {
    const a = Buffer.from('file a');
    const b = Buffer.from('file b');
    const setup = await pull(
      serveArtifact(
        artifact([
          { mediaType: raw, bytes: a, annotations: named('a') },
          { mediaType: raw, bytes: b, annotations: named('a/b') },
        ]),
      ),
    );
    const error = await refused(
      setup,
      `layer ${digestOf(b)} names file "a/b": "a/b" needs "a" to be a directory, but it is a file in layer ${digestOf(a)}`,
    );
    expect(error.exitCode).toBe(1);
    expect(blobRequests(setup.server)).toEqual([]);
    // Nothing fetched for the refused pull stays in the cache, the manifest included.
    expect(await readdir(join(setup.dir, 'cache', 'blobs', 'sha256'))).toEqual([]);

    const reversed = await pull(
      serveArtifact(
        artifact([
          { mediaType: raw, bytes: b, annotations: named('a/b') },
          { mediaType: raw, bytes: a, annotations: named('a') },
        ]),
      ),
    );
    await refused(
      reversed,
      `layer ${digestOf(a)} names file "a": "a" is a file here but a directory in layer ${digestOf(b)}`,
    );
    expect(blobRequests(reversed.server)).toEqual([]);
  });

  it('refuses names past the file system limits before fetching any blob', async () => {
    const bytes = Buffer.from('w');
    const cases: [string, string][] = [
      ['x'.repeat(5000), `"${'x'.repeat(100)}…": a name in the path is longer than 255 bytes`],
      // 100 characters, 300 bytes in UTF-8.
      [`dir/${'€'.repeat(100)}`, `"dir/${'€'.repeat(96)}…": a name in the path is longer than 255 bytes`],
      [`${'d/'.repeat(2500)}f`, `"${'d/'.repeat(50)}…": path longer than 4095 bytes`],
      // Short enough alone, too long below the target directory.
      [
        `${'d/'.repeat(2040)}f`,
        `"${'d/'.repeat(50)}…": path longer than 4095 bytes below the target directory`,
      ],
    ];
    for (const [name, problem] of cases) {
      const setup = await pull(
        serveArtifact(artifact([{ mediaType: raw, bytes, annotations: named(name) }])),
      );
      await refused(setup, `layer ${digestOf(bytes)} names file ${problem}`);
      expect(blobRequests(setup.server)).toEqual([]);
    }
  });

  it('refuses a tar entry that collides with another layer or with itself, naming the layer', async () => {
    const a = Buffer.from('file a');
    const tar = rawTar([{ path: 'a/b', body: Buffer.from('inside a') }]);
    const setup = await pull(
      serveArtifact(
        artifact([
          { mediaType: raw, bytes: a, annotations: named('a') },
          { mediaType: tarType, bytes: tar },
        ]),
      ),
    );
    await refused(
      setup,
      `layer ${digestOf(tar)}: tar entry "a/b": "a/b" needs "a" to be a directory, but it is a file in layer ${digestOf(a)}`,
    );

    const self = rawTar([
      { path: 'x', body: Buffer.from('a file') },
      { path: 'x/', type: 'Directory' },
    ]);
    const again = await pull(serveArtifact(artifact([{ mediaType: tarType, bytes: self }])));
    await refused(
      again,
      `layer ${digestOf(self)}: tar entry "x": "x" is a directory here but a file in layer ${digestOf(self)}`,
    );
  });

  it('a pull its check refuses leaves neither the staged files nor the parents it made', async () => {
    const art = artifact([{ mediaType: raw, bytes: Buffer.from('w'), annotations: named('a/w.bin') }]);
    const dir = await tempDir();
    const server = await fakeServer(serveArtifact(art));
    const client = new RegistryClient({ registry: server.host, repository: 'm/x', plainHttp: true });
    const staged: string[] = [];
    const result = await pullModel({
      client,
      cache: await BlobCache.open(join(dir, 'cache')),
      reference: 'v1',
      target: join(dir, 'work', 'deep', 'model'),
      concurrency: 1,
      check: async (staging) => {
        staged.push(...(await readdir(staging)));
        return { ok: false };
      },
    }).finally(() => client.close());
    expect(result.ok).toBe(false);
    expect(staged).toEqual(['a']);
    expect(await readdir(dir)).toEqual(['cache']);
  });

  it('a file-system failure is a one-line error naming the blob, not an internal error', async () => {
    const bytes = Buffer.from('weights');
    let blocked: () => void = () => {};
    const inTheWay = new Promise<void>((resolve) => {
      blocked = resolve;
    });
    const setup = await pull(
      serveArtifact(artifact([{ mediaType: raw, bytes, annotations: named('w.bin') }]), (_req, res, url) => {
        if (!url.pathname.endsWith(digestOf(bytes))) return false;
        void inTheWay.then(() => res.end(bytes));
        return true;
      }),
    );
    // A directory where the cache keeps the blob: the download cannot be renamed into place.
    await mkdir(join(setup.cache.path(digestOf(bytes)), 'in-the-way'), { recursive: true });
    blocked();
    const error = await refused(
      setup,
      `blob ${digestOf(bytes)}: cannot write it to the cache: illegal operation on a directory (EISDIR)`,
    );
    expect(error.exitCode).toBe(2);
  });

  it('sends credentials to a plain-HTTP token realm on another origin only when allowed', async () => {
    const art = artifact([{ mediaType: raw, bytes: Buffer.from('w'), annotations: named('w.bin') }]);
    const tokens = await fakeServer((_req, res, url) => {
      if (url.pathname !== '/token') return false;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ token: 'abc', expires_in: 300 }));
      return true;
    });
    const registry: Handler = (req, res, url) => {
      if (req.headers.authorization !== 'Bearer abc') {
        res.writeHead(401, {
          'www-authenticate': `Bearer realm="http://${tokens.host}/token",service="fake"`,
        });
        res.end();
        return true;
      }
      return serveArtifact(art)(req, res, url);
    };
    const credential = { username: 'me', password: 'secret' };
    const setup = await pull(registry, { credential });
    const error = await refused(
      setup,
      `token realm http://${tokens.host} is plain HTTP on another origin than the registry; credentials go there only over HTTPS (--allow-insecure-token-realm sends them anyway)`,
    );
    expect(error.exitCode).toBe(2);
    expect(tokens.requests).toEqual([]);

    const allowed = await pull(registry, { credential, allowInsecureTokenRealm: true });
    expect((await allowed.run).files).toEqual([{ path: 'w.bin', size: 1 }]);
    expect(tokens.requests.map((r) => r.authorization)).toEqual([
      `Basic ${Buffer.from('me:secret').toString('base64')}`,
    ]);

    // Without credentials nothing secret goes there: an anonymous token is fetched under --plain-http.
    const anonymous = await pull(registry);
    expect((await anonymous.run).files).toEqual([{ path: 'w.bin', size: 1 }]);
  });

  it('cuts off a manifest that trickles a byte at a time at the deadline', async () => {
    const started = Date.now();
    const setup = await pull(
      (_req, res, url) => {
        if (!url.pathname.includes('/manifests/')) return false;
        trickle(res, 100, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
        return true;
      },
      { timeoutMs: 1000 },
    );
    const error = await refused(
      setup,
      `${setup.server.host}: GET /v2/m/x/manifests/v1 did not finish before the deadline of 1s (--timeout)`,
    );
    expect(error.exitCode).toBe(2);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('cuts off a trickling blob at the deadline and keeps its bytes to resume', async () => {
    const bytes = Buffer.alloc(1000, 7);
    const art = artifact([{ mediaType: raw, bytes, annotations: named('w.bin') }]);
    const setup = await pull(
      serveArtifact(art, (_req, res, url) => {
        if (!url.pathname.endsWith(digestOf(bytes))) return false;
        trickle(res, 50);
        return true;
      }),
      { timeoutMs: 1500 },
    );
    await refused(
      setup,
      `${setup.server.host}: GET /v2/m/x/blobs/${digestOf(bytes)} did not finish before the deadline of 1.5s (--timeout)`,
    );
    const kept = await stat(`${setup.cache.path(digestOf(bytes))}.partial`);
    expect(kept.size).toBeGreaterThan(0);
  });

  it('cuts off a token server that trickles, at the limit for one request', async () => {
    let tokenHost = '';
    const setup = await pull(
      (_req, res, url) => {
        if (url.pathname === '/token') {
          trickle(res, 50, { 'content-type': 'application/json' });
          return true;
        }
        res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${tokenHost}/token"` });
        res.end();
        return true;
      },
      { requestTimeoutMs: 500 },
    );
    tokenHost = setup.server.host;
    await refused(setup, `${tokenHost}: GET /token did not finish within 500ms, the limit for one request`);
  });
});
