#!/usr/bin/env node
// `npm run bench` (second half): `mlsec hash` against `sha256sum` on the fixtures `bench/run.mjs`
// generated in .mlsec-bench/ (run that first). Whole-process wall time, median of MLSEC_BENCH_RUNS
// runs after one untimed warm-up; warm page cache.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = join(root, '.mlsec-bench');
const runs = Number.parseInt(process.env.MLSEC_BENCH_RUNS ?? '3', 10) || 3;
const bin = join(root, 'bin', 'mlsec.js');

if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) {
  process.stderr.write('bench: run npm run build first\n');
  process.exit(1);
}
const inputs = existsSync(benchDir) ? readdirSync(benchDir).filter((n) => !n.startsWith('.')) : [];
const checkpoint = inputs.find((n) => n.startsWith('checkpoint-'));
const pickles = inputs.find((n) => n.startsWith('small-pickles-'));
if (!checkpoint || !pickles) {
  process.stderr.write('bench: no fixtures in .mlsec-bench/ (run node bench/run.mjs first)\n');
  process.exit(1);
}

function timed(command, args, cwd) {
  const start = performance.now();
  const child = spawnSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 });
  const seconds = (performance.now() - start) / 1000;
  if (child.status !== 0) {
    process.stderr.write(`bench: ${command} ${args.join(' ')} failed: ${child.stderr}\n`);
    process.exit(1);
  }
  return { seconds, stdout: child.stdout.toString() };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function measure(command, args) {
  timed(command, args, benchDir);
  const times = [];
  let stdout = '';
  for (let i = 0; i < runs; i++) {
    const result = timed(command, args, benchDir);
    times.push(result.seconds);
    stdout = result.stdout;
  }
  return { seconds: median(times), stdout };
}

const pickleFiles = readdirSync(join(benchDir, pickles))
  .map((n) => join(pickles, n))
  .sort();
const cases = [
  { label: `${checkpoint} (one file)`, mlsec: [bin, 'hash', checkpoint], reference: [checkpoint] },
  {
    label: `${pickles}/ (${pickleFiles.length} files)`,
    mlsec: [bin, 'hash', pickles],
    reference: pickleFiles,
  },
];
process.stdout.write(`\nmlsec hash vs sha256sum (median of ${runs} runs, warm cache)\n`);
for (const c of cases) {
  const ours = measure('node', c.mlsec);
  const theirs = measure('sha256sum', c.reference);
  const same = ours.stdout.trim() === theirs.stdout.trim();
  process.stdout.write(
    `  ${c.label.padEnd(40)} mlsec ${ours.seconds.toFixed(3)} s  sha256sum ${theirs.seconds.toFixed(3)} s  ` +
      `ratio ${(ours.seconds / theirs.seconds).toFixed(2)}x  identical output: ${same ? 'yes' : 'NO'}\n`,
  );
}
