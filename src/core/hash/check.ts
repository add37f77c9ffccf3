/** One line of a checksum check, as `sha256sum -c` reports it, plus files nobody listed. */
export type CheckStatus = 'OK' | 'FAILED' | 'MISSING' | 'EXTRA';

export interface CheckLine {
  name: string;
  status: CheckStatus;
  expected?: string;
  actual?: string;
}

export interface CheckReport {
  lines: CheckLine[];
  counts: Record<CheckStatus, number>;
  /** True when every listed file matched and nothing was added. */
  ok: boolean;
}

/**
 * Compares what a checksum file lists with what was computed. `actual` maps each listed name to
 * its digest, or undefined when the file is missing; `present` are files found that may be unlisted.
 */
export function compareChecksums(
  expected: readonly { name: string; hex: string }[],
  actual: ReadonlyMap<string, string | undefined>,
  present: readonly string[] = [],
): CheckReport {
  const lines: CheckLine[] = expected.map(({ name, hex }) => {
    const got = actual.get(name);
    if (got === undefined) return { name, status: 'MISSING', expected: hex };
    return { name, status: got === hex.toLowerCase() ? 'OK' : 'FAILED', expected: hex, actual: got };
  });
  const listed = new Set(expected.map((e) => e.name));
  for (const name of present) if (!listed.has(name)) lines.push({ name, status: 'EXTRA' });
  const counts: Record<CheckStatus, number> = { OK: 0, FAILED: 0, MISSING: 0, EXTRA: 0 };
  for (const line of lines) counts[line.status] += 1;
  return { lines, counts, ok: counts.FAILED + counts.MISSING + counts.EXTRA === 0 };
}
