import { basename, dirname } from 'node:path';
import { MlsecError } from '../core/errors.js';
import type { FileReport, Severity } from '../core/findings.js';
import { isSeverity, summarize } from '../core/findings.js';
import { GlobalPolicy } from '../core/scan/policy/global-policy.js';
import { scanArtifacts } from '../core/scan/scan-artifact.js';
import type { ModelFile } from '../io/model-files.js';
import { toArtifacts, type WalkEntry } from '../io/walk.js';
import { loadCommandConfig } from './config.js';
import type { Terminal } from './output.js';
import { renderJson } from './render/json.js';

/**
 * The scan that gates push and pull: the same readers, policy and config as `mlsec scan`, plus the
 * licence policy of the config's `license:` section (a denied licence is a blocking finding).
 */
export async function scanModelFiles(
  root: string,
  files: readonly ModelFile[],
  options: { config?: string; failOn?: string; terminal: Terminal },
): Promise<{ reports: FileReport[]; failOn: Severity | 'never'; licenses: string[] }> {
  const config = await loadCommandConfig(options.config, options.terminal);
  const failOn = options.failOn ?? config.scan.failOn ?? 'high';
  if (failOn !== 'never' && !isSeverity(failOn)) {
    throw new MlsecError('USAGE', `unknown --fail-on ${JSON.stringify(failOn)}`);
  }
  const policy = new GlobalPolicy({ allow: config.scan.allowGlobals, deny: config.scan.denyGlobals });
  async function* entries(): AsyncIterable<WalkEntry> {
    for (const file of files) {
      // Paths relative to the model root: the report reads the same wherever the model lies.
      const path = file.path === '.' ? basename(root) : file.path;
      yield { kind: 'file', path, absolute: file.absolute, size: file.size };
    }
  }
  const reports = await scanArtifacts(toArtifacts(entries()), { policy, concurrency: 4 });
  // Licence detection always (the manifest records what it finds); the policy only when configured.
  const single = files.length === 1 && files[0]!.path === '.';
  const { analyzeLicenses, attachLicenseFindings } = await import('./license-analysis.js');
  const analysis = await analyzeLicenses([single ? basename(root) : '.'], {
    cwd: single ? dirname(root) : root,
    exclude: [],
    config,
    now: new Date(),
  });
  attachLicenseFindings(reports, analysis);
  const licenses = [...new Set(analysis.reports.flatMap((r) => (r.concluded ? [r.concluded] : [])))];
  reports.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { reports, failOn, licenses };
}

/** The scan report document, as `mlsec scan --format json` writes it. */
export function scanReportJson(
  reports: FileReport[],
  failOn: Severity | 'never',
  failed: boolean,
  version: string,
) {
  return renderJson({
    schemaVersion: 1,
    tool: { name: 'mlsec', version },
    failOn,
    results: reports,
    summary: { ...summarize(reports), failed },
  });
}
