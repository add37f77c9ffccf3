import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildOmsStatement } from '../../src/core/hash/manifest.js';
import { pae } from '../../src/core/sign/dsse.js';
import { buildKeyBundle, statementBytes } from '../../src/core/sign/sign-bundle.js';
import { readPrivateKey } from '../../src/io/signing-keys.js';
import { mlsec, root, tempDir } from '../helpers/cli.js';

const fixtures = join(root, 'fixtures', 'sign');
const keys = join(fixtures, 'keys');
const expected = JSON.parse(await readFile(join(fixtures, 'expected.json'), 'utf8'));

/** A copy of the fixture model, and the fixture keys with the private ones at mode 0600 (git keeps no modes). */
async function workspace() {
  const dir = await tempDir();
  await cp(join(fixtures, 'model'), join(dir, 'model'), { recursive: true });
  await cp(keys, join(dir, 'keys'), { recursive: true });
  for (const name of ['p256', 'p384', 'p521', 'other-p256'])
    await chmod(join(dir, 'keys', `${name}.key`), 0o600);
  return { dir, model: join(dir, 'model'), key: (name: string) => join(dir, 'keys', name) };
}

const verifyJson = async (args: string[]) => {
  const result = await mlsec(['verify', ...args, '--format', 'json']);
  return { exitCode: result.exitCode, report: JSON.parse(result.stdout), stderr: result.stderr };
};

describe('mlsec verify: signatures built from the specification by fixtures/sign/generate.py', () => {
  for (const curve of ['p256', 'p384', 'p521']) {
    it(`a ${curve} key signature`, async () => {
      const { exitCode, report } = await verifyJson([
        join(fixtures, 'model'),
        '--signature',
        join(fixtures, 'signatures', `key-${curve}.sig`),
        '--key',
        join(keys, `${curve}.pub`),
      ]);
      expect(report).toMatchObject({
        ok: true,
        format: 'v1.0',
        signer: { method: 'key', keyHint: expected.hints[curve] },
        modelDigest: expected.files.subject[0].digest.sha256,
        resources: 6,
        diff: { modified: [], added: [], removed: [], renamed: [] },
      });
      expect(exitCode).toBe(0);
    });
  }

  it('a certificate signature, chained to its root', async () => {
    const args = [join(fixtures, 'model'), '--signature', join(fixtures, 'signatures', 'certificate.sig')];
    const ok = await verifyJson([...args, '--certificate-chain', join(keys, 'ca.pem')]);
    expect(ok.report.signer).toEqual({ method: 'certificate', certificateSubject: 'CN=mlsec test signer' });
    expect(ok.exitCode).toBe(0);
    const untrusted = await verifyJson([...args, '--certificate-chain', join(keys, 'signer.pem')]);
    expect(untrusted.report.failure).toEqual({
      kind: 'certificate',
      message: 'certificate "CN=mlsec test signer" does not chain to a trusted root',
    });
    expect(untrusted.exitCode).toBe(1);
  });

  it('a shards signature with the serialization it records', async () => {
    const { exitCode, report } = await verifyJson([
      join(fixtures, 'model'),
      '--signature',
      join(fixtures, 'signatures', 'shards-p256.sig'),
      '--key',
      join(keys, 'p256.pub'),
    ]);
    expect(report.modelDigest).toBe(expected.shards.subject[0].digest.sha256);
    expect(report.resources).toBe(expected.shards.predicate.resources.length);
    expect(exitCode).toBe(0);
  });
});

describe('mlsec sign', () => {
  it('writes exactly the bundle layout model_signing writes, with a signature openssl accepts', async () => {
    const w = await workspace();
    const signed = await mlsec(['sign', w.model, '--key', w.key('p384.key')]);
    expect(signed.stderr).toBe('');
    expect(signed.stdout.split('\n')[0]).toBe(
      `signed ${w.model}: 6 resources, model digest sha256:${expected.files.subject[0].digest.sha256} (key)`,
    );
    const bundle = JSON.parse(await readFile(join(w.model, 'model.sig'), 'utf8'));
    expect(Object.keys(bundle)).toEqual(['mediaType', 'verificationMaterial', 'dsseEnvelope']);
    expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(bundle.verificationMaterial).toEqual({
      publicKey: { hint: expected.hints.p384 },
      tlogEntries: [],
    });
    expect(bundle.dsseEnvelope.payloadType).toBe('application/vnd.in-toto+json');
    expect(bundle.dsseEnvelope.signatures).toHaveLength(1);
    expect(bundle.dsseEnvelope.signatures[0].keyid).toBe('');
    const payload = Buffer.from(bundle.dsseEnvelope.payload, 'base64');
    expect(JSON.parse(payload.toString())).toEqual(expected.files);
    await writeFile(join(w.dir, 'pae.bin'), pae('application/vnd.in-toto+json', payload));
    await writeFile(join(w.dir, 'sig.der'), Buffer.from(bundle.dsseEnvelope.signatures[0].sig, 'base64'));
    const openssl = execFileSync('openssl', [
      'dgst',
      '-sha384',
      '-verify',
      w.key('p384.pub'),
      '-signature',
      join(w.dir, 'sig.der'),
      join(w.dir, 'pae.bin'),
    ]).toString();
    expect(openssl).toBe('Verified OK\n');
    const verified = await mlsec(['verify', w.model, '--key', w.key('p384.pub')]);
    expect(verified.exitCode).toBe(0);
  });

  it('signs a single file as ".", beside it as <file>.sig', async () => {
    const w = await workspace();
    const file = join(w.model, 'config.json');
    const signed = await mlsec(['sign', file, '--key', w.key('p256.key'), '--format', 'json']);
    expect(JSON.parse(signed.stdout)).toMatchObject({
      signature: `${file}.sig`,
      method: 'key',
      resources: 1,
    });
    const bundle = JSON.parse(await readFile(`${file}.sig`, 'utf8'));
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString());
    expect(statement.predicate.resources.map((r: { name: string }) => r.name)).toEqual(['.']);
    expect((await mlsec(['verify', file, '--key', w.key('p256.pub')])).exitCode).toBe(0);
  });

  it('signs with a certificate and its chain', async () => {
    const w = await workspace();
    const signed = await mlsec([
      'sign',
      w.model,
      '--key',
      w.key('p384.key'),
      '--certificate',
      w.key('signer.pem'),
      '--certificate-chain',
      w.key('ca.pem'),
    ]);
    expect(signed.exitCode).toBe(0);
    const bundle = JSON.parse(await readFile(join(w.model, 'model.sig'), 'utf8'));
    expect(bundle.verificationMaterial.x509CertificateChain.certificates).toHaveLength(2);
    expect((await mlsec(['verify', w.model, '--certificate-chain', w.key('ca.pem')])).exitCode).toBe(0);
    const mismatch = await mlsec([
      'sign',
      w.model,
      '--key',
      w.key('p256.key'),
      '--certificate',
      w.key('signer.pem'),
    ]);
    expect(mismatch.exitCode).toBe(2);
    expect(mismatch.stderr).toBe(
      'mlsec: the signing certificate does not certify the private key given with --key',
    );
  });

  it('keygen writes a 0600 private key, encrypted with a passphrase from the environment', async () => {
    const dir = await tempDir();
    const env = { MODEL_KEY_PASSPHRASE: 'correct horse' };
    const made = await mlsec(
      [
        'keygen',
        '--curve',
        'P-384',
        '--output',
        join(dir, 'release'),
        '--passphrase-env',
        'MODEL_KEY_PASSPHRASE',
      ],
      { env },
    );
    expect(made.exitCode).toBe(0);
    expect((await stat(join(dir, 'release.key'))).mode & 0o777).toBe(0o600);
    const pem = await readFile(join(dir, 'release.key'), 'utf8');
    expect(pem.startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----')).toBe(true);
    const again = await mlsec(['keygen', '--output', join(dir, 'release')]);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toBe(
      `mlsec: ${join(dir, 'release.key')} exists; not overwriting a key (use --force)`,
    );
    await writeFile(join(dir, 'w.bin'), 'w');
    const model = join(dir, 'w.bin');
    const wrong = await mlsec(['sign', model, '--key', join(dir, 'release.key'), '--passphrase-env', 'P'], {
      env: { P: 'nope' },
    });
    expect(wrong.exitCode).toBe(2);
    expect(wrong.stderr).toBe(
      `mlsec: cannot decrypt private key ${join(dir, 'release.key')}: wrong or missing passphrase`,
    );
    const right = await mlsec(
      ['sign', model, '--key', join(dir, 'release.key'), '--passphrase-env', 'MODEL_KEY_PASSPHRASE'],
      { env },
    );
    expect(right.exitCode).toBe(0);
    expect((await mlsec(['verify', model, '--key', join(dir, 'release.pub')])).exitCode).toBe(0);
  });

  it('warns about a private key others can read, and never prints key material', async () => {
    const w = await workspace();
    await chmod(w.key('p256.key'), 0o644);
    const signed = await mlsec(['sign', w.model, '--key', w.key('p256.key'), '--debug']);
    expect(signed.stderr).toBe(
      `mlsec: warning: private key ${w.key('p256.key')} is readable by others (mode 644); chmod 600 it\n`.trimEnd(),
    );
    const secret = (await readFile(w.key('p256.key'), 'utf8')).split('\n')[1]!;
    await writeFile(
      join(w.dir, 'broken.key'),
      `-----BEGIN PRIVATE KEY-----\n${secret}x\n-----END PRIVATE KEY-----\n`,
      { mode: 0o600 },
    );
    const broken = await mlsec(['sign', w.model, '--key', join(w.dir, 'broken.key'), '--debug']);
    expect(broken.exitCode).toBe(2);
    expect(broken.stderr.split('\n')[0]).toBe(`mlsec: ${join(w.dir, 'broken.key')} is not a PEM private key`);
    for (const output of [signed.stdout, signed.stderr, broken.stdout, broken.stderr]) {
      expect(output).not.toContain(secret.slice(0, 20));
    }
  });
});

describe('mlsec verify: tampering', () => {
  async function signedWorkspace() {
    const w = await workspace();
    expect((await mlsec(['sign', w.model, '--key', w.key('p256.key')])).exitCode).toBe(0);
    const check = () => verifyJson([w.model, '--key', w.key('p256.pub')]);
    return { ...w, check };
  }
  const noDiff = { modified: [], added: [], removed: [], renamed: [] };

  it('one byte of one file changed', async () => {
    const w = await signedWorkspace();
    const path = join(w.model, 'model.safetensors');
    const bytes = await readFile(path);
    bytes[5000] = bytes[5000]! ^ 1;
    await writeFile(path, bytes);
    const { exitCode, report } = await w.check();
    expect(report.failure).toEqual({
      kind: 'files',
      message: 'the model does not match its signature: modified model.safetensors',
    });
    expect(report.diff).toEqual({ ...noDiff, modified: ['model.safetensors'] });
    expect(exitCode).toBe(1);
  });

  it('a file added, removed or renamed', async () => {
    const w = await signedWorkspace();
    await writeFile(join(w.model, 'tokenizer', 'extra.py'), 'print(1)');
    expect((await w.check()).report.diff).toEqual({ ...noDiff, added: ['tokenizer/extra.py'] });
    const accepted = await verifyJson([w.model, '--key', w.key('p256.pub'), '--ignore-unsigned-files']);
    expect(accepted.exitCode).toBe(0);
    await rm(join(w.model, 'tokenizer', 'extra.py'));
    await rm(join(w.model, 'tokenizer.json'));
    expect((await w.check()).report.diff).toEqual({ ...noDiff, removed: ['tokenizer.json'] });
    await writeFile(join(w.model, 'tokenizer.json'), '{"version": "1.0"}');
    await rename(join(w.model, 'config.json'), join(w.model, 'config.old.json'));
    const renamed = await w.check();
    expect(renamed.report.diff).toEqual({
      ...noDiff,
      renamed: [{ from: 'config.json', to: 'config.old.json' }],
    });
    expect(renamed.report.failure.message).toBe(
      'the model does not match its signature: renamed config.json to config.old.json',
    );
    expect(renamed.exitCode).toBe(1);
  });

  it('the signature file edited', async () => {
    const w = await signedWorkspace();
    const sigPath = join(w.model, 'model.sig');
    const original = await readFile(sigPath, 'utf8');
    const bundle = JSON.parse(original);
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString());
    statement.predicate.resources[0].digest = '0'.repeat(64);
    bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement, null, 2)).toString('base64');
    await writeFile(sigPath, JSON.stringify(bundle));
    expect((await w.check()).report.failure).toEqual({
      kind: 'signature',
      message:
        'the signature does not match the signed statement (the signature file was altered, or another key signed it)',
    });
    await writeFile(sigPath, original.slice(0, 100));
    const truncated = await w.check();
    expect(truncated.report.failure.kind).toBe('signature-file');
    expect(truncated.report.failure.message).toMatch(/^signature file is not JSON: /);
    expect(truncated.exitCode).toBe(1);
    await rm(sigPath);
    const missing = await w.check();
    expect(missing.report.failure).toEqual({ kind: 'signature-file', message: `no signature at ${sigPath}` });
    expect(missing.exitCode).toBe(1);
  });

  it('a signature by another key', async () => {
    const w = await workspace();
    expect((await mlsec(['sign', w.model, '--key', w.key('other-p256.key')])).exitCode).toBe(0);
    const { exitCode, report } = await verifyJson([w.model, '--key', w.key('p256.pub')]);
    const otherHint = JSON.parse(await readFile(join(w.model, 'model.sig'), 'utf8')).verificationMaterial
      .publicKey.hint;
    expect(report.failure).toEqual({
      kind: 'key',
      message: `signed by another key (key hint ${otherHint}, the given key is ${expected.hints.p256})`,
    });
    expect(exitCode).toBe(1);
  });

  it('a symbolic link swapped in for a signed file', async () => {
    const w = await signedWorkspace();
    await cp(join(w.model, 'config.json'), join(w.dir, 'config.json'));
    await rm(join(w.model, 'config.json'));
    await symlink(join(w.dir, 'config.json'), join(w.model, 'config.json'));
    const { exitCode, report } = await w.check();
    expect(report.failure).toEqual({
      kind: 'files',
      message: `${join(w.model, 'config.json')} is a symbolic link; model manifests do not follow links (copy the target or ignore the path)`,
    });
    expect(exitCode).toBe(1);
  });

  for (const [name, problem] of [
    ['../outside.bin', '".." path segment'],
    ['/etc/passwd', 'absolute path'],
  ]) {
    it(`a manifest naming ${name}, even when properly signed`, async () => {
      const w = await workspace();
      const statement = buildOmsStatement('model', {
        serialization: { method: 'files', hash_type: 'sha256', allow_symlinks: false },
        resources: [{ name: name!, algorithm: 'sha256', digest: 'a'.repeat(64) }],
      });
      const key = await readPrivateKey(w.key('p256.key'));
      await writeFile(
        join(w.model, 'model.sig'),
        JSON.stringify(buildKeyBundle(statementBytes(statement), key)),
      );
      const { exitCode, report } = await verifyJson([w.model, '--key', w.key('p256.pub')]);
      expect(report.failure).toEqual({
        kind: 'manifest',
        message: `unsafe resource name ${JSON.stringify(name)}: ${problem}`,
      });
      expect(exitCode).toBe(1);
    });
  }

  it('needs exactly one way to check the signer', async () => {
    const w = await signedWorkspace();
    const none = await mlsec(['verify', w.model]);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toBe(
      'mlsec: say how the model was signed: --key PUBLIC.pem, --certificate-chain ROOTS.pem, or --identity/--identity-regexp with --issuer/--issuer-regexp',
    );
    const wrongMethod = await verifyJson([w.model, '--certificate-chain', w.key('ca.pem')]);
    expect(wrongMethod.report.failure).toEqual({
      kind: 'signature',
      message: 'the signature was made with a key, not a certificate chain',
    });
  });
});

const vectors = resolve(root, '..', 'shared', 'oms-vectors');
describe.skipIf(!existsSync(vectors))('model_signing reference signatures (../shared/oms-vectors)', () => {
  const pub = join(vectors, 'keys', 'certificate', 'signing-key-pub.pem');
  const ca = join(vectors, 'keys', 'certificate', 'ca-cert.pem');
  const cases: [string, string[], string][] = [
    [
      'v0.3.1-elliptic-key/signme-1',
      ['--signature', join(vectors, 'v0.3.1-elliptic-key', 'model.sig'), '--key', pub],
      'v1.0',
    ],
    [
      'v1.0.0-elliptic-key/signme-1',
      ['--signature', join(vectors, 'v1.0.0-elliptic-key', 'model.sig'), '--key', pub],
      'v1.0',
    ],
    ['v1.0.1-elliptic-key', ['--key', pub, '--ignore-path', 'ignore-me'], 'v1.0'],
    ['v1.1.0-elliptic-key', ['--key', pub], 'v1.0'],
    ['v0.2.0-certificate', ['--certificate-chain', ca], 'v0.2'],
    ['v0.3.1-certificate', ['--certificate-chain', ca], 'v1.0'],
    ['v1.0.0-certificate', ['--certificate-chain', ca], 'v1.0'],
    ['v1.0.1-certificate', ['--certificate-chain', ca, '--ignore-path', 'ignore-me'], 'v1.0'],
    ['v1.1.0-certificate', ['--certificate-chain', ca], 'v1.0'],
  ];
  const keyless = ['--identity', 'stefanb@us.ibm.com', '--issuer', 'https://sigstore.verify.ibm.com/oauth2'];
  for (const version of ['v0.3.1', 'v1.0.0', 'v1.0.1', 'v1.1.0']) {
    cases.push([
      `${version}-sigstore`,
      [
        ...keyless,
        '--trusted-root',
        join(vectors, 'trusted_root.public-good.json'),
        '--ignore-path',
        'ignore-me',
      ],
      'v1.0',
    ]);
  }
  for (const [model, args, format] of cases) {
    it(`verifies ${model}`, async () => {
      const { exitCode, report } = await verifyJson([join(vectors, model), ...args]);
      expect(report.failure).toBeUndefined();
      expect(report.format).toBe(format);
      expect(exitCode).toBe(0);
    });
  }

  it('rejects a reference signature over a changed copy, and another identity', async () => {
    const dir = await tempDir();
    await cp(join(vectors, 'v1.1.0-elliptic-key'), join(dir, 'm'), { recursive: true });
    await chmod(join(dir, 'm', 'signme-2'), 0o644);
    await writeFile(join(dir, 'm', 'signme-2'), 'signme-X');
    const changed = await verifyJson([join(dir, 'm'), '--key', pub]);
    expect(changed.report.failure.message).toBe('the model does not match its signature: modified signme-2');
    const other = await verifyJson([
      join(vectors, 'v1.1.0-sigstore'),
      '--identity',
      'stefanb@us.ibm.co',
      '--issuer',
      'https://sigstore.verify.ibm.com/oauth2',
      '--trusted-root',
      join(vectors, 'trusted_root.public-good.json'),
    ]);
    expect(other.report.failure).toEqual({
      kind: 'identity',
      message: 'signed by "stefanb@us.ibm.com", not "stefanb@us.ibm.co"',
    });
    expect(other.exitCode).toBe(1);
  });
});

describe('the shipped example', () => {
  it('examples/trusted-model verifies with its public key', async () => {
    const { exitCode, report } = await verifyJson([
      join(root, 'examples', 'trusted-model'),
      '--key',
      join(root, 'examples', 'keys', 'trusted-model.pub'),
    ]);
    expect(report).toMatchObject({ ok: true, resources: 3, signer: { method: 'key' } });
    expect(exitCode).toBe(0);
  });
});

describe('mlsec sign and verify: hostile inputs and edge cases', () => {
  it('refuses a --signature that would overwrite a model file, before hashing anything', async () => {
    const w = await workspace();
    const target = join(w.model, 'config.json');
    const before = await readFile(target);
    const result = await mlsec(['sign', w.model, '--key', w.key('p256.key'), '--signature', target]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe(
      `mlsec: ${target} exists and is not a signature; not overwriting it (remove it or choose another --signature)`,
    );
    expect(await readFile(target)).toEqual(before);
    expect((await mlsec(['sign', w.model, '--key', w.key('p256.key')])).exitCode).toBe(0);
    expect((await mlsec(['sign', w.model, '--key', w.key('p256.key')])).exitCode).toBe(0);
  });

  it('a signature that records its ignore list is taken at its word', async () => {
    const w = await workspace();
    expect(
      (await mlsec(['sign', w.model, '--key', w.key('p256.key'), '--no-ignore-git-paths'])).exitCode,
    ).toBe(0);
    expect((await verifyJson([w.model, '--key', w.key('p256.pub')])).exitCode).toBe(0);
    await cp(join(w.model, 'config.json'), join(w.model, '.gitignore'));
    const { exitCode, report } = await verifyJson([w.model, '--key', w.key('p256.pub')]);
    expect(report.diff.added).toEqual(['.gitignore']);
    expect(exitCode).toBe(1);
  });

  it('accepts --ignore-paths, as model_signing spells it', async () => {
    const w = await workspace();
    expect(
      (
        await mlsec([
          'sign',
          w.model,
          '--key',
          w.key('p256.key'),
          '--ignore-paths',
          join(w.model, 'empty.bin'),
        ])
      ).exitCode,
    ).toBe(0);
    const bundle = JSON.parse(await readFile(join(w.model, 'model.sig'), 'utf8'));
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString());
    expect(statement.predicate.serialization.ignore_paths).toContain('empty.bin');
  });

  it('a file name that is not UTF-8 fails verification with a clear message', async () => {
    const w = await signedWorkspaceFor('p256');
    const name = Buffer.concat([Buffer.from(`${w.model}/`), Buffer.from([0xff])]);
    await writeFile(name, 'x');
    const { exitCode, report } = await verifyJson([w.model, '--key', w.key('p256.pub')]);
    expect(report.failure).toEqual({
      kind: 'files',
      message: `${w.model}/\uFFFD: a file name that is not valid UTF-8 cannot be named in a manifest`,
    });
    expect(exitCode).toBe(1);
  });

  it("enforces a CA's path length constraint", async () => {
    const w = await workspace();
    const pki = join(w.dir, 'pki');
    const run = (...args: string[]) => execFileSync('openssl', args, { cwd: w.dir, stdio: 'pipe' });
    execFileSync('mkdir', [pki]);
    const ext = (name: string, text: string) => writeFile(join(pki, name), text);
    await ext('ca.cnf', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n');
    await ext('leaf.cnf', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n');
    run('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', 'pki/root.key');
    run(
      'req',
      '-x509',
      '-new',
      '-key',
      'pki/root.key',
      '-subj',
      '/CN=root',
      '-days',
      '30',
      '-addext',
      'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext',
      'keyUsage=critical,keyCertSign',
      '-out',
      'pki/root.pem',
    );
    run('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', 'pki/int.key');
    run('req', '-new', '-key', 'pki/int.key', '-subj', '/CN=intermediate', '-out', 'pki/int.csr');
    run(
      'x509',
      '-req',
      '-in',
      'pki/int.csr',
      '-CA',
      'pki/root.pem',
      '-CAkey',
      'pki/root.key',
      '-CAcreateserial',
      '-days',
      '30',
      '-extfile',
      'pki/ca.cnf',
      '-out',
      'pki/int.pem',
    );
    run('req', '-new', '-key', 'keys/p256.key', '-subj', '/CN=leaf', '-out', 'pki/leaf.csr');
    run(
      'x509',
      '-req',
      '-in',
      'pki/leaf.csr',
      '-CA',
      'pki/int.pem',
      '-CAkey',
      'pki/int.key',
      '-CAcreateserial',
      '-days',
      '30',
      '-extfile',
      'pki/leaf.cnf',
      '-out',
      'pki/leaf.pem',
    );
    const signed = await mlsec([
      'sign',
      w.model,
      '--key',
      w.key('p256.key'),
      '--certificate',
      join(pki, 'leaf.pem'),
      '--certificate-chain',
      join(pki, 'int.pem'),
    ]);
    expect(signed.exitCode).toBe(0);
    const { exitCode, report } = await verifyJson([w.model, '--certificate-chain', join(pki, 'root.pem')]);
    expect(report.failure).toEqual({
      kind: 'certificate',
      message: 'certificate "CN=root" allows 0 CAs below it, the chain has 1',
    });
    expect(exitCode).toBe(1);
  });

  it('keygen --force replaces a key pair', async () => {
    const dir = await tempDir();
    const prefix = join(dir, 'k');
    expect((await mlsec(['keygen', '--output', prefix])).exitCode).toBe(0);
    const first = await readFile(`${prefix}.pub`, 'utf8');
    expect((await mlsec(['keygen', '--output', prefix, '--force'])).exitCode).toBe(0);
    expect(await readFile(`${prefix}.pub`, 'utf8')).not.toBe(first);
    expect((await stat(`${prefix}.key`)).mode & 0o777).toBe(0o600);
  });

  it('a trusted root that is not one is an input error', async () => {
    const w = await signedWorkspaceFor('p256');
    await writeFile(join(w.dir, 'root.json'), '{}');
    const result = await mlsec([
      'verify',
      w.model,
      '--identity',
      'a',
      '--issuer',
      'b',
      '--trusted-root',
      join(w.dir, 'root.json'),
    ]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe(
      `mlsec: ${join(w.dir, 'root.json')} is not a Sigstore trusted root (needs a trustedroot mediaType, certificate authorities and transparency logs)`,
    );
  });
});

async function signedWorkspaceFor(curve: string) {
  const w = await workspace();
  expect((await mlsec(['sign', w.model, '--key', w.key(`${curve}.key`)])).exitCode).toBe(0);
  return w;
}
