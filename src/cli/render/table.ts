import type { ChalkInstance } from 'chalk';
import { type FileReport, type ScanSummary, type Severity, severities } from '../../core/findings.js';
import { printable } from '../output.js';
import { findingLocation } from './location.js';

function paint(color: ChalkInstance, severity: Severity): (text: string) => string {
  switch (severity) {
    case 'critical':
      return (t) => color.bold.red(t);
    case 'high':
      return (t) => color.red(t);
    case 'medium':
      return (t) => color.yellow(t);
    case 'low':
      return (t) => color.cyan(t);
    default:
      return (t) => color.dim(t);
  }
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * Files with findings, one block each, then a one-line summary. Clean files only with `showClean`.
 * Names and messages come from the files: each is made printable whole, line feeds included, so
 * none can start a line of its own (a forged `PASS`).
 */
export function renderTable(
  reports: readonly FileReport[],
  summary: ScanSummary,
  options: { color: ChalkInstance; showClean: boolean; failed: boolean; failOn: string },
): string {
  const { color } = options;
  const lines: string[] = [];
  for (const report of reports) {
    if (report.findings.length === 0 && !options.showClean) continue;
    const status = report.status === 'complete' ? '' : color.yellow(` [${report.status}]`);
    lines.push(`${color.bold(printable(report.path))} ${color.dim(`(${report.format})`)}${status}`);
    if (report.findings.length === 0) lines.push(`  ${color.green('no findings')}`);
    const width = Math.max(0, ...report.findings.map((f) => f.rule.length));
    for (const finding of report.findings) {
      const severity = paint(color, finding.severity)(finding.severity.toUpperCase().padEnd(8));
      const where = printable(findingLocation(finding));
      const count = finding.count && finding.count > 1 ? color.dim(` (x${finding.count})`) : '';
      lines.push(
        `  ${severity} ${finding.rule.padEnd(width)}  ${printable(finding.message)}${count}${where ? color.dim(`  ${where}`) : ''}`,
      );
    }
    lines.push('');
  }
  const counts = severities
    .slice()
    .reverse()
    .filter((s) => summary.bySeverity[s] > 0)
    .map((s) => paint(color, s)(`${summary.bySeverity[s]} ${s}`));
  const found =
    summary.findings === 0
      ? color.green('no findings')
      : `${summary.findings} finding${summary.findings === 1 ? '' : 's'} (${counts.join(', ')})`;
  const verdict = options.failed
    ? color.red(`FAIL (fail-on ${options.failOn})`)
    : color.green(options.failOn === 'never' ? 'DONE (fail-on never)' : 'PASS');
  lines.push(
    `${verdict} scanned ${summary.files} file${summary.files === 1 ? '' : 's'}, read ${formatBytes(summary.bytesRead)}: ${found}`,
  );
  return `${lines.join('\n')}\n`;
}
