import type { ChalkInstance } from 'chalk';
import type { Severity } from '../../core/findings.js';
import type { LicenseReport } from '../../core/license/detect.js';
import { printable } from '../output.js';

const severityColor: Record<Severity, (c: ChalkInstance) => ChalkInstance> = {
  critical: (c) => c.bgRed.white.bold,
  high: (c) => c.red.bold,
  medium: (c) => c.yellow,
  low: (c) => c.cyan,
  info: (c) => c.gray,
};

/** One block per model directory: the concluded licence, every source with its evidence, then findings. */
export function renderLicenseTable(
  reports: readonly LicenseReport[],
  options: { color: ChalkInstance; failed: boolean; failOn: Severity | 'never'; policy: boolean },
): string {
  const c = options.color;
  const lines: string[] = [];
  for (const report of reports) {
    const concluded = report.concluded
      ? `${report.concluded} (${report.categories.join(', ')})`
      : c.yellow('no licence identified');
    lines.push(`${c.bold(printable(report.path))}  ${concluded}`);
    const rows = report.detections.map((d) =>
      [
        d.source,
        d.line === undefined ? d.file : `${d.file}:${d.line}`,
        d.field,
        truncate(d.value, 40),
        d.expression ?? '?',
        d.confidence.toFixed(2),
      ].map((cell) => printable(cell)),
    );
    if (rows.length > 0) {
      const table = [['SOURCE', 'FILE', 'FIELD', 'VALUE', 'LICENCE', 'CONF'], ...rows];
      const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
      for (const [index, row] of table.entries()) {
        const text = `  ${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}`.trimEnd();
        lines.push(index === 0 ? c.dim(text) : text);
      }
    }
    for (const f of report.findings) {
      const label = severityColor[f.severity](c)(f.severity.toUpperCase().padEnd(8));
      lines.push(`  ${label} ${f.rule}  ${printable(f.message)}  (${printable(f.path)})`);
    }
    lines.push('');
  }
  const findings = reports.reduce((sum, r) => sum + r.findings.length, 0);
  const verdict = options.failed ? c.red.bold('FAILED') : c.green.bold(options.policy ? 'PASSED' : 'DONE');
  lines.push(
    `${verdict} (fail-on ${options.failOn}${options.policy ? '' : ', no licence policy'}) ${reports.length} model${reports.length === 1 ? '' : 's'}, ${findings} finding${findings === 1 ? '' : 's'}`,
  );
  return `${lines.join('\n')}\n`;
}

function truncate(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length <= width ? flat : `${flat.slice(0, width - 1)}…`;
}
