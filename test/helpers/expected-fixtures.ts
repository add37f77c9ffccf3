import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './cli.js';
import { scanBytes } from './scan.js';

/**
 * Exact findings of a fixture family whose generator writes `expected.json` (path → rows of
 * rule, global, member): malicious files are blocked at high or above, the others never.
 */
export function describeExpectedFixtures(family: string, title: string): void {
  const folder = join(root, 'fixtures', family);
  const expected = JSON.parse(readFileSync(join(folder, 'expected.json'), 'utf8')) as Record<
    string,
    [string, string | null, string | null][]
  >;
  const order = (rows: (string | null)[][]) => rows.map((r) => JSON.stringify(r)).sort();
  describe(title, () => {
    for (const [path, findings] of Object.entries(expected)) {
      it(path, async () => {
        const result = await scanBytes(readFileSync(join(folder, path)), { name: path });
        const got = result.findings.map((f) => [f.rule, f.global ?? null, f.member ?? null]);
        expect(order(got)).toEqual(order(findings));
        const blocking = result.findings.filter((f) => f.severity === 'high' || f.severity === 'critical');
        if (path.startsWith('malicious/')) expect(blocking.length).toBeGreaterThan(0);
        else expect(blocking).toEqual([]);
      });
    }
  });
}
