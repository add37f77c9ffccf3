import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseChallenge } from '../../../src/io/registry/auth.js';
import { dockerCredential, normalizeAuthKey } from '../../../src/io/registry/credentials.js';
import { tempDir } from '../../helpers/cli.js';

describe('registry auth', () => {
  it('parses Bearer and Basic challenges, quoted commas included', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"',
      ),
    ).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.example/token', service: 'reg', scope: 'repository:a/b:pull,push' },
    });
    expect(parseChallenge('Basic realm="x"')).toEqual({ scheme: 'basic', params: { realm: 'x' } });
    expect(parseChallenge('Negotiate abc')).toBeUndefined();
  });

  it('reads docker config auths under legacy keys, and identity tokens', async () => {
    expect(normalizeAuthKey('https://index.docker.io/v1/')).toBe('index.docker.io');
    const dir = await tempDir();
    await mkdir(join(dir, 'd'));
    await writeFile(
      join(dir, 'd', 'config.json'),
      JSON.stringify({
        auths: {
          'https://r.example:5000/v2/': { auth: Buffer.from('me:pa:ss').toString('base64') },
          'other.example': { identitytoken: 'refresh-me' },
        },
      }),
    );
    const env = { DOCKER_CONFIG: join(dir, 'd') };
    expect(await dockerCredential('r.example:5000', env)).toEqual({
      kind: 'basic',
      username: 'me',
      password: 'pa:ss',
    });
    expect(await dockerCredential('other.example', env)).toEqual({
      kind: 'identity-token',
      token: 'refresh-me',
    });
    expect(await dockerCredential('none.example', env)).toBeUndefined();
    expect(await dockerCredential('x', { DOCKER_CONFIG: join(dir, 'missing') })).toBeUndefined();
  });
});
