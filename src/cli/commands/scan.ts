import type { Command } from 'commander';
import { MlsecError } from '../../core/errors.js';
import {
  atLeast,
  compareFindings,
  type FileReport,
  isSeverity,
  type Severity,
  summarize,
} from '../../core/findings.js';
import { GlobalPolicy } from '../../core/scan/policy/global-policy.js';
import { scanArtifacts } from '../../core/scan/scan-artifact.js';
import type { MlsecConfig } from '../../io/config.js';
import { IntegrityCheck } from '../../io/integrity-check.js';
import { checkPaths, toArtifacts, walkFiles } from '../../io/walk.js';
import { loadCommandConfig } from '../config.js';
import { collect } from '../flags.js';
import { startSpinner, type Terminal, writeReport } from '../output.js';
import { renderJson } from '../render/json.js';
import { renderSarif } from '../render/sarif.js';
import { renderTable } from '../render/table.js';

export interface ScanFlags {
  format: string;
  output?: string;
  failOn?: string;
  exclude: string[];
  allowGlobal: string[];
  denyGlobal: string[];
  config?: string;
  showClean?: boolean;
  progress?: boolean;
  concurrency: string;
  checksums: string[];
}

const formats = ['table', 'json', 'sarif'] as const;
type OutputFormat = (typeof formats)[number];

export function registerScan(program: Command, terminal: Terminal, version: string): void {
  program
    .command('scan')
    .description('scan model files and directories for code-execution payloads')
    .argument('[paths...]', 'files or directories to scan', ['.'])
    .option('-f, --format <format>', 'table, json or sarif', 'table')
    .option('-o, --output <file>', 'write the report to a file instead of standard output')
    .option(
      '--fail-on <severity>',
      'exit 1 when a finding reaches this severity (info|low|medium|high|critical|never)',
    )
    .option('--exclude <glob>', 'skip paths matching the glob (repeatable)', collect, [])
    .option(
      '--allow-global <pattern>',
      'treat a pickle global as safe, e.g. mypkg.models.* (repeatable)',
      collect,
      [],
    )
    .option('--deny-global <pattern>', 'treat a pickle global as dangerous (repeatable)', collect, [])
    .option('--config <file>', 'configuration file (default: .mlsec.yaml here or up to the git root)')
    .option('--show-clean', 'list files without findings in the table too')
    .option('--progress', 'show progress even when standard error is not a terminal')
    .option('--concurrency <n>', 'files scanned at once', '4')
    .option(
      '--checksums <file>',
      'verify files against a sha256sum-style list (names relative to here)',
      collect,
      [],
    )
    .action(async (paths: string[], flags: ScanFlags) => {
      process.exitCode = await runScan(paths, flags, terminal, version);
    });
}

export async function runScan(
  paths: string[],
  flags: ScanFlags,
  terminal: Terminal,
  version: string,
): Promise<number> {
  const format = parseFormat(flags.format);
  const config = await loadCommandConfig(flags.config, terminal);
  const failOn = parseFailOn(flags.failOn ?? config.scan.failOn ?? 'high');
  const concurrency = Number.parseInt(flags.concurrency, 10);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new MlsecError('USAGE', '--concurrency must be a whole number from 1 to 64');
  }
  const policy = new GlobalPolicy({
    allow: [...config.scan.allowGlobals, ...flags.allowGlobal],
    deny: [...config.scan.denyGlobals, ...flags.denyGlobal],
  });
  await checkPaths(paths, terminal.cwd);

  const spinner = await startSpinner(terminal, 'scanning', flags.progress === true);
  let done = 0;
  const integrity = await IntegrityCheck.create(terminal.cwd, flags.checksums, paths);
  const walk = walkFiles(paths, { cwd: terminal.cwd, exclude: [...config.scan.exclude, ...flags.exclude] });
  const reports = await scanArtifacts(toArtifacts(integrity.tap(walk)), {
    policy,
    concurrency,
    onReport: (report) => {
      done += 1;
      if (spinner) spinner.text = `scanned ${done} file${done === 1 ? '' : 's'}: ${report.path}`;
    },
  });
  spinner?.stop();

  await mergeIntegrity(reports, integrity, terminal);
  if (config.license) await mergeLicensePolicy(reports, paths, config, terminal, flags.exclude);
  const summary = summarize(reports);
  const failed =
    failOn !== 'never' && reports.some((r) => r.findings.some((f) => atLeast(f.severity, failOn)));
  const text = render(format, reports, {
    summary,
    failed,
    failOn,
    version,
    terminal,
    showClean: flags.showClean === true,
  });
  await writeReport(text, flags.output, terminal, format !== 'table');
  if (failed) return 1;
  return reports.some((r) => r.status === 'error') ? 2 : 0;
}

function render(
  format: OutputFormat,
  reports: FileReport[],
  options: {
    summary: ReturnType<typeof summarize>;
    failed: boolean;
    failOn: Severity | 'never';
    version: string;
    terminal: Terminal;
    showClean: boolean;
  },
): string {
  switch (format) {
    case 'json':
      return renderJson({
        schemaVersion: 1,
        tool: { name: 'mlsec', version: options.version },
        failOn: options.failOn,
        results: reports,
        summary: { ...options.summary, failed: options.failed },
      });
    case 'sarif':
      return renderSarif(reports, options.version);
    case 'table':
      return renderTable(reports, options.summary, {
        color: options.terminal.color,
        showClean: options.showClean,
        failed: options.failed,
        failOn: options.failOn,
      });
  }
}

function parseFormat(value: string): OutputFormat {
  if ((formats as readonly string[]).includes(value)) return value as OutputFormat;
  throw new MlsecError('USAGE', `unknown --format ${JSON.stringify(value)} (expected ${formats.join(', ')})`);
}

function parseFailOn(value: string): Severity | 'never' {
  if (value === 'never' || isSeverity(value)) return value;
  throw new MlsecError(
    'USAGE',
    `unknown --fail-on ${JSON.stringify(value)} (expected info, low, medium, high, critical or never)`,
  );
}

/** Integrity findings join the report of the file they concern; a listed file that is gone gets its own. */
async function mergeIntegrity(
  reports: FileReport[],
  integrity: IntegrityCheck,
  terminal: Terminal,
): Promise<void> {
  const byPath = await integrity.findings();
  for (const warning of integrity.warnings) terminal.stderr.write(`mlsec: ${warning}\n`);
  for (const [path, findings] of byPath) {
    const report = reports.find((r) => r.path === path);
    if (report) report.findings = [...findings, ...report.findings].sort(compareFindings);
    else reports.push({ path, format: 'missing', size: 0, findings, bytesRead: 0, status: 'complete' });
  }
}

/** With a `license:` policy in the config, its findings join the report of their evidence file. */
async function mergeLicensePolicy(
  reports: FileReport[],
  paths: string[],
  config: MlsecConfig,
  terminal: Terminal,
  exclude: string[],
): Promise<void> {
  const { mergeLicenseFindings } = await import('../license-analysis.js');
  await mergeLicenseFindings(reports, paths, {
    cwd: terminal.cwd,
    exclude: [...config.scan.exclude, ...exclude],
    config,
    now: new Date(),
  });
}
