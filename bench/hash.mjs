#!/usr/bin/env node
// `npm run bench` (second half): `mlsec hash` against `sha256sum` and `openssl dgst -sha256` on
// generated data: one 2 GiB file and a directory of 16 x 256 MiB files, whole-file and sharded,
// and 2000 small files.
// Whole-process wall time over MLSEC_BENCH_RUNS (default 5) interleaved rounds after one untimed
// warm-up round; warm page cache; peak RSS of mlsec from /usr/bin/time when present.

import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, writeSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = join(root, '.mlsec-bench');
const runs = Number.parseInt(process.env.MLSEC_BENCH_RUNS ?? '5', 10) || 5;
const bin = join(root, 'bin', 'mlsec.js');
const MiB = 2 ** 20;
const hasTime = existsSync('/usr/bin/time');

if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) {
  process.stderr.write('bench: run npm run build first\n');
  process.exit(1);
}

/** Pseudo-random bytes (a fixed 1 MiB block repeated with a counter), written once and cached. */
function makeFile(path, bytes, seed) {
  if (existsSync(path)) return;
  mkdirSync(dirname(path), { recursive: true });
  const block = Buffer.alloc(MiB);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < block.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    block[i] = x & 0xff;
  }
  const partial = `${path}.partial`;
  const fd = openSync(partial, 'w');
  for (let written = 0, n = 0; written < bytes; written += MiB, n++) {
    block.writeUInt32LE(n, 0);
    writeSync(fd, block, 0, Math.min(MiB, bytes - written));
  }
  closeSync(fd);
  renameSync(partial, path);
}

const single = join(benchDir, 'hash-2g.bin');
const dir = join(benchDir, 'hash-16x256m');
process.stdout.write('\nbench: preparing hash inputs in .mlsec-bench/ (cached)\n');
makeFile(single, 2048 * MiB, 7);
for (let i = 0; i < 16; i++)
  makeFile(join(dir, `shard-${String(i).padStart(2, '0')}.bin`), 256 * MiB, 100 + i);
// Many small files, as a pre-commit hook over a repository sees them: start-up and per-file costs.
const smallDir = join(benchDir, 'hash-2000-small');
for (let i = 0; i < 2000; i++)
  makeFile(
    join(smallDir, `file-${String(i).padStart(4, '0')}.bin`),
    1024 + ((i * 7919) % (63 * 1024)),
    5000 + i,
  );
const listed = (folder) =>
  readdirSync(folder)
    .filter((n) => n.endsWith('.bin'))
    .sort()
    .map((n) => join(folder, n));
const smallFiles = listed(smallDir);
const dirFiles = listed(dir);

function once(command, args) {
  const wrapped = hasTime ? ['/usr/bin/time', ['-f', '%M', command, ...args]] : [command, args];
  const start = performance.now();
  const child = spawnSync(wrapped[0], wrapped[1], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 });
  const seconds = (performance.now() - start) / 1000;
  if (child.status !== 0) {
    process.stderr.write(`bench: ${command} ${args.join(' ')} failed: ${child.stderr}\n`);
    process.exit(1);
  }
  const rssKiB = hasTime ? Number(child.stderr.toString().trim().split('\n').at(-1)) : Number.NaN;
  return { seconds, rssKiB };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * Every tool of a case once per round, round after round, after one untimed warm-up round. A
 * speed ratio is the median of the ratios within each round: a machine whose speed drifts (other
 * tenants, thermal limits) shifts the tools of one round alike, so drift cancels out.
 */
function measureCase(tools) {
  for (const [, command, args] of tools) once(command, args);
  const rounds = Array.from({ length: runs }, () => tools.map(([, command, args]) => once(command, args)));
  const names = tools.map(([name]) => name);
  const column = (name) => rounds.map((round) => round[names.indexOf(name)].seconds);
  const speedOver = (reference, name) => {
    const ours = column(name);
    return median(column(reference).map((seconds, i) => seconds / ours[i]));
  };
  return names.map((name, i) => ({
    name,
    seconds: median(column(name)),
    vsOpenssl: speedOver('openssl', name),
    vsSha: speedOver('sha256sum', name),
    rssMiB: Math.max(...rounds.map((round) => round[i].rssKiB)) / 1024,
  }));
}

const cases = [
  {
    label: '2 GiB single file',
    tools: [
      ['sha256sum', 'sha256sum', [single]],
      ['openssl', 'openssl', ['dgst', '-sha256', single]],
      ['mlsec whole', 'node', [bin, 'hash', single]],
      [
        'mlsec sharded',
        'node',
        [bin, 'hash', '--manifest', single, '--serialization', 'shards', '--shard-size', String(256 * MiB)],
      ],
    ],
  },
  {
    label: '16 x 256 MiB directory',
    tools: [
      ['sha256sum', 'sha256sum', dirFiles],
      ['openssl', 'openssl', ['dgst', '-sha256', ...dirFiles]],
      ['mlsec whole', 'node', [bin, 'hash', dir]],
      [
        'mlsec sharded',
        'node',
        [bin, 'hash', '--manifest', dir, '--serialization', 'shards', '--shard-size', String(64 * MiB)],
      ],
    ],
  },
  {
    label: `${smallFiles.length} small files (1-64 KiB)`,
    tools: [
      ['sha256sum', 'sha256sum', smallFiles],
      ['openssl', 'openssl', ['dgst', '-sha256', ...smallFiles]],
      ['mlsec whole', 'node', [bin, 'hash', smallDir]],
    ],
  },
];

process.stdout.write(
  `mlsec hash (${runs} interleaved rounds: median time, median of each round's speed ratio; warm cache; RSS = peak of the process)\n` +
    `  machine: ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${availableParallelism()} cores, Node ${process.version}\n`,
);
for (const c of cases) {
  const results = measureCase(c.tools);
  process.stdout.write(`  ${c.label}\n`);
  for (const r of results) {
    const rss = Number.isNaN(r.rssMiB) ? '' : `  peak RSS ${r.rssMiB.toFixed(0)} MiB`;
    process.stdout.write(
      `    ${r.name.padEnd(14)} ${r.seconds.toFixed(3)} s  speed x${r.vsOpenssl.toFixed(2)} of openssl, x${r.vsSha.toFixed(2)} of sha256sum${rss}\n`,
    );
  }
}
