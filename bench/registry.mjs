#!/usr/bin/env node
// `npm run bench` (registry part): `mlsec push` and `mlsec pull` of a generated 1 GiB model against
// a real registry (Debian's docker-registry on 127.0.0.1, started here), beside curl uploading the
// same blob in one monolithic PUT in the same run. Median of MLSEC_BENCH_RUNS runs, each into a
// fresh repository (nothing deduplicated) and a fresh cache; peak RSS from /usr/bin/time.
// Targets (issue 7): push within 1.2x of curl's time; peak RSS under 200 MiB.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = join(root, '.mlsec-bench');
const runs = Number.parseInt(process.env.MLSEC_BENCH_RUNS ?? '3', 10) || 3;
const bin = join(root, 'bin', 'mlsec.js');
const MiB = 2 ** 20;
const size = 1024 * MiB;
const hasTime = existsSync('/usr/bin/time');

const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
if (!has('docker-registry') || !has('curl')) {
  process.stdout.write(
    '\nbench: registry skipped (needs docker-registry and curl: apt-get install docker-registry curl)\n',
  );
  process.exit(0);
}

/** The model: one 1 GiB pseudo-random weights file (incompressible, like real weights) and a config. */
const model = join(benchDir, 'registry-1g-model');
const weights = join(model, 'model.safetensors');
if (!existsSync(weights)) {
  process.stdout.write('\nbench: generating a 1 GiB model in .mlsec-bench/ (cached)\n');
  mkdirSync(model, { recursive: true });
  const block = Buffer.alloc(MiB);
  let x = 12345;
  for (let i = 0; i < block.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    block[i] = x & 0xff;
  }
  // A valid safetensors file (one U8 tensor), so the scan reads its header and skips the data.
  const header = Buffer.from(JSON.stringify({ w: { dtype: 'U8', shape: [size], data_offsets: [0, size] } }));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  const fd = openSync(`${weights}.partial`, 'w');
  writeSync(fd, Buffer.concat([length, header]));
  for (let n = 0; n < size / MiB; n++) {
    block.writeUInt32LE(n, 0);
    writeSync(fd, block);
  }
  closeSync(fd);
  execFileSync('mv', [`${weights}.partial`, weights]);
  writeFileSync(join(model, 'config.json'), '{"architectures": ["Bench"]}\n');
}
const digestFile = join(benchDir, 'registry-1g-model.sha256');
if (!existsSync(digestFile)) {
  const hash = createHash('sha256');
  const fd = openSync(weights, 'r');
  const buffer = Buffer.alloc(4 * MiB);
  for (;;) {
    const n = readSync(fd, buffer);
    if (n === 0) break;
    hash.update(buffer.subarray(0, n));
  }
  closeSync(fd);
  writeFileSync(digestFile, hash.digest('hex'));
}
const digest = `sha256:${readFileSync(digestFile, 'utf8').trim()}`;

const state = mkdtempSync(join(tmpdir(), 'mlsec-bench-registry-'));
const work = mkdtempSync(join(tmpdir(), 'mlsec-bench-work-'));
const started = execFileSync('bash', [join(root, 'test', 'registry', 'start.sh'), 'plain', state], {
  encoding: 'utf8',
});
const host = /MLSEC_TEST_REGISTRY=(\S+)/.exec(started)[1];
const stop = () => {
  spawnSync('bash', [join(root, 'test', 'registry', 'stop.sh'), state], { stdio: 'inherit' });
  rmSync(work, { recursive: true, force: true });
};
process.on('exit', stop);

function timed(command, args) {
  const wrapped = hasTime ? ['/usr/bin/time', ['-f', '%M', command, ...args]] : [command, args];
  const start = performance.now();
  const child = spawnSync(wrapped[0], wrapped[1], { stdio: ['ignore', 'pipe', 'pipe'], cwd: work });
  const seconds = (performance.now() - start) / 1000;
  if (child.status !== 0) {
    process.stderr.write(`bench: ${command} ${args.join(' ')} failed: ${child.stderr}\n`);
    process.exit(1);
  }
  const rssKiB = hasTime ? Number(child.stderr.toString().trim().split('\n').at(-1)) : Number.NaN;
  return { seconds, rssMiB: rssKiB / 1024, stdout: child.stdout.toString() };
}

/** curl: open an upload session, then one streaming PUT of the whole file (`-T`, not buffered). */
function curlUpload(repo) {
  const head = execFileSync(
    'curl',
    ['-s', '-D', '-', '-o', '/dev/null', '-X', 'POST', `http://${host}/v2/${repo}/blobs/uploads/`],
    {
      encoding: 'utf8',
    },
  );
  const location = /^location:\s*(\S+)/im.exec(head)[1];
  const url = new URL(location, `http://${host}`);
  url.searchParams.set('digest', digest);
  const result = timed('curl', [
    '-s',
    '-f',
    '-o',
    '/dev/null',
    '-T',
    weights,
    '-H',
    'Content-Type: application/octet-stream',
    url.toString(),
  ]);
  return result;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const results = { curl: [], push: [], pull: [], pushRss: [], pullRss: [] };
process.stdout.write(
  `\nmlsec push/pull of a 1 GiB model against docker-registry on ${host} (median of ${runs})\n`,
);
for (let run = 0; run < runs; run++) {
  results.curl.push(curlUpload(`bench/curl-${run}`).seconds);
  const cache = join(work, `cache-${run}`);
  const push = timed('node', [
    bin,
    'push',
    model,
    `${host}/bench/mlsec-${run}:v1`,
    '--plain-http',
    '--cache-dir',
    cache,
  ]);
  results.push.push(push.seconds);
  results.pushRss.push(push.rssMiB);
  rmSync(cache, { recursive: true, force: true });
  const pull = timed('node', [
    bin,
    'pull',
    `${host}/bench/mlsec-${run}:v1`,
    join(work, `out-${run}`),
    '--plain-http',
    '--cache-dir',
    cache,
  ]);
  results.pull.push(pull.seconds);
  results.pullRss.push(pull.rssMiB);
  rmSync(join(work, `out-${run}`), { recursive: true, force: true });
  rmSync(cache, { recursive: true, force: true });
}
const mibps = (s) => (size / MiB / s).toFixed(0);
const curl = median(results.curl);
const push = median(results.push);
const pull = median(results.pull);
const rss = (values) => (hasTime ? `, peak RSS ${Math.max(...values).toFixed(0)} MiB` : '');
process.stdout.write(`  curl PUT (blob only)   ${curl.toFixed(2)} s  ${mibps(curl)} MiB/s\n`);
process.stdout.write(
  `  mlsec push (whole)     ${push.toFixed(2)} s  ${mibps(push)} MiB/s  x${(push / curl).toFixed(2)} of curl's time (target <= 1.2)${rss(results.pushRss)}\n`,
);
process.stdout.write(
  `  mlsec pull (whole)     ${pull.toFixed(2)} s  ${mibps(pull)} MiB/s${rss(results.pullRss)}\n`,
);
