import { readFile, stat } from 'node:fs/promises';
import { dirname, relative, resolve, sep } from 'node:path';
import type { Command } from 'commander';
import { MlsecError } from '../../core/errors.js';
import { type CheckReport, compareChecksums } from '../../core/hash/check.js';
import { type DigestAlgorithm, toSri } from '../../core/hash/digest.js';
import { parseChecksumListing } from '../../core/hash/listing.js';
import {
  buildOmsStatement,
  defaultShardSize,
  type OmsHashType,
  resolveIgnorePaths,
  shouldIgnore,
} from '../../core/hash/manifest.js';
import { formatChecksumFile } from '../../core/hash/sha256sum-format.js';
import { hashFiles } from '../../io/hash-pool.js';
import { listModelFiles, modelName } from '../../io/model-files.js';
import { hashModel } from '../../io/model-manifest.js';
import { checkPaths, walkFiles } from '../../io/walk.js';
import { collect, parseAlgorithm } from '../flags.js';
import { withHashPool } from '../hash-progress.js';
import { type Terminal, writeReport } from '../output.js';

interface HashFlags {
  algorithm: string;
  format: string;
  output?: string;
  exclude: string[];
  check?: string;
  manifest?: boolean;
  serialization: string;
  shardSize: string;
  ignorePath: string[];
  tag?: boolean;
  progress?: boolean;
}

const formats = ['sha256sum', 'json', 'sri'] as const;

export function registerHash(program: Command, terminal: Terminal, version: string): void {
  program
    .command('hash')
    .description('checksum files and directories, check checksum files, and write model manifests')
    .argument('[paths...]', 'files or directories (with --manifest: one model directory or file)')
    .option('-a, --algorithm <name>', 'sha256, sha384, sha512 or blake2b', 'sha256')
    .option('-f, --format <format>', 'sha256sum (lines sha256sum -c reads), json or sri', 'sha256sum')
    .option('--tag', 'BSD-style lines: SHA256 (name) = digest')
    .option('-o, --output <file>', 'write to a file instead of standard output')
    .option('--exclude <glob>', 'skip paths matching the glob (repeatable)', collect, [])
    .option('-c, --check <file>', 'verify the files a sha256sum-style file or an mlsec JSON manifest lists')
    .option('--manifest', 'print an OpenSSF Model Signing manifest of the model and its digest')
    .option('--serialization <method>', 'manifest resources: files or shards', 'files')
    .option('--shard-size <bytes>', 'shard size for --serialization shards', String(defaultShardSize))
    .option('--progress', 'show progress even when standard error is not a terminal')
    .option('--ignore-path <path>', 'leave a path of the model out of the manifest (repeatable)', collect, [])
    .action(async (paths: string[], flags: HashFlags) => {
      process.exitCode = await runHash(paths, flags, terminal, version);
    });
}

export async function runHash(
  paths: string[],
  flags: HashFlags,
  terminal: Terminal,
  version: string,
): Promise<number> {
  const algorithm = parseAlgorithm(flags.algorithm);
  if (!(formats as readonly string[]).includes(flags.format)) {
    throw new MlsecError(
      'USAGE',
      `unknown --format ${JSON.stringify(flags.format)} (expected ${formats.join(', ')})`,
    );
  }
  if (flags.check) return runCheck(flags.check, paths, algorithm, flags, terminal);
  if (flags.manifest) return runManifest(paths, algorithm, flags, terminal, version);
  const targets = paths.length > 0 ? paths : ['.'];
  await checkPaths(targets, terminal.cwd);
  const files: { name: string; path: string; size: number }[] = [];
  for await (const entry of walkFiles(targets, { cwd: terminal.cwd, exclude: flags.exclude })) {
    if (entry.kind === 'file') {
      files.push({ name: entry.path, path: entry.absolute, size: entry.size });
    } else if (entry.kind === 'unreadable-dir') {
      throw new MlsecError('INPUT_UNREADABLE', `cannot read directory ${entry.path}`);
    } else {
      // A checksum list that silently skips a file would vouch for less than it seems to.
      throw new MlsecError(
        'INPUT_INVALID',
        `${entry.path} is a symbolic link out of the directory (to ${entry.target}); refused`,
      );
    }
  }
  const digests = await withHashPool(terminal, files, (pool, progress) =>
    hashFiles(pool, files, algorithm, progress),
  );
  const entries = files.map((file, i) => ({ name: file.name, hex: digests[i]!.hex, size: digests[i]!.size }));
  let text: string;
  if (flags.format === 'json') {
    const files = entries.map((e) => ({ path: e.name, size: e.size, digest: e.hex }));
    text = `${JSON.stringify({ schemaVersion: 1, tool: { name: 'mlsec', version }, algorithm, files }, null, 2)}\n`;
  } else if (flags.format === 'sri') {
    if (algorithm === 'blake2b')
      throw new MlsecError('USAGE', 'Subresource Integrity has no blake2b; use sha256, sha384 or sha512');
    text = entries.map((e) => `${toSri({ algorithm, hex: e.hex })}  ${e.name}\n`).join('');
  } else {
    text = formatChecksumFile(
      entries.map((e) => ({ name: e.name, algorithm, hex: e.hex })),
      flags.tag ? { style: 'bsd' } : {},
    );
  }
  // Checksum lines are data too: `sha256sum -c` must find the very names (escaped as coreutils does).
  await writeReport(text, flags.output, terminal, true);
  return 0;
}

async function runManifest(
  paths: string[],
  algorithm: DigestAlgorithm,
  flags: HashFlags,
  terminal: Terminal,
  version: string,
): Promise<number> {
  if (paths.length !== 1)
    throw new MlsecError('USAGE', '--manifest takes exactly one model directory or file');
  if (algorithm !== 'sha256' && algorithm !== 'blake2b') {
    throw new MlsecError('USAGE', 'model manifests use sha256 or blake2b (--algorithm)');
  }
  if (flags.serialization !== 'files' && flags.serialization !== 'shards') {
    throw new MlsecError('USAGE', '--serialization must be files or shards');
  }
  const root = resolve(terminal.cwd, paths[0]!);
  await checkPaths([root], terminal.cwd);
  const ignorePaths = resolveIgnorePaths({ paths: flags.ignorePath });
  const files = await listModelFiles(root, ignorePaths);
  const hashType: OmsHashType = algorithm;
  let shardSize: number | undefined;
  if (flags.serialization === 'shards') {
    shardSize = Number(flags.shardSize);
    if (!Number.isSafeInteger(shardSize) || shardSize < 1)
      throw new MlsecError('USAGE', '--shard-size must be a positive whole number');
  }
  const method = flags.serialization;
  const predicate = await withHashPool(terminal, files, (pool, progress) =>
    hashModel(
      files,
      { method, hashType, ignorePaths, ...(shardSize === undefined ? {} : { shardSize }) },
      pool,
      progress,
    ),
  );
  const statement = buildOmsStatement(modelName(root), predicate);
  const document = {
    schemaVersion: 1,
    tool: { name: 'mlsec', version },
    model: statement.subject[0]!.name,
    modelDigest: statement.subject[0]!.digest,
    ...predicate,
  };
  await writeReport(`${JSON.stringify(document, null, 2)}\n`, flags.output, terminal, true);
  return 0;
}

async function runCheck(
  checkFile: string,
  paths: string[],
  requested: DigestAlgorithm,
  flags: HashFlags,
  terminal: Terminal,
): Promise<number> {
  let text: string;
  try {
    text = await readFile(resolve(terminal.cwd, checkFile), 'utf8');
  } catch (error) {
    throw new MlsecError(
      'INPUT_NOT_FOUND',
      `cannot read checksum file ${checkFile}: ${(error as Error).message}`,
    );
  }
  const checkPath = resolve(terminal.cwd, checkFile);
  const { entries, algorithm, ignorePaths, isManifest } = parseChecksumListing(text, checkFile, requested);
  // A model manifest names files from the model root: the one directory given, else its own directory.
  const manifestRoot = isManifest
    ? resolve(terminal.cwd, paths.length === 1 ? paths[0]! : dirname(checkPath))
    : undefined;
  const base = manifestRoot ?? terminal.cwd;
  const jobs = await Promise.all(
    entries.map(async ({ name }) => {
      const path = resolve(base, name);
      const info = await stat(path).catch(() => undefined);
      return { path, size: info?.isFile() ? info.size : -1 };
    }),
  );
  const results = await withHashPool(terminal, jobs, (pool) =>
    Promise.all(
      // A listed file that cannot be read is MISSING, not an error of the whole check.
      jobs.map((job) =>
        hashFiles(pool, [job], algorithm).then(
          (r) => r[0]?.hex,
          () => undefined,
        ),
      ),
    ),
  );
  const actual = new Map<string, string | undefined>(entries.map(({ name }, i) => [name, results[i]]));
  // Files in the named directories that the list does not mention are reported too: an added file is tampering.
  // A manifest covers its whole model, minus the paths it records as ignored.
  const present: string[] = [];
  const roots = manifestRoot ? [manifestRoot] : paths;
  if (roots.length > 0) {
    await checkPaths(roots, terminal.cwd);
    for await (const entry of walkFiles(roots, { cwd: terminal.cwd, exclude: flags.exclude })) {
      if (entry.kind !== 'file' || resolve(entry.absolute) === checkPath) continue;
      const name = manifestRoot ? relative(manifestRoot, entry.absolute).split(sep).join('/') : entry.path;
      if (!shouldIgnore(name, ignorePaths)) present.push(name);
    }
  }
  const report = compareChecksums(entries, actual, present);
  await writeReport(
    flags.format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderCheck(report),
    flags.output,
    terminal,
    flags.format === 'json',
  );
  return report.ok ? 0 : 1;
}

function renderCheck(report: CheckReport): string {
  const lines = report.lines.map((line) => `${line.name}: ${line.status}`);
  const { OK, FAILED, MISSING, EXTRA } = report.counts;
  lines.push(`${OK} OK, ${FAILED} FAILED, ${MISSING} MISSING, ${EXTRA} EXTRA`);
  return `${lines.join('\n')}\n`;
}
