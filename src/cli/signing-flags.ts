import type { KeyObject } from 'node:crypto';
import type { Command } from 'commander';
import { MlsecError } from '../core/errors.js';
import type { VerifyMaterial } from '../core/sign/verify-signature.js';
import type { SignatureSpec } from '../io/create-signature.js';
import { collect } from './flags.js';
import type { Terminal } from './output.js';

/** How `sign` and `push --sign` sign: a key, a certificate for it, or keyless Sigstore. */
export interface SigningFlags {
  key?: string;
  passphraseEnv?: string;
  certificate?: string;
  certificateChain: string[];
  identityToken?: string;
  oidcIssuer: string;
  oidcClientId: string;
  fulcioUrl: string;
  rekorUrl: string;
}

export function addSigningOptions(command: Command): Command {
  return command
    .option('-k, --key <private.pem>', 'sign with a local ECDSA key (P-256, P-384 or P-521)')
    .option('--passphrase-env <variable>', 'environment variable holding the private key passphrase')
    .option('--certificate <cert.pem>', 'with --key: sign with a PKI certificate for that key')
    .option(
      '--certificate-chain <pem>',
      'with --certificate: intermediate certificates (repeatable)',
      collect,
      [],
    )
    .option(
      '--identity-token <jwt>',
      'keyless: OIDC identity token (default: SIGSTORE_ID_TOKEN, CI, browser)',
    )
    .option(
      '--oidc-issuer <url>',
      'keyless: OIDC issuer for the browser sign-in',
      'https://oauth2.sigstore.dev/auth',
    )
    .option('--oidc-client-id <id>', 'keyless: OIDC client id', 'sigstore')
    .option('--fulcio-url <url>', 'keyless: Fulcio certificate authority', 'https://fulcio.sigstore.dev')
    .option('--rekor-url <url>', 'keyless: Rekor transparency log', 'https://rekor.sigstore.dev');
}

/**
 * Loads what signing needs before any hashing, so a wrong passphrase or a missing token fails
 * before an hour of work. Warns about a private key that others can read.
 */
export async function signatureSpecFrom(flags: SigningFlags, terminal: Terminal): Promise<SignatureSpec> {
  if (flags.certificate && !flags.key)
    throw new MlsecError('USAGE', '--certificate needs --key, the key it certifies');
  if (flags.certificateChain.length > 0 && !flags.certificate) {
    throw new MlsecError('USAGE', '--certificate-chain needs --certificate');
  }
  const { readCertificates, readPrivateKey, permissiveModeWarning } = await import('../io/signing-keys.js');
  if (flags.key) {
    const warning = await permissiveModeWarning(flags.key);
    if (warning) terminal.stderr.write(`mlsec: ${warning}\n`);
    const privateKey: KeyObject = await readPrivateKey(
      flags.key,
      passphraseFrom(flags.passphraseEnv, terminal.env),
    );
    if (!flags.certificate) return { method: 'key', privateKey };
    const chain = [
      ...(await readCertificates(flags.certificate)).slice(0, 1),
      ...(await Promise.all(flags.certificateChain.map(readCertificates))).flat(),
    ];
    return { method: 'certificate', privateKey, chain };
  }
  const { obtainIdentityToken } = await import('../io/identity-token.js');
  const identityToken = await obtainIdentityToken({
    flag: flags.identityToken,
    env: terminal.env,
    interactive: terminal.interactive,
    oidcIssuer: flags.oidcIssuer,
    clientId: flags.oidcClientId,
    openBrowser: async (url) => {
      const { execa } = await import('execa');
      await execa(process.platform === 'darwin' ? 'open' : 'xdg-open', [url], { stdio: 'ignore' });
    },
    notify: (message) => terminal.stderr.write(`mlsec: ${message}\n`),
  });
  return { method: 'sigstore', identityToken, fulcioURL: flags.fulcioUrl, rekorURL: flags.rekorUrl };
}

function passphraseFrom(variable: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (variable === undefined) return undefined;
  const value = env[variable];
  if (value === undefined) throw new MlsecError('USAGE', `--passphrase-env: ${variable} is not set`);
  return value;
}

/** How `verify` and `pull` check a signer: a key, trusted certificate roots, or a keyless identity. */
export interface VerifyMaterialFlags {
  key?: string;
  certificateChain: string[];
  identity?: string;
  identityRegexp?: string;
  issuer?: string;
  issuerRegexp?: string;
  trustedRoot?: string;
}

export function addVerifyOptions(command: Command, keyHelp: string): Command {
  return command
    .option('-k, --key <public.pem>', keyHelp)
    .option(
      '--certificate-chain <pem>',
      'signed with a certificate chaining to these roots (repeatable)',
      collect,
      [],
    )
    .option('--identity <identity>', 'keyless: the signer, exactly (e-mail or workflow URI)')
    .option('--identity-regexp <pattern>', 'keyless: the signer, as a pattern matching it whole')
    .option('--issuer <url>', 'keyless: the OIDC issuer, exactly')
    .option('--issuer-regexp <pattern>', 'keyless: the OIDC issuer, as a pattern matching it whole')
    .option('--trusted-root <file>', 'keyless: Sigstore trusted root (default: the public-good root)');
}

/** Whether any way to check a signer was given (pull then requires a signature). */
export function wantsVerification(flags: VerifyMaterialFlags): boolean {
  return (
    flags.key !== undefined ||
    flags.certificateChain.length > 0 ||
    [flags.identity, flags.identityRegexp, flags.issuer, flags.issuerRegexp].some((v) => v !== undefined)
  );
}

export async function verifyMaterialFrom(flags: VerifyMaterialFlags, cwd: string): Promise<VerifyMaterial> {
  const { resolve } = await import('node:path');
  const keyless = [flags.identity, flags.identityRegexp, flags.issuer, flags.issuerRegexp].some(
    (v) => v !== undefined,
  );
  const chosen = [flags.key !== undefined, flags.certificateChain.length > 0, keyless].filter(Boolean).length;
  if (chosen !== 1) {
    throw new MlsecError(
      'USAGE',
      'say how the model was signed: --key PUBLIC.pem, --certificate-chain ROOTS.pem, or --identity/--identity-regexp with --issuer/--issuer-regexp',
    );
  }
  const { readCertificates, readPublicKey } = await import('../io/signing-keys.js');
  if (flags.key) return { method: 'key', publicKey: await readPublicKey(resolve(cwd, flags.key)) };
  if (flags.certificateChain.length > 0) {
    const roots = await Promise.all(flags.certificateChain.map((p) => readCertificates(resolve(cwd, p))));
    return { method: 'certificate', roots: roots.flat() };
  }
  const identity = exactOrPattern(flags.identity, flags.identityRegexp, '--identity');
  const issuer = exactOrPattern(flags.issuer, flags.issuerRegexp, '--issuer');
  const { loadTrustedRoot } = await import('../io/trusted-root.js');
  const trustedRoot = await loadTrustedRoot(
    flags.trustedRoot === undefined ? undefined : resolve(cwd, flags.trustedRoot),
  );
  return { method: 'sigstore', trustedRoot, identity: { identity, issuer } };
}

function exactOrPattern(
  exact: string | undefined,
  pattern: string | undefined,
  flag: string,
): string | RegExp {
  if ((exact === undefined) === (pattern === undefined)) {
    throw new MlsecError('USAGE', `keyless verification needs exactly one of ${flag} and ${flag}-regexp`);
  }
  if (exact !== undefined) return exact;
  try {
    return new RegExp(pattern!, 'u');
  } catch (error) {
    throw new MlsecError('USAGE', `${flag}-regexp: ${(error as Error).message}`);
  }
}
