import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { fixture, mlsec, tempDir } from '../helpers/cli.js';
import { fakeIdentityToken, startFakeSigstore } from '../helpers/fake-sigstore.js';
import { describeWithRegistry, mlsecWithInput, registries, uniqueRepo } from '../helpers/registry.js';

const sha256 = /^sha256:[0-9a-f]{64}$/;
const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';

// toEqual on megabyte Buffers compares byte by byte in JS and takes seconds.
const sha256Of = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

/** A valid safetensors file: one U8 tensor of `n` bytes. */
function safetensors(n: number): Buffer {
  const header = Buffer.from(JSON.stringify({ w: { dtype: 'U8', shape: [n], data_offsets: [0, n] } }));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([length, header, Buffer.alloc(n, 7)]);
}

async function model(dir: string): Promise<string> {
  const root = join(dir, 'model');
  const files: [string, string | Buffer][] = [
    ['config.json', '{"architectures": ["Tiny"]}\n'],
    ['tokenizer.json', '{"version": "1.0"}\n'],
    ['model.safetensors', safetensors(2_500_000)],
    ['README.md', '# tiny\n'],
    ['LICENSE', 'MIT\n'],
    ['docs/usage.md', 'use it\n'],
    ['empty.txt', ''],
  ];
  for (const [path, content] of files) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return root;
}

// biome-ignore lint/suspicious/noExplicitAny: registry documents, checked field by field below
type Json = any;

async function getJson(host: string, path: string): Promise<{ status: number; body: Json }> {
  const response = await fetch(`http://${host}${path}`, { headers: { accept } });
  return { status: response.status, body: response.status === 200 ? await response.json() : undefined };
}

const manifestDigest = async (dir: string, cwd: string) =>
  JSON.parse((await mlsec(['hash', '--manifest', dir], { cwd })).stdout).modelDigest.sha256;

describeWithRegistry('mlsec push and pull (real registry, no auth)', registries.plain, () => {
  const host = registries.plain!;
  const common = (dir: string) => ['--plain-http', '--cache-dir', join(dir, 'cache'), '--format', 'json'];

  it('round-trips a model: same bytes, same manifest digest, ModelPack manifest, nothing sent or fetched twice', async () => {
    const dir = await tempDir();
    await model(dir);
    const ref = `${host}/${uniqueRepo('roundtrip')}:v1`;
    const first = await mlsec(['push', 'model', ref, ...common(dir)], { cwd: dir });
    expect(first.stderr).toBe('');
    expect(first.exitCode).toBe(0);
    const pushed = JSON.parse(first.stdout);
    expect(pushed.digest).toMatch(sha256);
    expect(
      pushed.blobs.map((b: { name: string; mediaType: string; status: string }) => [
        b.name,
        b.mediaType,
        b.status,
      ]),
    ).toEqual([
      ['model.safetensors', 'application/vnd.cncf.model.weight.v1.raw', 'uploaded'],
      ['doc files (4)', 'application/vnd.cncf.model.doc.v1.tar', 'uploaded'],
      ['weight.config files (2)', 'application/vnd.cncf.model.weight.config.v1.tar', 'uploaded'],
      ['config', 'application/vnd.cncf.model.config.v1+json', 'uploaded'],
    ]);
    expect(pushed.modelDigest).toBe(`sha256:${await manifestDigest('model', dir)}`);

    const repo = ref.slice(host.length + 1, ref.lastIndexOf(':'));
    const { status, body: manifest } = await getJson(host, `/v2/${repo}/manifests/v1`);
    expect(status).toBe(200);
    expect(manifest).toMatchObject({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      config: { mediaType: 'application/vnd.cncf.model.config.v1+json' },
    });
    expect(manifest.layers[0].annotations['org.opencontainers.image.title']).toBe('model.safetensors');
    expect(manifest.layers[0].annotations['org.cncf.model.filepath']).toBe('model.safetensors');
    expect(manifest.annotations['dev.mlsec.model.digest']).toBe(pushed.modelDigest);
    const config = await getJson(host, `/v2/${repo}/blobs/${manifest.config.digest}`);
    expect(config.body.modelfs).toEqual({
      type: 'layers',
      diffIds: manifest.layers.map((l: { digest: string }) => l.digest),
    });
    expect(config.body.config).toEqual({ format: 'safetensors' });

    const again = JSON.parse((await mlsec(['push', 'model', ref, ...common(dir)], { cwd: dir })).stdout);
    expect(again.blobs.map((b: { status: string }) => b.status)).toEqual([
      'exists',
      'exists',
      'exists',
      'exists',
    ]);

    const pull = await mlsec(['pull', ref, 'out', ...common(dir)], { cwd: dir });
    expect(pull.exitCode).toBe(0);
    const pulled = JSON.parse(pull.stdout);
    expect(pulled).toMatchObject({ pulled: true, blobsDownloaded: 4 });
    expect(pulled.reference).toBe(`${host}/${repo}@${again.digest}`);
    for (const path of [
      'config.json',
      'tokenizer.json',
      'model.safetensors',
      'README.md',
      'LICENSE',
      'docs/usage.md',
      'empty.txt',
    ]) {
      expect(await sha256Of(join(dir, 'out', path))).toBe(await sha256Of(join(dir, 'model', path)));
    }
    expect(await manifestDigest('out', dir)).toBe(await manifestDigest('model', dir));

    const second = await mlsec(['pull', `${host}/${repo}@${again.digest}`, 'out2', ...common(dir)], {
      cwd: dir,
    });
    expect(JSON.parse(second.stdout)).toMatchObject({ pulled: true, blobsDownloaded: 0 });
    expect(await manifestDigest('out2', dir)).toBe(await manifestDigest('model', dir));
  });

  it('attaches the scan report as a referrer through the referrers tag schema', async () => {
    const dir = await tempDir();
    await model(dir);
    const repo = uniqueRepo('referrers');
    const pushed = JSON.parse(
      (await mlsec(['push', 'model', `${host}/${repo}:v1`, ...common(dir)], { cwd: dir })).stdout,
    );
    expect(pushed.referrers).toEqual([
      {
        artifactType: 'application/vnd.mlsec.scan-report.v1+json',
        digest: expect.stringMatching(sha256),
        indexedBy: 'tag-schema',
      },
    ]);
    const index = await getJson(host, `/v2/${repo}/manifests/${pushed.digest.replace(':', '-')}`);
    expect(index.body.manifests).toEqual([
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: pushed.referrers[0].digest,
        size: expect.any(Number),
        artifactType: 'application/vnd.mlsec.scan-report.v1+json',
      },
    ]);
    const referrer = await getJson(host, `/v2/${repo}/manifests/${pushed.referrers[0].digest}`);
    expect(referrer.body.subject).toEqual({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: pushed.digest,
      size: pushed.size,
    });
    const report = await getJson(host, `/v2/${repo}/blobs/${referrer.body.layers[0].digest}`);
    expect(report.body.summary).toMatchObject({ files: 7, findings: 2, failed: false });
    expect(
      report.body.results.flatMap((r: Json) => r.findings.map((f: Json) => [r.path, f.rule, f.severity])),
    ).toEqual([
      ['LICENSE', 'MLSEC-LICENSE-004', 'medium'],
      ['empty.txt', 'MLSEC-FILE-004', 'info'],
    ]);
  });

  it('refuses to push a malicious pickle and uploads nothing; --no-gate pushes it; pull then refuses it', async () => {
    const dir = await tempDir();
    await model(dir);
    await copyFile(fixture('malicious', 'builtins-eval.pkl'), join(dir, 'model', 'extra.pkl'));
    const repo = uniqueRepo('gate');
    const refused = await mlsec(
      ['push', 'model', `${host}/${repo}:v1`, '--plain-http', '--cache-dir', join(dir, 'cache')],
      { cwd: dir },
    );
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toBe(
      'mlsec: push refused by the scan gate: 1 finding at high or above (first: extra.pkl: MLSEC-PICKLE-001 critical) (--no-gate overrides)',
    );
    expect(refused.stdout).toContain('CRITICAL MLSEC-PICKLE-001');
    const tags = await fetch(`http://${host}/v2/${repo}/tags/list`);
    expect(tags.status).toBe(404);

    const forced = await mlsec(['push', 'model', `${host}/${repo}:v1`, '--no-gate', ...common(dir)], {
      cwd: dir,
    });
    expect(forced.exitCode).toBe(0);
    expect(JSON.parse(forced.stdout).gates).toEqual([]);

    const pull = await mlsec(
      ['pull', `${host}/${repo}:v1`, 'out', '--plain-http', '--cache-dir', join(dir, 'cache')],
      { cwd: dir },
    );
    expect(pull.exitCode).toBe(1);
    expect(pull.stderr).toBe(
      'mlsec: pull refused by the scan gate: 1 finding at high or above (first: extra.pkl: MLSEC-PICKLE-001 critical); nothing written to out',
    );
    await expect(stat(join(dir, 'out'))).rejects.toThrow(/ENOENT/);
    const unchecked = await mlsec(['pull', `${host}/${repo}:v1`, 'out', '--no-scan', ...common(dir)], {
      cwd: dir,
    });
    expect(unchecked.exitCode).toBe(0);
    expect(await readFile(join(dir, 'out', 'extra.pkl'))).toEqual(
      await readFile(fixture('malicious', 'builtins-eval.pkl')),
    );
  });

  it('records the detected licence, and refuses a licence the policy denies without uploading', async () => {
    const dir = await tempDir();
    await model(dir);
    await writeFile(join(dir, 'model', 'README.md'), '---\nlicense: cc-by-nc-4.0\n---\n# tiny\n');
    const allowed = uniqueRepo('licence');
    expect(
      (await mlsec(['push', 'model', `${host}/${allowed}:v1`, ...common(dir)], { cwd: dir })).exitCode,
    ).toBe(0);
    const manifest = await getJson(host, `/v2/${allowed}/manifests/v1`);
    expect(manifest.body.annotations['org.opencontainers.image.licenses']).toBe('CC-BY-NC-4.0');

    await writeFile(join(dir, '.mlsec.yaml'), 'license:\n  deny: [cc-by-nc-4.0]\n');
    const denied = uniqueRepo('licence');
    const refused = await mlsec(
      ['push', 'model', `${host}/${denied}:v1`, '--plain-http', '--cache-dir', 'c'],
      {
        cwd: dir,
      },
    );
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toBe(
      'mlsec: push refused by the scan gate: 1 finding at high or above (first: README.md: MLSEC-LICENSE-001 high) (--no-gate overrides)',
    );
    expect(refused.stdout).toContain(
      'MLSEC-LICENSE-001  CC-BY-NC-4.0 (non-commercial) is denied: on the deny list',
    );
    expect((await fetch(`http://${host}/v2/${denied}/tags/list`)).status).toBe(404);
  });

  it('uploads in chunks when a blob is larger than --chunk-size', async () => {
    const dir = await tempDir();
    await model(dir);
    const ref = `${host}/${uniqueRepo('chunked')}:v1`;
    const push = await mlsec(['push', 'model', ref, '--chunk-size', '1000000', ...common(dir)], { cwd: dir });
    expect(push.exitCode).toBe(0);
    const pull = await mlsec(['pull', ref, 'out', ...common(dir)], { cwd: dir });
    expect(pull.exitCode).toBe(0);
    expect(await sha256Of(join(dir, 'out', 'model.safetensors'))).toBe(
      createHash('sha256').update(safetensors(2_500_000)).digest('hex'),
    );
  });

  it('pulls a model with two identical files: one blob, both files', async () => {
    const dir = await tempDir();
    await model(dir);
    await copyFile(join(dir, 'model', 'model.safetensors'), join(dir, 'model', 'copy.safetensors'));
    const ref = `${host}/${uniqueRepo('twins')}:v1`;
    expect((await mlsec(['push', 'model', ref, ...common(dir)], { cwd: dir })).exitCode).toBe(0);
    const pull = await mlsec(['pull', ref, 'out', ...common(dir)], { cwd: dir });
    expect([pull.exitCode, pull.stderr]).toEqual([0, '']);
    const expected = createHash('sha256').update(safetensors(2_500_000)).digest('hex');
    expect(await sha256Of(join(dir, 'out', 'model.safetensors'))).toBe(expected);
    expect(await sha256Of(join(dir, 'out', 'copy.safetensors'))).toBe(expected);
  });

  it('mounts blobs from another repository instead of uploading them', async () => {
    const dir = await tempDir();
    await model(dir);
    const source = uniqueRepo('mount-source');
    await mlsec(['push', 'model', `${host}/${source}:v1`, ...common(dir)], { cwd: dir });
    const mounted = await mlsec(
      ['push', 'model', `${host}/${uniqueRepo('mount-target')}:v1`, '--mount-from', source, ...common(dir)],
      { cwd: dir },
    );
    expect(JSON.parse(mounted.stdout).blobs.map((b: { status: string }) => b.status)).toEqual([
      'mounted',
      'mounted',
      'mounted',
      'mounted',
    ]);
  });

  it('signs with --sign; verify and pull --key accept the signature, a wrong key or none is refused', async () => {
    const dir = await tempDir();
    await model(dir);
    expect((await mlsec(['keygen', '--output', join(dir, 'signer')], { cwd: dir })).exitCode).toBe(0);
    const repo = uniqueRepo('signed');
    const push = await mlsec(
      ['push', 'model', `${host}/${repo}:v1`, '--sign', '--key', 'signer.key', ...common(dir)],
      { cwd: dir },
    );
    expect(push.exitCode).toBe(0);
    const pushed = JSON.parse(push.stdout);
    const signature = pushed.referrers.find(
      (r: { artifactType: string }) => r.artifactType === 'application/vnd.dev.sigstore.bundle.v0.3+json',
    );
    const referrer = await getJson(host, `/v2/${repo}/manifests/${signature.digest}`);
    const bundle = await fetch(`http://${host}/v2/${repo}/blobs/${referrer.body.layers[0].digest}`);
    await writeFile(join(dir, 'model.sig'), Buffer.from(await bundle.arrayBuffer()));
    const verify = await mlsec(['verify', 'model', '--signature', 'model.sig', '--key', 'signer.pub'], {
      cwd: dir,
    });
    expect(verify.stderr).toBe('');
    expect(verify.exitCode).toBe(0);
    const pulled = await mlsec(['pull', `${host}/${repo}:v1`, 'out', '--key', 'signer.pub', ...common(dir)], {
      cwd: dir,
    });
    expect(pulled.exitCode).toBe(0);
    expect(JSON.parse(pulled.stdout).gates[0]).toEqual({
      gate: 'signature',
      blocked: false,
      message: `signature verified (model digest ${pushed.modelDigest})`,
    });
    expect((await mlsec(['keygen', '--output', join(dir, 'other')], { cwd: dir })).exitCode).toBe(0);
    const pullWith = (ref: string, out: string, key: string) =>
      mlsec(['pull', ref, out, '--key', key, '--plain-http', '--cache-dir', 'c'], { cwd: dir });
    const wrongKey = await pullWith(`${host}/${repo}:v1`, 'out2', 'other.pub');
    expect(wrongKey.exitCode).toBe(1);
    expect(wrongKey.stderr).toMatch(
      /^mlsec: pull refused by the signature gate: .+; nothing written to out2$/,
    );
    await expect(stat(join(dir, 'out2'))).rejects.toThrow(/ENOENT/);
    const unsigned = uniqueRepo('unsigned');
    await mlsec(['push', 'model', `${host}/${unsigned}:v1`, ...common(dir)], { cwd: dir });
    const missing = await pullWith(`${host}/${unsigned}:v1`, 'out3', 'signer.pub');
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(
      /^mlsec: pull refused by the signature gate: sha256:[0-9a-f]{64} has no attached signature; nothing written to out3$/,
    );
  });

  it('push --sign keylessly; pull checks the identity and refuses another', async () => {
    const sigstore = await startFakeSigstore();
    onTestFinished(() => sigstore.close());
    const dir = await tempDir();
    await model(dir);
    await writeFile(join(dir, 'root.json'), JSON.stringify(sigstore.trustedRoot));
    const identity = 'release@example.test';
    const issuer = 'https://issuer.example.test';
    const repo = uniqueRepo('keyless');
    const push = await mlsec(
      [
        'push',
        'model',
        `${host}/${repo}:v1`,
        '--sign',
        '--fulcio-url',
        sigstore.fulcioURL,
        '--rekor-url',
        sigstore.rekorURL,
        ...common(dir),
      ],
      { cwd: dir, env: { SIGSTORE_ID_TOKEN: fakeIdentityToken({ iss: issuer, sub: identity }) } },
    );
    expect(push.exitCode).toBe(0);
    const pull = (out: string, who: string) =>
      mlsec(
        [
          'pull',
          `${host}/${repo}:v1`,
          out,
          '--identity',
          who,
          '--issuer',
          issuer,
          '--trusted-root',
          'root.json',
          ...common(dir),
        ],
        {
          cwd: dir,
        },
      );
    const ok = await pull('out', identity);
    expect(ok.exitCode).toBe(0);
    expect(JSON.parse(ok.stdout).gates[0]).toMatchObject({ gate: 'signature', blocked: false });
    const other = await pull('out2', 'someone@example.test');
    expect(other.exitCode).toBe(1);
    expect(JSON.parse(other.stdout).gates[0]).toEqual({
      gate: 'signature',
      blocked: true,
      message: `signed by "${identity}", not "someone@example.test"`,
    });
    await expect(stat(join(dir, 'out2'))).rejects.toThrow(/ENOENT/);
  });

  it('refuses a reference without a registry host, and a non-empty target directory', async () => {
    const dir = await tempDir();
    await model(dir);
    const bad = await mlsec(['push', 'model', 'just-a-name'], { cwd: dir });
    expect(bad).toMatchObject({
      exitCode: 2,
      stderr: 'mlsec: invalid reference "just-a-name": expected <registry>/<repository>[:tag]',
    });
    const full = await mlsec(['pull', `${host}/x/y:v1`, 'model', '--plain-http'], { cwd: dir });
    expect(full.exitCode).toBe(2);
    expect(full.stderr).toMatch(/model is not empty; pull writes only into an empty or new directory$/);
  });
});

describeWithRegistry('mlsec push and pull (htpasswd registry)', registries.basic, () => {
  const { host, user, password } = registries.basic ?? { host: '', user: '', password: '' };

  for (const [key, config] of [
    ['credHelpers', (h: string) => ({ credHelpers: { [h]: 'mlsectest' } })],
    ['credsStore', () => ({ credsStore: 'mlsectest' })],
  ] as const) {
    it(`authenticates through a docker credential helper named by ${key} in config.json`, async () => {
      const dir = await tempDir();
      await model(dir);
      const bin = join(dir, 'bin');
      await mkdir(bin);
      // A helper that answers only for this registry, the way docker-credential-* helpers do.
      await writeFile(
        join(bin, 'docker-credential-mlsectest'),
        `#!/bin/sh\nread host\nif [ "$host" = "${host}" ]; then printf '{"ServerURL":"%s","Username":"${user}","Secret":"${password}"}' "$host"; else echo "credentials not found in native keychain"; exit 1; fi`,
      );
      await chmod(join(bin, 'docker-credential-mlsectest'), 0o755);
      await mkdir(join(dir, 'docker'));
      await writeFile(join(dir, 'docker', 'config.json'), JSON.stringify(config(host)));
      const env = { DOCKER_CONFIG: join(dir, 'docker'), PATH: `${bin}:${process.env.PATH}` };
      const ref = `${host}/${uniqueRepo('basic')}:v1`;
      const push = await mlsec(['push', 'model', ref, '--plain-http', '--cache-dir', 'cache'], {
        cwd: dir,
        env,
      });
      expect(push.stderr).toBe('');
      expect(push.exitCode).toBe(0);
      const pull = await mlsec(['pull', ref, 'out', '--plain-http', '--cache-dir', 'cache2'], {
        cwd: dir,
        env,
      });
      expect(pull.exitCode).toBe(0);
      expect(await manifestDigest('out', dir)).toBe(await manifestDigest('model', dir));
    });
  }

  it('reads auths from config.json, and refuses wrong or missing credentials with exit 2', async () => {
    const dir = await tempDir();
    await model(dir);
    const ref = `${host}/${uniqueRepo('basic')}:v1`;
    const write = (p: string) =>
      writeFile(
        join(dir, 'config.json'),
        JSON.stringify({
          auths: { [`http://${host}/v2/`]: { auth: Buffer.from(`${user}:${p}`).toString('base64') } },
        }),
      );
    await write(password);
    const env = { DOCKER_CONFIG: dir };
    expect(
      (await mlsec(['push', 'model', ref, '--plain-http', '--cache-dir', 'c'], { cwd: dir, env })).exitCode,
    ).toBe(0);
    await write('wrong');
    const wrong = await mlsec(['pull', ref, 'out', '--plain-http', '--cache-dir', 'c'], { cwd: dir, env });
    expect(wrong).toMatchObject({ exitCode: 2 });
    expect(wrong.stderr).toBe(
      `mlsec: ${host} refused the credentials for ${ref.slice(host.length + 1, ref.lastIndexOf(':'))} (HTTP 401)`,
    );
    expect(wrong.stderr).not.toContain('wrong');
    const anonymous = await mlsec(['pull', ref, 'out', '--plain-http'], {
      cwd: dir,
      env: { DOCKER_CONFIG: join(dir, 'none') },
    });
    expect(anonymous.exitCode).toBe(2);
    expect(anonymous.stderr).toContain('refused anonymous access');
  });
});

describeWithRegistry('mlsec push and pull (token registry)', registries.token, () => {
  const { host, user, password, refresh } = registries.token ?? {
    host: '',
    user: '',
    password: '',
    refresh: '',
  };

  it('gets Bearer tokens: Basic at the token server to push, anonymous to pull, refresh token too', async () => {
    const dir = await tempDir();
    await model(dir);
    const repo = uniqueRepo('token');
    const ref = `${host}/${repo}:v1`;
    const anonymousPush = await mlsec(['push', 'model', ref, '--plain-http', '--cache-dir', 'c'], {
      cwd: dir,
      env: { DOCKER_CONFIG: join(dir, 'none') },
    });
    expect(anonymousPush.exitCode).toBe(2);
    expect(anonymousPush.stderr).toBe(`mlsec: ${host} refused anonymous access for ${repo} (HTTP 401)`);

    // The token server is plain HTTP on another port: another origin, so the password goes there
    // only when asked for explicitly.
    const login = ['--plain-http', '--cache-dir', 'c', '--username', user, '--password-stdin'];
    const refusedPush = await mlsecWithInput(['push', 'model', ref, ...login], {
      cwd: dir,
      input: `${password}\n`,
    });
    expect(refusedPush.exitCode).toBe(2);
    expect(refusedPush.stderr).toMatch(
      /^mlsec: token realm http:\/\/127\.0\.0\.1:\d+ is plain HTTP on another origin than the registry; credentials go there only over HTTPS \(--allow-insecure-token-realm sends them anyway\)$/,
    );
    const push = await mlsecWithInput(['push', 'model', ref, ...login, '--allow-insecure-token-realm'], {
      cwd: dir,
      input: `${password}\n`,
    });
    expect(push.stderr).toBe('');
    expect(push.exitCode).toBe(0);

    const pull = await mlsec(['pull', ref, 'out', '--plain-http', '--cache-dir', 'c2'], {
      cwd: dir,
      env: { DOCKER_CONFIG: join(dir, 'none') },
    });
    expect(pull.exitCode).toBe(0);
    expect(await manifestDigest('out', dir)).toBe(await manifestDigest('model', dir));

    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({ auths: { [host]: { identitytoken: refresh } } }),
    );
    const again = await mlsec(
      [
        'push',
        'model',
        `${host}/${repo}:v2`,
        '--plain-http',
        '--allow-insecure-token-realm',
        '--cache-dir',
        'c',
        '--format',
        'json',
      ],
      {
        cwd: dir,
        env: { DOCKER_CONFIG: dir },
      },
    );
    expect(again.exitCode).toBe(0);
    expect(JSON.parse(again.stdout).blobs.every((b: { status: string }) => b.status === 'exists')).toBe(true);
  });
});

describe('push and pull usage', () => {
  it('push --sign without a key signs keylessly, and says how to get a token when there is none', async () => {
    const dir = await tempDir();
    await model(dir);
    const result = await mlsec(['push', 'model', '127.0.0.1:1/x/y:v1', '--sign', '--no-gate'], { cwd: dir });
    expect(result).toMatchObject({
      exitCode: 2,
      stderr:
        'mlsec: keyless signing needs an identity token: pass --identity-token, set SIGSTORE_ID_TOKEN, grant "id-token: write" in GitHub Actions, or sign with --key',
    });
    const stray = await mlsec(['push', 'model', '127.0.0.1:1/x/y:v1', '--key', 'k.pem'], { cwd: dir });
    expect(stray).toMatchObject({
      exitCode: 2,
      stderr: 'mlsec: --key, --certificate and --identity-token sign only with --sign',
    });
  });
});

describeWithRegistry('mlsec push and pull (Basic over TLS)', registries.tls, () => {
  const { host, user, password, ca } = registries.tls ?? { host: '', user: '', password: '', ca: '' };

  it('trusts the registry through --ca-file, refuses an unknown certificate, and skips the check only with --insecure', async () => {
    const dir = await tempDir();
    await model(dir);
    const ref = `${host}/${uniqueRepo('tls')}:v1`;
    const login = ['--username', user, '--password-stdin', '--cache-dir', 'c'];
    const untrusted = await mlsecWithInput(['push', 'model', ref, ...login], {
      cwd: dir,
      input: `${password}\n`,
    });
    expect(untrusted.exitCode).toBe(2);
    expect(untrusted.stderr).toMatch(/certificate/i);
    expect(untrusted.stderr).not.toContain(password);
    const trusted = await mlsecWithInput(
      ['push', 'model', ref, ...login, '--ca-file', ca, '--format', 'json'],
      {
        cwd: dir,
        input: `${password}\n`,
      },
    );
    expect(trusted.stderr).toBe('');
    expect(trusted.exitCode).toBe(0);
    const digest = JSON.parse(trusted.stdout).digest;
    const insecure = await mlsecWithInput(['pull', ref, 'out', ...login, '--insecure', '--format', 'json'], {
      cwd: dir,
      input: `${password}\n`,
    });
    expect(insecure.exitCode).toBe(0);
    expect(JSON.parse(insecure.stdout).reference).toBe(`${ref.replace(/:v1$/, '')}@${digest}`);
    expect(await sha256Of(join(dir, 'out', 'model.safetensors'))).toBe(
      await sha256Of(join(dir, 'model', 'model.safetensors')),
    );
  });
});
