import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTimeout } from '../../src/cli/registry-flags.js';
import { formatDuration } from '../../src/core/registry/duration.js';
import { mlsec, tempDir } from '../helpers/cli.js';
import { fakeServer, trickle } from '../io/registry/fake-registry.js';

describe('--timeout', () => {
  it('reads durations, and refuses what is not one', () => {
    expect(['90s', '30m', '1h30m', '500ms', '2', '1.5s', '1h'].map(parseTimeout)).toEqual([
      90_000, 1_800_000, 5_400_000, 500, 2000, 1500, 3_600_000,
    ]);
    expect(parseTimeout(undefined)).toBeUndefined();
    for (const bad of ['0', '0s', '-1s', '1d', 'soon', '', '1h 30m']) {
      expect(() => parseTimeout(bad)).toThrow(
        /^--timeout ".*" is not a duration \(e\.g\. 90s, 30m, 1h30m\)$/,
      );
    }
    expect([250, 1000, 1500, 90_000, 3_600_000, 3_723_000].map(formatDuration)).toEqual([
      '250ms',
      '1s',
      '1.5s',
      '1m30s',
      '1h',
      '1h2m3s',
    ]);
  });

  it('pull gives up on a registry that trickles its manifest, at the deadline, and leaves nothing', async () => {
    const server = await fakeServer((_req, res, url) => {
      if (!url.pathname.includes('/manifests/')) return false;
      trickle(res, 100, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      return true;
    });
    const dir = await tempDir();
    const started = Date.now();
    const result = await mlsec(
      [
        'pull',
        `${server.host}/m/x:v1`,
        'out/model',
        '--plain-http',
        '--cache-dir',
        'cache',
        '--timeout',
        '1s',
      ],
      { cwd: dir, env: { DOCKER_CONFIG: join(dir, 'none') } },
    );
    expect(result).toMatchObject({
      exitCode: 2,
      stdout: '',
      stderr: `mlsec: ${server.host}: GET /v2/m/x/manifests/v1 did not finish before the deadline of 1s (--timeout)`,
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await readdir(dir)).sort()).toEqual(['cache']);
  });

  it('a bad --timeout is a usage error before anything is sent', async () => {
    const dir = await tempDir();
    const result = await mlsec(['pull', '127.0.0.1:1/m/x:v1', 'out', '--timeout', 'soon'], { cwd: dir });
    expect(result).toMatchObject({
      exitCode: 2,
      stderr: 'mlsec: --timeout "soon" is not a duration (e.g. 90s, 30m, 1h30m)',
    });
  });
});
