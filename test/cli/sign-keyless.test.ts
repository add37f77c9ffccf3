import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mlsec, tempDir } from '../helpers/cli.js';
import { type FakeSigstore, fakeIdentityToken, startFakeSigstore } from '../helpers/fake-sigstore.js';

const issuer = 'https://issuer.example.test';
const identity = 'https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main';

describe('keyless signing against a local Fulcio and Rekor', () => {
  let sigstore: FakeSigstore;
  beforeAll(async () => {
    sigstore = await startFakeSigstore();
  });
  afterAll(() => sigstore.close());

  async function signedModel() {
    const dir = await tempDir();
    await writeFile(join(dir, 'weights.bin'), 'weights');
    await writeFile(join(dir, 'config.json'), '{}');
    const rootFile = join(await tempDir(), 'trusted_root.json');
    await writeFile(rootFile, JSON.stringify(sigstore.trustedRoot));
    const token = fakeIdentityToken({ iss: issuer, sub: identity });
    const signed = await mlsec(
      [
        'sign',
        dir,
        '--fulcio-url',
        sigstore.fulcioURL,
        '--rekor-url',
        sigstore.rekorURL,
        '--trusted-root',
        rootFile,
      ],
      { env: { SIGSTORE_ID_TOKEN: token } },
    );
    return { dir, rootFile, signed };
  }

  it('signs with an identity token and verifies offline with the exact identity', async () => {
    const { dir, rootFile, signed } = await signedModel();
    expect(signed.stderr).toBe('');
    expect(signed.exitCode).toBe(0);
    const bundle = JSON.parse(await readFile(join(dir, 'model.sig'), 'utf8'));
    expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(bundle.verificationMaterial.tlogEntries[0].kindVersion).toEqual({
      kind: 'dsse',
      version: '0.0.1',
    });
    expect(Object.keys(bundle.verificationMaterial)).toContain('certificate');
    const served = sigstore.requests.length;
    const verified = await mlsec([
      'verify',
      dir,
      '--identity',
      identity,
      '--issuer',
      issuer,
      '--trusted-root',
      rootFile,
      '--format',
      'json',
    ]);
    expect(verified.exitCode).toBe(0);
    const report = JSON.parse(verified.stdout);
    expect(report.signer).toMatchObject({ method: 'sigstore', identity, issuer });
    expect(report.ok).toBe(true);
    expect(sigstore.requests.length).toBe(served);
  });

  it('rejects another identity or issuer, exactly compared', async () => {
    const { dir, rootFile } = await signedModel();
    const prefix = await mlsec([
      'verify',
      dir,
      '--identity',
      identity.slice(0, -1),
      '--issuer',
      issuer,
      '--trusted-root',
      rootFile,
    ]);
    expect(prefix.exitCode).toBe(1);
    expect(prefix.stdout).toBe(
      `FAILED ${dir}: signed by ${JSON.stringify(identity)}, not ${JSON.stringify(identity.slice(0, -1))}`,
    );
    const otherIssuer = await mlsec([
      'verify',
      dir,
      '--identity',
      identity,
      '--issuer',
      'https://token.actions.githubusercontent.com',
      '--trusted-root',
      rootFile,
    ]);
    expect(otherIssuer.exitCode).toBe(1);
    expect(otherIssuer.stdout).toBe(
      `FAILED ${dir}: identity issued by ${JSON.stringify(issuer)}, not "https://token.actions.githubusercontent.com"`,
    );
    const pattern = await mlsec([
      'verify',
      dir,
      '--identity-regexp',
      '^https://github\\.com/acme/models/',
      '--issuer',
      issuer,
      '--trusted-root',
      rootFile,
    ]);
    expect(pattern.exitCode).toBe(1);
    const whole = await mlsec([
      'verify',
      dir,
      '--identity-regexp',
      'https://github\\.com/acme/models/.*',
      '--issuer',
      issuer,
      '--trusted-root',
      rootFile,
    ]);
    expect(whole.exitCode).toBe(0);
    // An alternation is anchored as a whole: its second branch may be the match.
    const alternation = await mlsec([
      'verify',
      dir,
      '--identity-regexp',
      'https://github\\.com/acme|https://github\\.com/acme/models/.*',
      '--issuer',
      issuer,
      '--trusted-root',
      rootFile,
    ]);
    expect(alternation.exitCode).toBe(0);
  });

  it('without a token outside a terminal, says how to get one', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'w.bin'), 'w');
    const result = await mlsec([
      'sign',
      dir,
      '--fulcio-url',
      sigstore.fulcioURL,
      '--rekor-url',
      sigstore.rekorURL,
    ]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe(
      'mlsec: keyless signing needs an identity token: pass --identity-token, set SIGSTORE_ID_TOKEN, grant "id-token: write" in GitHub Actions, or sign with --key',
    );
  });
});
