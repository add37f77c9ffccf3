import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetch } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { obtainIdentityToken } from '../../src/io/identity-token.js';

/** A fake OIDC provider on loopback: discovery, an authorize page that redirects at once, a token endpoint. */
async function fakeProvider() {
  const seen: Record<string, string>[] = [];
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (url.pathname === '/.well-known/openid-configuration') {
      response.end(
        JSON.stringify({ authorization_endpoint: `${base}/authorize`, token_endpoint: `${base}/token` }),
      );
    } else if (url.pathname === '/authorize') {
      seen.push(Object.fromEntries(url.searchParams));
      const back = new URL(url.searchParams.get('redirect_uri')!);
      back.searchParams.set('code', 'the-code');
      back.searchParams.set('state', url.searchParams.get('state')!);
      response.writeHead(302, { location: back.href.replace('localhost', '127.0.0.1') }).end();
    } else if (url.pathname === '/token') {
      let body = '';
      request.on('data', (c) => {
        body += c;
      });
      request.on('end', () => {
        seen.push(Object.fromEntries(new URLSearchParams(body)));
        response.end(JSON.stringify({ id_token: 'the.id.token' }));
      });
    } else if (url.pathname === '/actions') {
      seen.push({
        authorization: String(request.headers.authorization),
        audience: url.searchParams.get('audience')!,
      });
      response.end(JSON.stringify({ value: 'actions.id.token' }));
    } else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const base = { interactive: false, clientId: 'sigstore', openBrowser: async () => {}, notify: () => {} };

describe('obtainIdentityToken', () => {
  it('takes the flag, then SIGSTORE_ID_TOKEN', async () => {
    const env = { SIGSTORE_ID_TOKEN: 'from-env' };
    expect(await obtainIdentityToken({ ...base, flag: 'from-flag', env, oidcIssuer: 'x' })).toBe('from-flag');
    expect(await obtainIdentityToken({ ...base, env, oidcIssuer: 'x' })).toBe('from-env');
  });

  it("asks GitHub Actions' token service for a sigstore-audience token", async () => {
    const provider = await fakeProvider();
    const env = {
      ACTIONS_ID_TOKEN_REQUEST_URL: `${provider.url}/actions?api-version=2.0`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runner',
    };
    expect(await obtainIdentityToken({ ...base, env, oidcIssuer: 'x' })).toBe('actions.id.token');
    expect(provider.seen).toEqual([{ authorization: 'Bearer runner', audience: 'sigstore' }]);
  });

  it('signs in through the browser with PKCE on a terminal', async () => {
    const provider = await fakeProvider();
    const messages: string[] = [];
    const token = await obtainIdentityToken({
      ...base,
      interactive: true,
      env: {},
      oidcIssuer: provider.url,
      notify: (m) => messages.push(m),
      // The "browser" follows the provider's redirect back to mlsec's loopback callback.
      openBrowser: async (url) => {
        await fetch(url);
      },
    });
    expect(token).toBe('the.id.token');
    const [authorize, exchange] = provider.seen;
    expect(authorize).toMatchObject({
      response_type: 'code',
      client_id: 'sigstore',
      code_challenge_method: 'S256',
      scope: 'openid email',
    });
    expect(exchange).toMatchObject({
      grant_type: 'authorization_code',
      code: 'the-code',
      client_id: 'sigstore',
    });
    const { createHash } = await import('node:crypto');
    expect(createHash('sha256').update(exchange!.code_verifier!).digest('base64url')).toBe(
      authorize!.code_challenge,
    );
    expect(messages[0]).toMatch(
      /^Sign in to get a signing certificate: http:\/\/127\.0\.0\.1:\d+\/authorize\?/,
    );
  });
});
