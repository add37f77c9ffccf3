import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetch } from 'undici';
import { MlsecError } from '../core/errors.js';

export const publicGoodIssuer = 'https://oauth2.sigstore.dev/auth';

export interface TokenSources {
  /** `--identity-token`. */
  flag?: string | undefined;
  env: NodeJS.ProcessEnv;
  /** A person at a terminal: the browser flow is allowed. */
  interactive: boolean;
  oidcIssuer: string;
  clientId: string;
  /** Opens the sign-in page; the URL is also shown, for a terminal without a browser. */
  openBrowser: (url: string) => Promise<void>;
  notify: (message: string) => void;
  /** How long to wait for the browser, default five minutes. */
  timeoutMs?: number;
}

/**
 * The OIDC identity token for keyless signing, from the first source that has one: the flag,
 * `SIGSTORE_ID_TOKEN`, GitHub Actions' ambient credentials, then a browser sign-in on a terminal.
 */
export async function obtainIdentityToken(sources: TokenSources): Promise<string> {
  if (sources.flag) return sources.flag;
  if (sources.env.SIGSTORE_ID_TOKEN) return sources.env.SIGSTORE_ID_TOKEN;
  const { ACTIONS_ID_TOKEN_REQUEST_URL: url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: bearer } = sources.env;
  if (url && bearer) return githubActionsToken(url, bearer);
  if (sources.interactive) return browserFlow(sources);
  throw new MlsecError(
    'USAGE',
    'keyless signing needs an identity token: pass --identity-token, set SIGSTORE_ID_TOKEN, grant "id-token: write" in GitHub Actions, or sign with --key',
  );
}

async function githubActionsToken(requestURL: string, bearer: string): Promise<string> {
  const url = new URL(requestURL);
  url.searchParams.set('audience', 'sigstore');
  const response = await fetch(url, { headers: { authorization: `Bearer ${bearer}` } }).catch(
    (error: Error) => {
      throw new MlsecError('SIGNING_FAILED', `cannot reach GitHub Actions' token service: ${error.message}`);
    },
  );
  const body = (await response.json().catch(() => ({}))) as { value?: string };
  if (!response.ok || !body.value) {
    throw new MlsecError('SIGNING_FAILED', `GitHub Actions gave no identity token (HTTP ${response.status})`);
  }
  return body.value;
}

const base64url = (bytes: Buffer) => bytes.toString('base64url');

/** OAuth 2.0 authorization code with PKCE and a loopback redirect (RFC 8252), as cosign does. */
async function browserFlow(sources: TokenSources): Promise<string> {
  const discovery = await getJson(
    `${sources.oidcIssuer.replace(/\/$/, '')}/.well-known/openid-configuration`,
  );
  const authorize = String(discovery.authorization_endpoint ?? '');
  const tokenEndpoint = String(discovery.token_endpoint ?? '');
  if (!authorize || !tokenEndpoint) {
    throw new MlsecError('SIGNING_FAILED', `${sources.oidcIssuer} does not describe its OIDC endpoints`);
  }
  const verifier = base64url(randomBytes(32));
  const state = base64url(randomBytes(16));
  const callback = await listenForCallback(state, sources.timeoutMs ?? 300_000);
  try {
    const redirectURI = `http://localhost:${callback.port}/auth/callback`;
    const url = new URL(authorize);
    for (const [key, value] of Object.entries({
      response_type: 'code',
      client_id: sources.clientId,
      redirect_uri: redirectURI,
      scope: 'openid email',
      code_challenge: base64url(createHash('sha256').update(verifier).digest()),
      code_challenge_method: 'S256',
      state,
      nonce: base64url(randomBytes(16)),
    })) {
      url.searchParams.set(key, value);
    }
    sources.notify(`Sign in to get a signing certificate: ${url.href}`);
    await sources.openBrowser(url.href).catch(() => {});
    const code = await callback.code;
    const response = await fetch(tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectURI,
        client_id: sources.clientId,
        code_verifier: verifier,
      }).toString(),
    });
    const body = (await response.json().catch(() => ({}))) as { id_token?: string };
    if (!response.ok || !body.id_token) {
      throw new MlsecError(
        'SIGNING_FAILED',
        `the identity provider gave no ID token (HTTP ${response.status})`,
      );
    }
    return body.id_token;
  } finally {
    callback.close();
  }
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  try {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return (await response.json()) as Record<string, unknown>;
  } catch (error) {
    throw new MlsecError('SIGNING_FAILED', `cannot read ${url}: ${(error as Error).message}`);
  }
}

/** A one-shot loopback server that takes the authorization code for our `state` and nothing else. */
async function listenForCallback(
  state: string,
  timeoutMs: number,
): Promise<{ port: number; code: Promise<string>; close: () => void }> {
  let settle!: (code: string) => void;
  let reject!: (error: Error) => void;
  const code = new Promise<string>((resolve, fail) => {
    settle = resolve;
    reject = fail;
  });
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname !== '/auth/callback' || url.searchParams.get('state') !== state) {
      response.writeHead(404).end();
      return;
    }
    const got = url.searchParams.get('code');
    response.writeHead(got ? 200 : 400, { 'content-type': 'text/plain' });
    response.end(got ? 'mlsec: signed in; you can close this window.\n' : 'mlsec: sign-in failed.\n');
    if (got) settle(got);
    else
      reject(
        new MlsecError('SIGNING_FAILED', `sign-in failed: ${url.searchParams.get('error') ?? 'no code'}`),
      );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const timer = setTimeout(
    () => reject(new MlsecError('SIGNING_FAILED', 'sign-in timed out waiting for the browser')),
    timeoutMs,
  );
  return {
    port: (server.address() as AddressInfo).port,
    code,
    close: () => {
      clearTimeout(timer);
      server.close();
    },
  };
}
