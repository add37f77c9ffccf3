#!/usr/bin/env node
// One in-process mlsec run for `npm run bench`.
//
//   node bench/measure.mjs scan <paths...> --format json [options]
//
// Imports dist/cli/main.js, calls main() with the given arguments while standard output is
// captured, then writes one line to standard error:
//
//   MLSEC_BENCH {"wallMs":…,"importMs":…,"maxRssKiB":…,"exitCode":…,"summary":{…}}
//
// wallMs is the scan alone (main()), importMs the module load before it; maxRssKiB is
// process.resourceUsage().maxRSS for the whole process. summary (bytesRead, files, findings,
// size) is parsed from the JSON report, or null when the output was not JSON. The captured
// report is echoed to standard output only when MLSEC_BENCH_ECHO=1. The exit code is mlsec's.

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'cli', 'main.js');
if (!existsSync(entry)) {
  process.stderr.write('bench/measure.mjs: dist/cli/main.js is missing: run npm run build first\n');
  process.exit(2);
}

const args = process.argv.slice(2);
const captured = [];
const realWrite = process.stdout.write;
process.stdout.write = function capture(chunk, encoding, callback) {
  captured.push(
    typeof chunk === 'string'
      ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8')
      : Buffer.from(chunk),
  );
  const done = typeof encoding === 'function' ? encoding : callback;
  if (typeof done === 'function') process.nextTick(done);
  return true;
};

let importMs = 0;
let wallMs = 0;
let failure;
try {
  const importStart = performance.now();
  const { main } = await import(pathToFileURL(entry).href);
  importMs = performance.now() - importStart;
  const start = performance.now();
  await main(['node', 'mlsec', ...args]);
  wallMs = performance.now() - start;
} catch (error) {
  failure = error;
} finally {
  process.stdout.write = realWrite;
}

const output = Buffer.concat(captured).toString('utf8');
let summary = null;
try {
  const report = JSON.parse(output);
  const size = Array.isArray(report.results)
    ? report.results.reduce((sum, r) => sum + (r.size ?? 0), 0)
    : null;
  const statuses = {};
  for (const r of report.results ?? []) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  summary = {
    bytesRead: report.summary?.bytesRead ?? null,
    files: report.summary?.files ?? null,
    findings: report.summary?.findings ?? null,
    highest: report.summary?.highest ?? null,
    size,
    statuses,
  };
} catch {
  // not JSON (another --format, or an error message): summary stays null
}

if (process.env.MLSEC_BENCH_ECHO === '1') process.stdout.write(output);
if (failure) {
  process.stderr.write(`bench/measure.mjs: main() threw: ${failure?.stack ?? failure}\n`);
  process.exitCode = 70;
}
const exitCode = typeof process.exitCode === 'number' ? process.exitCode : Number(process.exitCode ?? 0);
process.stderr.write(
  `MLSEC_BENCH ${JSON.stringify({
    wallMs: Math.round(wallMs * 10) / 10,
    importMs: Math.round(importMs * 10) / 10,
    maxRssKiB: process.resourceUsage().maxRSS,
    exitCode,
    summary,
  })}\n`,
);
