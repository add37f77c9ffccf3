import type { Command } from 'commander';
import { MlsecError } from '../../core/errors.js';
import { atLeast, isSeverity, type Severity, severities } from '../../core/findings.js';
import type { LicenseReport } from '../../core/license/detect.js';
import { checkPaths } from '../../io/walk.js';
import { loadCommandConfig } from '../config.js';
import { collect } from '../flags.js';
import { analyzeLicenses } from '../license-analysis.js';
import { type Terminal, writeReport } from '../output.js';
import { renderLicenseTable } from '../render/license-table.js';
import { renderSarif, type SarifReport } from '../render/sarif.js';

const formats = ['table', 'json', 'sarif'] as const;

interface LicenseFlags {
  format: string;
  output?: string;
  failOn: string;
  exclude: string[];
  config?: string;
}

export function registerLicense(program: Command, terminal: Terminal, version: string): void {
  program
    .command('license')
    .description('identify the licences of models and datasets, and check them against the licence policy')
    .argument('[paths...]', 'model directories or files', ['.'])
    .option('-f, --format <format>', 'table, json or sarif', 'table')
    .option('-o, --output <file>', 'write the report to a file instead of standard output')
    .option(
      '--fail-on <severity>',
      'exit 1 when a finding reaches this severity (info..critical|never)',
      'high',
    )
    .option('--exclude <glob>', 'skip paths matching the glob (repeatable)', collect, [])
    .option('--config <file>', 'configuration file (default: .mlsec.yaml here or up to the git root)')
    .action(async (paths: string[], flags: LicenseFlags) => {
      process.exitCode = await runLicense(paths, flags, terminal, version);
    });
}

export async function runLicense(
  paths: string[],
  flags: LicenseFlags,
  terminal: Terminal,
  version: string,
): Promise<number> {
  if (!(formats as readonly string[]).includes(flags.format)) {
    throw new MlsecError(
      'USAGE',
      `unknown --format ${JSON.stringify(flags.format)} (expected ${formats.join(', ')})`,
    );
  }
  const failOn = flags.failOn;
  if (failOn !== 'never' && !isSeverity(failOn)) {
    throw new MlsecError(
      'USAGE',
      `unknown --fail-on ${JSON.stringify(failOn)} (expected ${severities.join(', ')} or never)`,
    );
  }
  const config = await loadCommandConfig(flags.config, terminal);
  await checkPaths(paths, terminal.cwd);
  const analysis = await analyzeLicenses(paths, {
    cwd: terminal.cwd,
    exclude: [...config.scan.exclude, ...flags.exclude],
    config,
    now: new Date(),
  });
  const all = analysis.reports.flatMap((r) => r.findings);
  const failed = failOn !== 'never' && all.some((f) => atLeast(f.severity, failOn as Severity));
  let text: string;
  if (flags.format === 'sarif') text = renderSarif(findingsByFile(analysis.reports), version);
  else if (flags.format === 'json') {
    const document = {
      schemaVersion: 1,
      tool: { name: 'mlsec', version },
      failOn,
      policy: analysis.policy,
      results: analysis.reports.map((report, i) => ({ ...report, bytesRead: analysis.units[i]!.bytesRead })),
      summary: { models: analysis.reports.length, findings: all.length, failed },
    };
    text = `${JSON.stringify(document, null, 2)}\n`;
  } else {
    text = renderLicenseTable(analysis.reports, {
      color: terminal.color,
      failed,
      failOn: failOn as Severity | 'never',
      policy: analysis.policy,
    });
  }
  await writeReport(text, flags.output, terminal, flags.format !== 'table');
  return failed ? 1 : 0;
}

/** SARIF places a result in a file: each finding goes under the file that is its evidence. */
function findingsByFile(reports: readonly LicenseReport[]): SarifReport[] {
  const byPath = new Map<string, SarifReport & { findings: LicenseReport['findings'] }>();
  for (const finding of reports.flatMap((report) => report.findings)) {
    const entry = byPath.get(finding.path) ?? { path: finding.path, findings: [] };
    entry.findings.push(finding);
    byPath.set(finding.path, entry);
  }
  return [...byPath.values()];
}
