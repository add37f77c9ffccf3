import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { atLeast, type FileReport } from '../../../../../src/core/findings.js';
import { scanArtifact } from '../../../../../src/core/scan/scan-artifact.js';
import { openFileArtifact } from '../../../../../src/io/file-source.js';
import { root } from '../../../../helpers/cli.js';

const base = join(root, 'fixtures', 'gguf');
const expected = (
  JSON.parse(readFileSync(join(base, 'expected.json'), 'utf8')) as { fixtures: Record<string, string[]> }
).fixtures;

async function scan(path: string): Promise<FileReport> {
  const absolute = join(base, path);
  return scanArtifact({ path, size: statSync(absolute).size, open: () => openFileArtifact(absolute) });
}

describe('GGUF and chat-template fixtures (fixtures/gguf/generate.py)', () => {
  for (const [path, rules] of Object.entries(expected)) {
    it(`${path}: ${rules.join(', ') || 'no finding'}`, async () => {
      const report = await scan(path);
      expect([...new Set(report.findings.map((f) => f.rule))].sort()).toEqual(rules);
      if (path.startsWith('malicious/'))
        expect(report.findings.some((f) => atLeast(f.severity, 'high'))).toBe(true);
      if (path.startsWith('benign/')) expect(report.findings).toEqual([]);
      if (path.startsWith('broken/')) {
        expect(report.findings.every((f) => f.severity === 'medium')).toBe(true);
      }
    });
  }
});
