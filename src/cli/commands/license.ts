import type { Command } from 'commander';
import { MlsecError } from '../../core/errors.js';
import { atLeast, isSeverity, type Severity, severities } from '../../core/findings.js';
import { loadConfig } from '../../io/config.js';
import { checkPaths } from '../../io/walk.js';
import { collect } from '../flags.js';
import { analyzeLicenses } from '../license-analysis.js';
import { type Terminal, writeReport } from '../output.js';
import { renderLicenseTable } from '../render/license-table.js';

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
    .option('-f, --format <format>', 'table or json', 'table')
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
  if (flags.format !== 'table' && flags.format !== 'json') {
    throw new MlsecError('USAGE', `unknown --format ${JSON.stringify(flags.format)} (expected table, json)`);
  }
  const failOn = flags.failOn;
  if (failOn !== 'never' && !isSeverity(failOn)) {
    throw new MlsecError(
      'USAGE',
      `unknown --fail-on ${JSON.stringify(failOn)} (expected ${severities.join(', ')} or never)`,
    );
  }
  const config = await loadConfig(flags.config, terminal.cwd);
  await checkPaths(paths, terminal.cwd);
  const analysis = await analyzeLicenses(paths, {
    cwd: terminal.cwd,
    exclude: [...config.scan.exclude, ...flags.exclude],
    config,
    now: new Date(),
  });
  const all = analysis.reports.flatMap((r) => r.findings);
  const failed = failOn !== 'never' && all.some((f) => atLeast(f.severity, failOn as Severity));
  const text =
    flags.format === 'json'
      ? `${JSON.stringify(
          {
            schemaVersion: 1,
            tool: { name: 'mlsec', version },
            failOn,
            policy: analysis.policy,
            results: analysis.reports.map((report, i) => ({
              ...report,
              bytesRead: analysis.units[i]!.bytesRead,
            })),
            summary: { models: analysis.reports.length, findings: all.length, failed },
          },
          null,
          2,
        )}\n`
      : renderLicenseTable(analysis.reports, {
          color: terminal.color,
          failed,
          failOn: failOn as Severity | 'never',
          policy: analysis.policy,
        });
  await writeReport(text, flags.output, terminal);
  return failed ? 1 : 0;
}
