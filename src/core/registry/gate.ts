import { atLeast, type FileReport, type Severity } from '../findings.js';

/**
 * One check that may refuse a push or a pull: the scan now; licence policy and signatures plug in
 * as further gates of the same shape.
 */
export interface GateResult {
  gate: string;
  blocked: boolean;
  /** One line for people: why it passed or what blocked. */
  message: string;
}

export function scanGate(reports: readonly FileReport[], failOn: Severity | 'never'): GateResult {
  const blocking =
    failOn === 'never'
      ? []
      : reports.flatMap((r) => r.findings.filter((f) => atLeast(f.severity, failOn)).map((f) => ({ r, f })));
  const unreadable = reports.filter((r) => r.status === 'error');
  if (blocking.length > 0) {
    const first = blocking[0]!;
    return {
      gate: 'scan',
      blocked: true,
      message: `${blocking.length} finding${blocking.length === 1 ? '' : 's'} at ${failOn} or above (first: ${first.r.path}: ${first.f.rule} ${first.f.severity})`,
    };
  }
  if (unreadable.length > 0) {
    return { gate: 'scan', blocked: true, message: `${unreadable[0]!.path} could not be scanned` };
  }
  return {
    gate: 'scan',
    blocked: false,
    message: `${reports.length} files scanned, nothing at ${failOn} or above`,
  };
}

export function anyBlocked(results: readonly GateResult[]): boolean {
  return results.some((r) => r.blocked);
}
