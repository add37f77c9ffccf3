import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { DigestAlgorithm } from '../../src/core/hash/digest.js';
import {
  HashPool,
  type HashPoolOptions,
  hashFiles,
  POOL_CLOSED,
  SHORT_READ,
  SIZE_CHANGED,
} from '../../src/io/hash-pool.js';
import { root, tempDir } from '../helpers/cli.js';

const MiB = 1 << 20;
const nodeName: Record<DigestAlgorithm, string> = {
  sha256: 'sha256',
  sha384: 'sha384',
  sha512: 'sha512',
  blake2b: 'blake2b512',
};
const oneShot = (bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256') =>
  createHash(nodeName[algorithm]).update(bytes).digest('hex');

function pool(options: HashPoolOptions = {}): HashPool {
  const created = new HashPool(options);
  onTestFinished(() => created.close());
  return created;
}

async function file(dir: string, name: string, size: number): Promise<{ path: string; bytes: Buffer }> {
  const path = join(dir, name);
  const bytes = randomBytes(size);
  await writeFile(path, bytes);
  return { path, bytes };
}

describe('HashPool', () => {
  it('matches one-shot digests for 0 B, 1 B and 3 MiB + 7, for every algorithm', async () => {
    const dir = await tempDir();
    const hashes = pool({ threads: 2 });
    const files = [
      await file(dir, 'empty', 0),
      await file(dir, 'one', 1),
      await file(dir, 'big', 3 * MiB + 7),
    ];
    for (const algorithm of ['sha256', 'sha384', 'sha512', 'blake2b'] as const) {
      for (const { path, bytes } of files) {
        const result = await hashes.hash({ path, start: 0, end: bytes.length }, algorithm);
        expect(result).toEqual({ hex: oneShot(bytes, algorithm), size: bytes.length });
      }
    }
  });

  it('hashes small jobs on the calling thread and starts workers only for big ones, one per job', async () => {
    const dir = await tempDir();
    const hashes = pool({ threads: 4 });
    const small = await file(dir, 'small', MiB - 1);
    await hashes.hash({ path: small.path, start: 0, end: small.bytes.length }, 'sha256');
    expect(hashes.workers).toBe(0);
    const big = await file(dir, 'big', MiB);
    const result = await hashes.hash({ path: big.path, start: 0, end: MiB }, 'sha256');
    expect(result.hex).toBe(oneShot(big.bytes));
    expect(hashes.workers).toBe(1);
    await hashes.close();
    expect(hashes.workers).toBe(0);
  });

  it('hashes ranges of a 40 MiB file like one-shot digests of the slices', async () => {
    const dir = await tempDir();
    const { path, bytes } = await file(dir, 'model.bin', 40 * MiB);
    // readSize not dividing the ranges exercises partial and double-buffered reads.
    const hashes = pool({ threads: 2, readSize: MiB + 3, progressStep: 4 * MiB });
    const cuts = [0, 7, MiB - 1, 3 * MiB, 3 * MiB + 1, 17 * MiB + 5, 17 * MiB + 5, 30 * MiB, 40 * MiB];
    const ranges = cuts.slice(1).map((end, i) => ({ start: cuts[i]!, end }));
    const progress: number[] = [];
    const results = await Promise.all(
      ranges.map(({ start, end }) =>
        hashes.hash({ path, start, end }, 'blake2b', (done) => {
          if (start === 17 * MiB + 5) progress.push(done);
        }),
      ),
    );
    results.forEach((result, i) => {
      const { start, end } = ranges[i]!;
      expect(result).toEqual({ hex: oneShot(bytes.subarray(start, end), 'blake2b'), size: end - start });
    });
    expect(progress.length).toBeGreaterThan(0);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.every((done) => done > 0 && done < 30 * MiB - (17 * MiB + 5))).toBe(true);
  });

  it('hashFiles returns results in input order with 2 threads and reports progress', async () => {
    const dir = await tempDir();
    const sizes = [9 * MiB, 0, 5, 2 * MiB + 1, 300_000, 6 * MiB, 1, MiB];
    const files = await Promise.all(sizes.map((size, i) => file(dir, `f${i}`, size)));
    const hashes = pool({ threads: 2 });
    const progress: number[] = [];
    const results = await hashFiles(
      hashes,
      files.map(({ path, bytes }) => ({ path, size: bytes.length })),
      'sha256',
      (bytes) => progress.push(bytes),
    );
    expect(results).toEqual(files.map(({ bytes }) => ({ hex: oneShot(bytes), size: bytes.length })));
    expect(progress.at(-1)).toBe(sizes.reduce((a, b) => a + b, 0));
    expect(hashes.workers).toBeLessThanOrEqual(2);
    expect(await hashFiles(hashes, [], 'sha256')).toEqual([]);
  });

  it('rejects a missing file with ENOENT and keeps serving, on either thread', async () => {
    const dir = await tempDir();
    const hashes = pool({ threads: 1 });
    const missing = join(dir, 'missing');
    for (const end of [10, 4 * MiB]) {
      await expect(hashes.hash({ path: missing, start: 0, end }, 'sha256')).rejects.toMatchObject({
        code: 'ENOENT',
        syscall: 'open',
        path: missing,
        message: expect.stringContaining('ENOENT'),
      });
    }
    expect(hashes.workers).toBe(1);
    const { path, bytes } = await file(dir, 'next', 4 * MiB);
    expect((await hashes.hash({ path, start: 0, end: bytes.length }, 'sha256')).hex).toBe(oneShot(bytes));
    expect(hashes.workers).toBe(1);
  });

  it('rejects a directory, a short file and a file longer than listed with their codes', async () => {
    const dir = await tempDir();
    const hashes = pool({ threads: 1 });
    const sub = join(dir, 'sub');
    await mkdir(sub);
    const { path } = await file(dir, 'short', 2 * MiB);
    for (const end of [10, 4 * MiB]) {
      await expect(hashes.hash({ path: sub, start: 0, end }, 'sha256')).rejects.toMatchObject({
        code: 'EISDIR',
      });
      await expect(
        hashes.hash({ path, start: 2 * MiB - 5, end: 2 * MiB - 5 + end }, 'sha256'),
      ).rejects.toThrow(expect.objectContaining({ code: SHORT_READ, path }));
      await expect(hashes.hash({ path, start: 0, end, endIsEof: true }, 'sha256')).rejects.toMatchObject({
        code: end < 2 * MiB ? SIZE_CHANGED : SHORT_READ,
      });
    }
    await appendFile(path, 'x');
    await expect(hashFiles(hashes, [{ path, size: 2 * MiB }], 'sha256')).rejects.toMatchObject({
      code: SIZE_CHANGED,
    });
    await expect(hashes.hash({ path, start: 5, end: 4 }, 'sha256')).rejects.toMatchObject({
      code: 'ERR_OUT_OF_RANGE',
    });
  });

  it('fails on a FIFO swapped in for a listed file instead of waiting for a writer, on either thread', async () => {
    const dir = await tempDir();
    const fifo = join(dir, 'pipe');
    await promisify(execFile)('mkfifo', [fifo]);
    const hashes = pool({ threads: 1 });
    for (const end of [10, 4 * MiB]) {
      // Opening would wait for a writer without O_NONBLOCK; the positioned read then fails at once.
      await expect(hashes.hash({ path: fifo, start: 0, end }, 'sha256')).rejects.toMatchObject({
        code: 'ESPIPE',
        syscall: 'read',
      });
    }
  });

  it.skipIf(process.getuid?.() === 0)('rejects an unreadable file with EACCES', async () => {
    const dir = await tempDir();
    const hashes = pool({ threads: 1 });
    const { path } = await file(dir, 'secret', 2 * MiB);
    const { chmod } = await import('node:fs/promises');
    await chmod(path, 0o000);
    for (const end of [10, 2 * MiB]) {
      await expect(hashes.hash({ path, start: 0, end }, 'sha256')).rejects.toMatchObject({ code: 'EACCES' });
    }
  });

  it('close() rejects queued and running jobs and later calls', async () => {
    const dir = await tempDir();
    const { path } = await file(dir, 'big', 8 * MiB);
    const hashes = pool({ threads: 1 });
    const jobs = [1, 2, 3].map(() => hashes.hash({ path, start: 0, end: 8 * MiB }, 'sha512'));
    const settled = Promise.allSettled(jobs);
    await hashes.close();
    const outcomes = await settled;
    expect(outcomes.filter((outcome) => outcome.status === 'rejected').length).toBeGreaterThanOrEqual(2);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') expect(outcome.reason).toMatchObject({ code: POOL_CLOSED });
    }
    await expect(hashes.hash({ path, start: 0, end: 1 }, 'sha256')).rejects.toMatchObject({
      code: POOL_CLOSED,
    });
    expect(hashes.workers).toBe(0);
    await hashes.close();
  });

  // In a child process, so a worker left running would show as a hang. Runs the build (pretest makes it).
  const built = join(root, 'dist', 'io', 'hash-pool.js');
  it.skipIf(!existsSync(built))('lets the process exit after close(), and with idle workers', async () => {
    const dir = await tempDir();
    const { path, bytes } = await file(dir, 'big', 3 * MiB);
    const script = (close: boolean) => `
      import { HashPool } from ${JSON.stringify(pathToFileURL(built).href)};
      const pool = new HashPool({ threads: 2 });
      const jobs = [0, 1].map(() => pool.hash({ path: ${JSON.stringify(path)}, start: 0, end: ${bytes.length} }, 'sha256'));
      const results = await Promise.all(jobs);
      ${close ? 'await pool.close();' : ''}
      process.stdout.write(results.map((r) => r.hex).join(' ') + ' ' + pool.workers);`;
    const run = promisify(execFile);
    for (const close of [true, false]) {
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script(close)], {
        timeout: 20_000,
      });
      const hex = oneShot(bytes);
      expect(stdout).toBe(`${hex} ${hex} ${close ? 0 : 2}`);
    }
  });
});
