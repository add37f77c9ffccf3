import type { Dispatcher } from 'undici';
import { MlsecError } from '../../core/errors.js';
import { describeFailure, header, readLimited, send } from './http.js';

/** What may be sent to a registry: a password, an OAuth2 refresh token, or a ready access token. */
export type Credential =
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'identity-token'; username?: string; token: string }
  | { kind: 'registry-token'; token: string };

export interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

/** Parses `WWW-Authenticate` (RFC 7235): `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`. */
export function parseChallenge(value: string | undefined): Challenge | undefined {
  if (!value) return undefined;
  const match = /^\s*(\w+)\s*(.*)$/s.exec(value);
  if (!match) return undefined;
  const scheme = match[1]!.toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const pattern = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/g;
  for (const part of match[2]!.matchAll(pattern)) {
    params[part[1]!.toLowerCase()] = part[2] !== undefined ? part[2].replace(/\\(.)/g, '$1') : part[3]!;
  }
  return { scheme, params };
}

export function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Token responses are small; anything bigger is not a token server. */
const maxTokenResponse = 128 << 10;

/**
 * Bearer tokens per scope set, fetched from the challenge's realm: anonymously, with Basic
 * credentials, or with a refresh token (OAuth2 POST). A token is refetched when it expires or a
 * request with it is refused.
 */
export class TokenCache {
  readonly #tokens = new Map<string, CachedToken>();

  /**
   * `registryOrigin` is the registry's own origin; `plainHttp` allows an HTTP realm there, and on
   * other origins for anonymous tokens; `insecureRealm` sends credentials to an HTTP realm anywhere.
   */
  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly access: { registryOrigin: string; plainHttp: boolean; insecureRealm?: boolean },
    private readonly now: () => number = Date.now,
  ) {}

  cached(scopes: readonly string[]): string | undefined {
    const hit = this.#tokens.get(scopeKey(scopes));
    return hit && hit.expiresAt > this.now() ? hit.token : undefined;
  }

  /** `signalFor` gives the token request its deadline. */
  async fetch(
    challenge: Challenge,
    scopes: readonly string[],
    credential: Credential | undefined,
    signalFor?: (method: string, url: URL) => AbortSignal,
  ): Promise<string> {
    if (credential?.kind === 'registry-token') return credential.token;
    const realm = challenge.params.realm;
    if (!realm) throw new MlsecError('REGISTRY_AUTH', 'the registry asked for a token but named no realm');
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new MlsecError('REGISTRY_AUTH', `bad token realm ${JSON.stringify(realm.slice(0, 200))}`);
    }
    this.#checkRealm(url, credential);
    const service = challenge.params.service;
    let response: Awaited<ReturnType<typeof send>>;
    if (credential?.kind === 'identity-token') {
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: credential.token,
        client_id: 'mlsec',
        ...(service ? { service } : {}),
      });
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      response = await send(this.dispatcher, {
        method: 'POST',
        url,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: () => form.toString(),
        ...(signalFor ? { signal: signalFor('POST', url) } : {}),
      });
    } else {
      if (service) url.searchParams.set('service', service);
      for (const scope of scopes) url.searchParams.append('scope', scope);
      const headers: Record<string, string> =
        credential?.kind === 'basic'
          ? { authorization: basicHeader(credential.username, credential.password) }
          : {};
      response = await send(this.dispatcher, {
        method: 'GET',
        url,
        headers,
        ...(signalFor ? { signal: signalFor('GET', url) } : {}),
      });
    }
    if (response.status !== 200) {
      throw new MlsecError(
        'REGISTRY_AUTH',
        `token server ${url.origin} refused ${credential ? 'the credentials' : 'an anonymous token'}: ${await describeFailure(response)}`,
      );
    }
    const body = await readLimited(response, maxTokenResponse, 'token response');
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(new TextDecoder().decode(body));
    } catch {
      throw new MlsecError('REGISTRY_AUTH', `token server ${url.origin} answered something that is not JSON`);
    }
    const token = typeof parsed.access_token === 'string' ? parsed.access_token : parsed.token;
    if (typeof token !== 'string' || token.length === 0) {
      throw new MlsecError('REGISTRY_AUTH', `token server ${url.origin} answered no token`);
    }
    const lifetime = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 60;
    // Refresh a little early: a token that expires in flight fails a long upload.
    this.#tokens.set(scopeKey(scopes), { token, expiresAt: this.now() + Math.max(lifetime - 10, 1) * 1000 });
    return token;
  }

  /**
   * The registry names the realm, so it must not be able to steer a password or refresh token to a
   * host that reads it off the wire: credentials go over HTTPS, or over HTTP only to the registry's
   * own origin with --plain-http (where they go anyway), unless --allow-insecure-token-realm.
   */
  #checkRealm(url: URL, credential: Credential | undefined): void {
    if (url.protocol === 'https:' || (url.protocol === 'http:' && this.access.insecureRealm)) return;
    if (url.protocol !== 'http:') {
      throw new MlsecError('REGISTRY_AUTH', `token realm ${quoteUrl(url)} is not an HTTP(S) address`);
    }
    if (!this.access.plainHttp) {
      throw new MlsecError(
        'REGISTRY_AUTH',
        `token realm ${url.origin} is not HTTPS (--allow-insecure-token-realm allows it)`,
      );
    }
    if (credential && url.origin !== this.access.registryOrigin) {
      throw new MlsecError(
        'REGISTRY_AUTH',
        `token realm ${url.origin} is plain HTTP on another origin than the registry; credentials go there only over HTTPS (--allow-insecure-token-realm sends them anyway)`,
      );
    }
  }

  forget(scopes: readonly string[]): void {
    this.#tokens.delete(scopeKey(scopes));
  }
}

function quoteUrl(url: URL): string {
  return JSON.stringify(url.href.length > 100 ? `${url.href.slice(0, 100)}…` : url.href);
}

function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(' ');
}

/** The challenge of a 401 response. */
export function challengeOf(response: { headers: Record<string, string | string[] | undefined> }) {
  return parseChallenge(header(response, 'www-authenticate'));
}
