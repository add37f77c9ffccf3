import { compareFindings, type FileReport } from '../core/findings.js';
import { detectLicense, type LicenseReport } from '../core/license/detect.js';
import { compileLicensePolicy, evaluateLicensePolicy } from '../core/license/policy.js';
import { spdxReferenceTexts } from '../core/license/spdx-texts.js';
import { LicenseTextMatcher } from '../core/license/text-match.js';
import type { MlsecConfig } from '../io/config.js';
import { collectLicenseUnits, type LicenseUnit } from '../io/license-sources.js';

export interface LicenseAnalysis {
  reports: LicenseReport[];
  units: LicenseUnit[];
  /** Whether a `license:` policy was evaluated. */
  policy: boolean;
}

/** Detection over every model directory under `paths`, and the config's licence policy when it has one. */
export async function analyzeLicenses(
  paths: readonly string[],
  options: { cwd: string; exclude: readonly string[]; config: MlsecConfig; now: Date },
): Promise<LicenseAnalysis> {
  const policy = options.config.license
    ? compileLicensePolicy(options.config.license, options.config.path ?? '.mlsec.yaml', options.config.lines)
    : undefined;
  const units = await collectLicenseUnits(paths, { cwd: options.cwd, exclude: options.exclude });
  let matcher: LicenseTextMatcher | undefined;
  const getMatcher = () => {
    matcher ??= new LicenseTextMatcher(spdxReferenceTexts());
    return matcher;
  };
  const reports = units.map((unit) => {
    const report = detectLicense(unit.path, unit.sources, getMatcher);
    if (policy) report.findings.push(...evaluateLicensePolicy(report, policy, options.now));
    report.findings.sort((a, b) => compareFindings(a, b) || a.path.localeCompare(b.path));
    return report;
  });
  return { reports, units, policy: policy !== undefined };
}

/** Licence findings into scan reports: on the evidence file's report, or a `license` report of their own. */
export async function mergeLicenseFindings(
  reports: FileReport[],
  paths: readonly string[],
  options: { cwd: string; exclude: readonly string[]; config: MlsecConfig; now: Date },
): Promise<void> {
  attachLicenseFindings(reports, await analyzeLicenses(paths, options));
}

/** Licence findings join the report of the file they concern; a finding on no scanned file gets its own. */
export function attachLicenseFindings(reports: FileReport[], analysis: LicenseAnalysis): void {
  for (const { path, ...finding } of analysis.reports.flatMap((r) => r.findings)) {
    let report = reports.find((r) => r.path === path);
    if (!report) {
      report = { path, format: 'license', size: 0, findings: [], bytesRead: 0, status: 'complete' };
      reports.push(report);
    }
    report.findings = [...report.findings, finding].sort(compareFindings);
  }
}
