// A Bearer token server for the test registry (distribution's `auth.token`), on 127.0.0.1 only.
// GET /token?service=&scope= (anonymous: pull only; Basic user/password: pull and push) and
// POST /token grant_type=refresh_token|password (OAuth2 form). Tokens are ES256 JWTs whose x5c
// header carries the certificate the registry trusts. Settings come from TOKEN_* variables.
import { createPrivateKey, randomBytes, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const env = process.env;
const key = createPrivateKey(readFileSync(env.TOKEN_KEY, 'utf8'));
const certificate = readFileSync(env.TOKEN_CERT, 'utf8')
  .replace(/-----(BEGIN|END) CERTIFICATE-----/g, '')
  .replace(/\s+/g, '');
const lifetime = Number(env.TOKEN_LIFETIME ?? 300);

const base64url = (value) => Buffer.from(value).toString('base64url');

function jwt(subject, access, audience) {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'ES256', typ: 'JWT', x5c: [certificate] };
  const claims = {
    iss: 'mlsec-test-issuer',
    sub: subject,
    aud: audience,
    exp: now + lifetime,
    nbf: now - 10,
    iat: now,
    jti: randomBytes(8).toString('hex'),
    access,
  };
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

function grants(scopes, authenticated) {
  return scopes.flatMap((scope) => {
    const [type, name, actions] = scope.split(':');
    if (type !== 'repository' || !name || !actions) return [];
    const allowed = actions.split(',').filter((a) => a === 'pull' || (authenticated && a === 'push'));
    return [{ type, name, actions: allowed }];
  });
}

function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname !== '/token') return reply(res, 404, { error: 'not found' });
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let user;
    let scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' '));
    let service = url.searchParams.get('service');
    if (req.method === 'POST') {
      const form = new URLSearchParams(Buffer.concat(chunks).toString());
      scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
      service = form.get('service');
      const grant = form.get('grant_type');
      if (grant === 'refresh_token' && form.get('refresh_token') === env.TOKEN_REFRESH) user = env.TOKEN_USER;
      else if (
        grant === 'password' &&
        form.get('username') === env.TOKEN_USER &&
        form.get('password') === env.TOKEN_PASSWORD
      )
        user = env.TOKEN_USER;
      else return reply(res, 401, { error: 'invalid_grant' });
      const token = jwt(user, grants(scopes, true), service);
      return reply(res, 200, { access_token: token, expires_in: lifetime, refresh_token: env.TOKEN_REFRESH });
    }
    const authorization = req.headers.authorization ?? '';
    if (authorization.startsWith('Basic ')) {
      const [name, ...rest] = Buffer.from(authorization.slice(6), 'base64').toString().split(':');
      if (name !== env.TOKEN_USER || rest.join(':') !== env.TOKEN_PASSWORD) {
        res.setHeader('www-authenticate', 'Basic realm="mlsec-test-tokens"');
        return reply(res, 401, { error: 'bad credentials' });
      }
      user = name;
    }
    const token = jwt(user ?? '', grants(scopes, user !== undefined), service);
    reply(res, 200, {
      token,
      access_token: token,
      expires_in: lifetime,
      issued_at: new Date().toISOString(),
    });
  });
});

server.listen(Number(env.TOKEN_PORT), '127.0.0.1', () =>
  process.stdout.write(`listening on ${server.address().port}\n`),
);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
