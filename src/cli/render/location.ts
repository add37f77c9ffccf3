import type { Finding } from '../../core/findings.js';

/** `member @ offset` in one short string, for tables and SARIF messages. */
export function findingLocation(finding: Finding): string {
  const parts: string[] = [];
  if (finding.member) parts.push(finding.member);
  if (finding.offset !== undefined) parts.push(`@${finding.offset}`);
  return parts.join(' ');
}
