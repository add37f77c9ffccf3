import { describe, expect, it } from 'vitest';
import { type Case, runDifferential } from '../../../../oracle/differential.js';
import { oracleUnavailable } from '../../../../oracle/oracle.js';

const unavailable = oracleUnavailable();
const title = unavailable
  ? `pickle scanning agrees with CPython (skipped: ${unavailable})`
  : 'pickle scanning agrees with CPython';

/** Enough of a case to reproduce it from the test output. */
function show(c: Case): string {
  return `${Buffer.from(c.input).toString('hex')}: ${JSON.stringify(c.disagreements)}`;
}

/**
 * mlsec against CPython's own unpicklers (C and pure Python, from memory and from files with and
 * without peek), instrumented to record instead of run: every dangerous global one of them imports
 * must be blocked by name, every hostile act (a call on a value built while loading, an extension
 * lookup, BUILD on a global) must be blocked, and an input all of them load cleanly and alike,
 * with only safe globals, must not be blocked. `npm run fuzz` runs the same comparison for longer.
 */
describe.skipIf(unavailable !== undefined)(title, () => {
  it('on 4000 generated and mutated pickles (fixed seed)', async () => {
    const result = await runDifferential({ seed: 20261202, count: 4000 });
    expect(result.cases).toBe(4000);
    expect(result.disagreements.map(show)).toEqual([]);
  }, 120_000);
});
