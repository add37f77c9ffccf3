export const severities = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof severities)[number];

export function severityRank(severity: Severity): number {
  return severities.indexOf(severity);
}

export function isSeverity(value: string): value is Severity {
  return (severities as readonly string[]).includes(value);
}

export function atLeast(severity: Severity, threshold: Severity): boolean {
  return severityRank(severity) >= severityRank(threshold);
}

export function maxSeverity(values: Iterable<Severity>): Severity | undefined {
  let best: Severity | undefined;
  for (const value of values) {
    if (best === undefined || severityRank(value) > severityRank(best)) best = value;
  }
  return best;
}

/** One thing a reader noticed. `member` names the place inside a container, `offset` the byte there. */
export interface Finding {
  rule: string;
  severity: Severity;
  message: string;
  /** Path inside the container, outermost first, joined with '!' (e.g. `archive/data.pkl`). */
  member?: string;
  /** Byte offset of the opcode or record, inside `member` when set, else inside the file. */
  offset?: number;
  /** The imported global, as `module.name`. */
  global?: string;
  /** How many times the same rule fired for the same global in the same member. */
  count?: number;
}

/** What scanning one file found. `formats` lists every format seen, outermost first. */
export interface FileReport {
  path: string;
  format: string;
  size: number;
  findings: Finding[];
  /** Bytes actually read from the file, to show that tensor data was skipped. */
  bytesRead: number;
  /** `complete` unless a limit or damage stopped the reader early. */
  status: 'complete' | 'partial' | 'error';
}

export interface ScanSummary {
  files: number;
  findings: number;
  bySeverity: Record<Severity, number>;
  highest: Severity | null;
  bytesRead: number;
}

export function summarize(reports: readonly FileReport[]): ScanSummary {
  const bySeverity: Record<Severity, number> = { info: 0, low: 0, medium: 0, high: 0, critical: 0 };
  let findings = 0;
  let bytesRead = 0;
  for (const report of reports) {
    bytesRead += report.bytesRead;
    for (const finding of report.findings) {
      bySeverity[finding.severity] += 1;
      findings += 1;
    }
  }
  const highest = maxSeverity(reports.flatMap((r) => r.findings.map((f) => f.severity))) ?? null;
  return { files: reports.length, findings, bySeverity, highest, bytesRead };
}

/** Stable order for output: most severe first, then by member and offset. */
export function compareFindings(a: Finding, b: Finding): number {
  return (
    severityRank(b.severity) - severityRank(a.severity) ||
    (a.member ?? '').localeCompare(b.member ?? '') ||
    (a.offset ?? -1) - (b.offset ?? -1) ||
    a.rule.localeCompare(b.rule)
  );
}
