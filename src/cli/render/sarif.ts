import { createHash } from 'node:crypto';
import type { FileReport, Finding, Severity } from '../../core/findings.js';
import { allRules } from '../../core/scan/rules.js';
import { findingLocation } from './location.js';

const levels: Record<Severity, 'error' | 'warning' | 'note'> = {
  critical: 'error',
  high: 'error',
  medium: 'warning',
  low: 'note',
  info: 'note',
};

/** GitHub maps this score to its own critical/high/medium/low labels. */
const securitySeverity: Record<Severity, string> = {
  critical: '9.5',
  high: '8.0',
  medium: '5.5',
  low: '3.0',
  info: '0.0',
};

const uriOf = (path: string) => path.split('/').map(encodeURIComponent).join('/');

/** What SARIF needs of a report: scan's file reports, or the licence findings of one file. */
export type SarifReport = Pick<FileReport, 'path' | 'findings'>;

/** SARIF 2.1.0 as GitHub code scanning accepts it: stable rule ids, paths and fingerprints. */
export function renderSarif(reports: readonly SarifReport[], version: string): string {
  const ruleIndex = new Map(allRules.map((rule, index) => [rule.id, index]));
  const results = reports.flatMap((report) =>
    report.findings.map((finding) => result(report, finding, ruleIndex.get(finding.rule) ?? -1)),
  );
  const sarif = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'mlsec',
            version,
            semanticVersion: version,
            rules: allRules.map((rule) => ({
              id: rule.id,
              name: rule.name,
              shortDescription: { text: rule.summary },
              fullDescription: { text: rule.help },
              help: { text: rule.help },
              defaultConfiguration: { level: levels[rule.severity] },
              properties: {
                tags: ['security', 'ml-model'],
                'security-severity': securitySeverity[rule.severity],
              },
            })),
          },
        },
        results,
      },
    ],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}

function result(report: SarifReport, finding: Finding, ruleIndex: number) {
  const where = findingLocation(finding);
  // A model file has no lines; GitHub needs startLine, and SARIF forbids a text and a binary
  // region that disagree, so the byte offset travels in the message and properties instead.
  const region = { startLine: 1 };
  const fingerprint = createHash('sha256')
    .update(
      [
        finding.rule,
        report.path,
        finding.member ?? '',
        finding.global ?? '',
        finding.global ? '' : finding.message,
      ].join('\0'),
    )
    .digest('hex');
  return {
    ruleId: finding.rule,
    ruleIndex,
    level: levels[finding.severity],
    message: { text: where ? `${finding.message} (${where})` : finding.message },
    locations: [
      {
        physicalLocation: { artifactLocation: { uri: uriOf(report.path) }, region },
        ...(finding.member
          ? { logicalLocations: [{ fullyQualifiedName: finding.member, kind: 'module' }] }
          : {}),
      },
    ],
    partialFingerprints: { 'mlsecFinding/v1': fingerprint },
    properties: {
      severity: finding.severity,
      ...(finding.member ? { member: finding.member } : {}),
      ...(finding.offset !== undefined ? { offset: finding.offset } : {}),
      ...(finding.global ? { global: finding.global } : {}),
    },
  };
}
