/**
 * The hashing worker of `HashPool`, as source text run with `new Worker(hashWorkerSource, { eval: true })`.
 *
 * Why a string rather than a worker file: a file has to be found at run time next to the module that
 * spawns it. From dist/ that is `new URL('./hash-worker.js', import.meta.url)`, but under vitest the
 * pool runs from src/*.ts, and plain Node 20 cannot start a worker from a `.ts` file; falling back to
 * dist/ would quietly run a stale build, and a bundler or single-file executable would lose the file.
 * Inline source has nothing to resolve, so the same code runs from dist/, from vitest and from a bundle.
 * The price is that this text is neither type-checked nor linted: it is kept small, plain CommonJS
 * (what an eval worker runs), and test/io/hash-pool.test.ts exercises every path of it.
 *
 * Protocol. workerData: `{ readSize, progressStep }`. In, one job at a time:
 * `{ id, path, start, end, algorithm, endIsEof }` (algorithm as node:crypto names it). Out:
 * `{ id, type: 'progress', bytes }` (bytes of this job so far) every `progressStep` bytes, then
 * `{ id, type: 'done', hex, size }` or `{ id, type: 'error', message, code, errno, syscall, path }`.
 * A failed job leaves the worker ready for the next one.
 *
 * Reads are double-buffered: the next `readSize` read is in flight while the current one is hashed,
 * so reading from disk and hashing overlap (memory: 2 × readSize per worker).
 */
export const hashWorkerSource = `'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { open } = require('node:fs/promises');
const { createHash } = require('node:crypto');
const { readSize, progressStep } = workerData;
const buffers = [Buffer.allocUnsafe(readSize), Buffer.allocUnsafe(readSize)];

function fail(code, message, path) {
  return Object.assign(new Error(message), { code, path });
}

async function run(job) {
  const handle = await open(job.path, 'r');
  try {
    const hash = createHash(job.algorithm);
    const readAt = (index, position) =>
      handle.read(buffers[index], 0, Math.min(readSize, job.end - position), position);
    let position = job.start;
    let reported = position;
    let index = 0;
    let pending = position < job.end ? readAt(index, position) : undefined;
    while (pending !== undefined) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) {
        throw fail('ERR_SHORT_READ', job.path + ': file ends at byte ' + position + ', before ' + job.end, job.path);
      }
      const buffer = buffers[index];
      position += bytesRead;
      index ^= 1;
      pending = position < job.end ? readAt(index, position) : undefined;
      hash.update(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead));
      if (position - reported >= progressStep) {
        reported = position;
        parentPort.postMessage({ id: job.id, type: 'progress', bytes: position - job.start });
      }
    }
    if (job.endIsEof && (await handle.read(buffers[0], 0, 1, job.end)).bytesRead > 0) {
      throw fail('ERR_SIZE_CHANGED', job.path + ': file is longer than ' + job.end + ' bytes', job.path);
    }
    return { hex: hash.digest('hex'), size: job.end - job.start };
  } finally {
    await handle.close();
  }
}

parentPort.on('message', (job) => {
  run(job).then(
    (result) => parentPort.postMessage({ id: job.id, type: 'done', hex: result.hex, size: result.size }),
    (error) => {
      const e = error instanceof Error ? error : new Error(String(error));
      parentPort.postMessage({
        id: job.id, type: 'error', message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path,
      });
    },
  );
});
`;
