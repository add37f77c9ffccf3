import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { mlsec, tempDir } from '../helpers/cli.js';
import { describeWithRegistry, registries, uniqueRepo } from '../helpers/registry.js';

interface Blob {
  name: string;
  status: string;
  streamed?: boolean;
}

const statuses = (stdout: string) =>
  (JSON.parse(stdout).blobs as Blob[]).map((b) => [b.name, b.status, b.streamed === true]);

describeWithRegistry('mlsec push streams new large files while hashing them', registries.plain, () => {
  const host = registries.plain!;

  it('streams a new large file on the first push; a second push, to the tag or a new one, uploads nothing', async () => {
    const dir = await tempDir();
    const root = join(dir, 'model');
    await mkdir(root, { recursive: true });
    // Over the 1 MiB streaming threshold and not a pickle: raw weights the scan passes.
    await writeFile(join(root, 'weights.bin'), Buffer.alloc(1_500_000, 3));
    await writeFile(join(root, 'config.json'), '{"architectures": ["Tiny"]}\n');
    const repo = `${host}/${uniqueRepo('stream')}`;
    const push = (tag: string) =>
      mlsec(['push', 'model', `${repo}:${tag}`, '--plain-http', '--cache-dir', 'c', '--format', 'json'], {
        cwd: dir,
      });

    const first = await push('v1');
    expect(first.stderr).toBe('');
    expect(first.exitCode).toBe(0);
    expect(statuses(first.stdout)).toEqual([
      ['weights.bin', 'uploaded', true],
      ['config.json', 'uploaded', false],
      ['config', 'uploaded', false],
    ]);
    const weights = (JSON.parse(first.stdout).blobs as (Blob & { digest: string })[])[0]!;
    const expected = createHash('sha256').update(Buffer.alloc(1_500_000, 3)).digest('hex');
    expect(weights.digest).toBe(`sha256:${expected}`);
    const hashed = JSON.parse((await mlsec(['hash', '--manifest', 'model'], { cwd: dir })).stdout);
    expect(hashed.resources).toContainEqual({ name: 'weights.bin', algorithm: 'sha256', digest: expected });
    const blob = await fetch(`http://${host}/v2/${repo.slice(host.length + 1)}/blobs/${weights.digest}`, {
      method: 'HEAD',
    });
    expect(blob.status).toBe(200);

    const again = await push('v1');
    expect(again.exitCode).toBe(0);
    expect(statuses(again.stdout)).toEqual([
      ['weights.bin', 'exists', false],
      ['config.json', 'exists', false],
      ['config', 'exists', false],
    ]);
    const newTag = await push('v2');
    expect(newTag.exitCode).toBe(0);
    expect(statuses(newTag.stdout).map(([, status, streamed]) => [status, streamed])).toEqual([
      ['exists', false],
      ['exists', false],
      ['exists', false],
    ]);
  });
});
