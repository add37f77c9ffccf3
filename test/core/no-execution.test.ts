import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from '../helpers/cli.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Nothing a scan reads may reach an evaluator, a process or a dynamic import. */
const forbidden = [
  /\beval\s*\(/,
  /\bnew\s+Function\s*\(/,
  /from\s+'node:(vm|child_process|worker_threads)'/,
  /\bimport\s*\(\s*[^'"\s]/, // dynamic import of a computed specifier
  /\brequire\s*\(\s*[^'"\s]/,
];

describe('the scanner never executes what it reads', () => {
  it('src/core has no evaluator, process spawning or computed import', () => {
    const files = sources(join(root, 'src', 'core'));
    expect(files.length).toBeGreaterThan(20);
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const pattern of forbidden) expect(pattern.test(text), `${file} matches ${pattern}`).toBe(false);
    }
  });
});
