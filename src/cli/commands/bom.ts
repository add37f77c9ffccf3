import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename, posix, relative, resolve, sep } from 'node:path';
import type { Command } from 'commander';
import { buildCycloneDxBom } from '../../core/bom/cyclonedx.js';
import { hashFiles } from '../../io/hash-pool.js';
import { checkPaths } from '../../io/walk.js';
import { loadCommandConfig } from '../config.js';
import { collect, parseAlgorithm } from '../flags.js';
import { withHashPool } from '../hash-progress.js';
import { analyzeLicenses } from '../license-analysis.js';
import { type Terminal, writeReport } from '../output.js';

interface BomFlags {
  output?: string;
  algorithm: string;
  exclude: string[];
  config?: string;
  name?: string;
}

export function registerBom(program: Command, terminal: Terminal, version: string): void {
  program
    .command('bom')
    .description('write a CycloneDX 1.6 ML-BOM of a model directory: files, digests, licences, model card')
    .argument('[path]', 'model directory or file', '.')
    .option('-o, --output <file>', 'write the BOM to a file instead of standard output')
    .option('-a, --algorithm <name>', 'file digests: sha256, sha384, sha512 or blake2b', 'sha256')
    .option('--name <name>', 'model name (default: the directory name)')
    .option('--exclude <glob>', 'leave out paths matching the glob (repeatable)', collect, [])
    .option('--config <file>', 'configuration file (default: .mlsec.yaml here or up to the git root)')
    .action(async (path: string, flags: BomFlags) => {
      process.exitCode = await runBom(path, flags, terminal, version);
    });
}

export async function runBom(
  path: string,
  flags: BomFlags,
  terminal: Terminal,
  version: string,
): Promise<number> {
  const algorithm = parseAlgorithm(flags.algorithm);
  const config = await loadCommandConfig(flags.config, terminal);
  await checkPaths([path], terminal.cwd);
  const exclude = [...config.scan.exclude, ...flags.exclude];
  const analysis = await analyzeLicenses([path], {
    cwd: terminal.cwd,
    exclude,
    config,
    now: new Date(),
  });
  const files = analysis.units.flatMap((u) => u.files);
  const absolute = resolve(terminal.cwd, path);
  const isDirectory = (await stat(absolute)).isDirectory();
  const root = relative(terminal.cwd, absolute).split(sep).join('/') || '.';
  const relativePath = (reported: string) =>
    isDirectory ? (root === '.' ? reported : posix.relative(root, reported)) : basename(reported);
  const digests = await withHashPool(terminal, files, (pool, progress) =>
    hashFiles(
      pool,
      files.map((f) => ({ path: f.absolute, size: f.size })),
      algorithm,
      progress,
    ),
  );
  // The model directory's own licence is that of its top unit; nested model cards add their findings only.
  const report = analysis.reports.find((r) => r.path === root) ?? analysis.reports[0]!;
  const merged = { ...report, detections: analysis.reports.flatMap((r) => r.detections) };
  const bom = buildCycloneDxBom({
    name: flags.name ?? basename(absolute),
    algorithm,
    files: files
      .map((file, i) => ({ path: relativePath(file.path), size: digests[i]!.size, hex: digests[i]!.hex }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    license: merged,
    relativePath,
    tool: { name: 'mlsec', version },
    serialNumber: `urn:uuid:${randomUUID()}`,
    timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
  });
  await writeReport(`${JSON.stringify(bom, null, 2)}\n`, flags.output, terminal, true);
  for (const finding of analysis.reports.flatMap((r) => r.findings)) {
    terminal.stderr.write(`mlsec: ${finding.rule} ${finding.message} (${finding.path})\n`);
  }
  return 0;
}
