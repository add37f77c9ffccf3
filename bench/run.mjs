#!/usr/bin/env node
// `npm run bench`: mlsec against a Python genops reference scan (and picklescan when installed)
// on a multi-GB PyTorch checkpoint and on a directory of many small pickles.
//
// Not part of the tests. Builds nothing: run `npm run build` first.
//
// Environment:
//   MLSEC_BENCH_GB     size of the checkpoint in GiB (default 2)
//   MLSEC_BENCH_FILES  number of small pickles (default 2000)
//   MLSEC_BENCH_RUNS   timed runs per tool and input (default 3)

import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = resolve(benchDir, '..');
const runs = positiveInt(process.env.MLSEC_BENCH_RUNS, 3);
const timeBinary = '/usr/bin/time';
const hasTime = existsSync(timeBinary) && probeTime();
const GiB = 2 ** 30;
const MiB = 2 ** 20;

function positiveInt(raw, fallback) {
  if (raw === undefined || raw === '') return fallback;
  const value = Number.parseInt(raw, 10);
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`bench: expected a positive whole number, got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return value;
}

function probeTime() {
  const probe = spawnSync(timeBinary, ['-f', '%e %M', 'true'], { encoding: 'utf8' });
  return probe.status === 0 && /^\d+(\.\d+)? \d+\s*$/m.test(probe.stderr);
}

function fail(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(1);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function bytesText(bytes) {
  if (bytes >= GiB) return `${(bytes / GiB).toFixed(2)} GiB`;
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

async function inputSize(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return { bytes: stat.size, files: 1 };
  let bytes = 0;
  let files = 0;
  for (const entry of await readdir(path, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    bytes += statSync(join(entry.parentPath ?? entry.path, entry.name)).size;
    files += 1;
  }
  return { bytes, files };
}

function run(command, args) {
  const start = performance.now();
  const child = spawnSync(command, args, {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 256 * MiB,
    timeout: 15 * 60 * 1000,
  });
  const wallSeconds = (performance.now() - start) / 1000;
  if (child.error) fail(`could not run ${command}: ${child.error.message}`);
  return { ...child, wallSeconds };
}

// ---- the tools: each returns { wallSeconds, rssKiB, exitCode, detail } for one run ----

function runMlsec(input) {
  const child = run(process.execPath, [
    join(benchDir, 'measure.mjs'),
    'scan',
    input,
    '--format',
    'json',
    '--fail-on',
    'never',
  ]);
  const line = child.stderr.split('\n').find((l) => l.startsWith('MLSEC_BENCH '));
  if (!line) fail(`mlsec printed no MLSEC_BENCH line (exit ${child.status}):\n${child.stderr}`);
  const measured = JSON.parse(line.slice('MLSEC_BENCH '.length));
  if (!measured.summary) fail(`mlsec printed no JSON report (exit ${child.status}):\n${child.stderr}`);
  return {
    wallSeconds: child.wallSeconds,
    rssKiB: measured.maxRssKiB,
    exitCode: measured.exitCode,
    detail: measured,
  };
}

function runPython(args) {
  const child = hasTime ? run(timeBinary, ['-f', '%e %M', 'python3', ...args]) : run('python3', args);
  let rssKiB = null;
  let stderr = child.stderr;
  if (hasTime) {
    const lines = stderr.trimEnd().split('\n');
    const match = /^(\d+(?:\.\d+)?) (\d+)$/.exec(lines.at(-1) ?? '');
    if (match) {
      rssKiB = Number(match[2]);
      stderr = lines.slice(0, -1).join('\n');
    }
  }
  return { wallSeconds: child.wallSeconds, rssKiB, exitCode: child.status, stdout: child.stdout, stderr };
}

function runReference(input) {
  const result = runPython([join(benchDir, 'reference_scan.py'), input]);
  if (result.exitCode !== 0) fail(`reference_scan.py failed (exit ${result.exitCode}):\n${result.stderr}`);
  return { ...result, detail: JSON.parse(result.stdout) };
}

function runPicklescan(input) {
  // picklescan exits 1 when it finds something dangerous and 2 on scan errors; both still time.
  const result = runPython(['-m', 'picklescan', '-p', input]);
  return { ...result, detail: { lastLine: result.stdout.trim().split('\n').at(-1) ?? '' } };
}

function measure(tool, input) {
  process.stderr.write(`  ${tool.name}: warm-up`);
  tool.run(input);
  const samples = [];
  for (let i = 0; i < runs; i += 1) {
    process.stderr.write(` ${i + 1}`);
    samples.push(tool.run(input));
  }
  process.stderr.write('\n');
  const rss = samples.map((s) => s.rssKiB).filter((v) => v !== null && v !== undefined);
  return {
    tool: tool.name,
    wall: median(samples.map((s) => s.wallSeconds)),
    wallMin: Math.min(...samples.map((s) => s.wallSeconds)),
    wallMax: Math.max(...samples.map((s) => s.wallSeconds)),
    peakRssKiB: rss.length ? Math.max(...rss) : null,
    exitCodes: [...new Set(samples.map((s) => s.exitCode))],
    last: samples.at(-1),
    samples,
  };
}

// ---- table ----

function table(headers, rows, rightAligned) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const format = (cells) =>
    cells
      .map((cell, i) =>
        rightAligned.has(i) ? String(cell).padStart(widths[i]) : String(cell).padEnd(widths[i]),
      )
      .join('  ')
      .trimEnd();
  return [format(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(format)].join('\n');
}

// ---- main ----

if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) {
  fail('dist/ is missing (no dist/cli/main.js): run npm run build first');
}
const pythonVersion = spawnSync('python3', ['--version'], { encoding: 'utf8' });
if (pythonVersion.error || pythonVersion.status !== 0)
  fail('python3 is needed for the fixtures and the reference');

process.stderr.write('bench: preparing fixtures in .mlsec-bench/ (generated once, then cached)\n');
const fixtures = spawnSync('python3', [join(benchDir, 'make_fixtures.py')], {
  cwd: root,
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'inherit'],
});
if (fixtures.status !== 0) fail(`make_fixtures.py failed (exit ${fixtures.status})`);
const paths = JSON.parse(fixtures.stdout.trim().split('\n').at(-1));

const picklescanProbe = spawnSync('python3', ['-c', 'import picklescan'], { encoding: 'utf8' });
const havePicklescan = picklescanProbe.status === 0;

const tools = [
  { name: 'mlsec', run: runMlsec },
  { name: 'reference', run: runReference },
  ...(havePicklescan ? [{ name: 'picklescan', run: runPicklescan }] : []),
];

const inputs = [
  { label: 'checkpoint', path: paths.checkpoint },
  { label: 'small pickles', path: paths.smallPickles },
];

const results = [];
for (const input of inputs) {
  const size = await inputSize(input.path);
  process.stderr.write(
    `bench: ${relative(root, input.path)} (${bytesText(size.bytes)}, ${size.files} file(s))\n`,
  );
  const measured = tools.map((tool) => measure(tool, input.path));
  results.push({ input, size, measured });
}

const cpus = os.cpus();
const lines = [];
lines.push('mlsec benchmark');
lines.push(
  `machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${bytesText(os.totalmem())} RAM, ` +
    `${os.platform()} ${os.release()}`,
);
lines.push(`node ${process.version}, ${(pythonVersion.stdout || pythonVersion.stderr).trim()}`);
lines.push(
  `runs: 1 untimed warm-up + ${runs} timed per tool and input; numbers are WARM-CACHE (inputs in the page cache).`,
);
lines.push(
  'wall = median wall time of the whole process (interpreter start-up included), measured by this script; ' +
    `RSS = highest peak RSS over the timed runs (${hasTime ? 'python: /usr/bin/time %M' : 'python: not measured, /usr/bin/time missing'}; mlsec: process.resourceUsage().maxRSS).`,
);
lines.push(
  havePicklescan
    ? 'picklescan: installed, timed as python3 -m picklescan -p <input>'
    : 'picklescan not installed: skipped',
);
lines.push('');

const headers = [
  'input',
  'size',
  'tool',
  'wall s',
  'min-max s',
  'scan s',
  'peak RSS MiB',
  'bytes read (% of size)',
  'GiB/s',
];
const rows = [];
for (const { input, size, measured } of results) {
  for (const m of measured) {
    const mlsec = m.tool === 'mlsec' ? m.last.detail : undefined;
    const bytesRead = mlsec
      ? `${bytesText(mlsec.summary.bytesRead)} (${((100 * mlsec.summary.bytesRead) / size.bytes).toFixed(mlsec.summary.bytesRead < size.bytes / 100 ? 4 : 1)}%)`
      : '-';
    const scanSeconds = mlsec ? median(m.samples.map((s) => s.detail.wallMs / 1000)).toFixed(3) : '-';
    rows.push([
      `${input.label} (${size.files} file${size.files === 1 ? '' : 's'})`,
      bytesText(size.bytes),
      m.tool,
      m.wall.toFixed(3),
      `${m.wallMin.toFixed(2)}-${m.wallMax.toFixed(2)}`,
      scanSeconds,
      m.peakRssKiB === null ? '-' : (m.peakRssKiB / 1024).toFixed(1),
      bytesRead,
      Number((size.bytes / GiB / m.wall).toPrecision(3)).toString(),
    ]);
  }
}
lines.push(table(headers, rows, new Set([1, 3, 4, 5, 6, 8])));
lines.push('(scan s: mlsec main() alone, in-process, without Node start-up and module loading)');
lines.push('');

lines.push('ratios (mlsec / other; below 1 means mlsec is faster or smaller):');
for (const { input, measured } of results) {
  const mlsec = measured.find((m) => m.tool === 'mlsec');
  for (const other of measured.filter((m) => m.tool !== 'mlsec')) {
    const time = (mlsec.wall / other.wall).toFixed(2);
    const memory =
      mlsec.peakRssKiB !== null && other.peakRssKiB !== null
        ? `${(mlsec.peakRssKiB / other.peakRssKiB).toFixed(2)}x`
        : 'n/a';
    lines.push(`  ${input.label.padEnd(14)} mlsec/${other.tool.padEnd(10)} time ${time}x  memory ${memory}`);
  }
}
lines.push('');

lines.push('what each tool saw (last timed run):');
const warnings = [];
for (const { input, size, measured } of results) {
  for (const m of measured) {
    const d = m.last.detail;
    if (m.tool === 'mlsec') {
      lines.push(
        `  ${input.label.padEnd(14)} mlsec      files=${d.summary.files} findings=${d.summary.findings} ` +
          `highest=${d.summary.highest ?? 'none'} status=${JSON.stringify(d.summary.statuses)} exit=${m.exitCodes.join('/')}`,
      );
      if (size.files === 1 && d.summary.bytesRead > size.bytes * 0.5) {
        warnings.push(
          `WARNING: mlsec read ${bytesText(d.summary.bytesRead)} of the ${bytesText(size.bytes)} ${input.label}; ` +
            'it should read only the pickle member and the zip headers',
        );
      }
    } else if (m.tool === 'reference') {
      lines.push(
        `  ${input.label.padEnd(14)} reference  files=${d.files} zipMembers=${d.zipMembers} pickles=${d.picklesScanned} ` +
          `opcodes=${d.opcodes} imports=${Object.keys(d.globals).join(',') || 'none'} errors=${d.errorCount}`,
      );
    } else {
      lines.push(
        `  ${input.label.padEnd(14)} ${m.tool.padEnd(10)} exit=${m.exitCodes.join('/')} ${d.lastLine}`,
      );
    }
  }
}
if (warnings.length) lines.push('', ...warnings);

process.stdout.write(`${lines.join('\n')}\n`);
