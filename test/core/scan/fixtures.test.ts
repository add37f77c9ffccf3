import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { atLeast, type FileReport } from '../../../src/core/findings.js';
import { GlobalPolicy } from '../../../src/core/scan/policy/global-policy.js';
import { scanArtifact } from '../../../src/core/scan/scan-artifact.js';
import { openFileArtifact } from '../../../src/io/file-source.js';
import { fixture, root } from '../../helpers/cli.js';
import { brief } from '../../helpers/scan.js';

interface ManifestEntry {
  path: string;
  category: 'malicious' | 'benign' | 'broken';
  dangerous?: string[];
  technique: string;
}

const manifest = (file: string): ManifestEntry[] =>
  (JSON.parse(readFileSync(fixture(file), 'utf8')) as { fixtures: ManifestEntry[] }).fixtures;
const generated = manifest('manifest.json');
const real = manifest('benign/real/manifest.json').map((entry) => ({
  ...entry,
  path: entry.path.startsWith('benign/') ? entry.path : `benign/real/${entry.path}`,
  category: 'benign' as const,
}));

async function scan(path: string): Promise<FileReport> {
  const absolute = fixture(path);
  return scanArtifact({ path, size: readFileSync(absolute).length, open: () => openFileArtifact(absolute) });
}

/** Fixtures whose payload cannot be seen by design: the container itself is the finding. */
const containerVerdicts: Record<string, string> = {
  'malicious/zip-encrypted-flag-only.zip': 'MLSEC-CONTAINER-001',
  'malicious/zip-encrypted-zipcrypto.zip': 'MLSEC-CONTAINER-001',
  'malicious/zip-unsupported-method-93.zip': 'MLSEC-CONTAINER-001',
  'malicious/zip-unsupported-method-99.zip': 'MLSEC-CONTAINER-001',
  'malicious/zip-bomb.pt': 'MLSEC-CONTAINER-003',
  'malicious/zip-bomb-nested.zip': 'MLSEC-CONTAINER-003',
  'malicious/ext1-reduce.pkl': 'MLSEC-PICKLE-006',
  'malicious/ext2-reduce.pkl': 'MLSEC-PICKLE-006',
  'malicious/ext4-reduce.pkl': 'MLSEC-PICKLE-006',
  'malicious/persid-reduce.pkl': 'MLSEC-PICKLE-005',
  'malicious/binpersid-reduce.pkl': 'MLSEC-PICKLE-005',
};

const defaultPolicy = new GlobalPolicy();
function isDangerousByItself(global: string): boolean {
  if (global.includes('<')) return false;
  const cut = global.lastIndexOf('.');
  const verdict = defaultPolicy.classify(global.slice(0, cut), global.slice(cut + 1));
  return verdict.verdict !== 'safe' && !verdict.trustedLoader;
}

describe('malicious fixtures: every one is reported at high or above', () => {
  for (const entry of generated.filter((e) => e.category === 'malicious')) {
    it(`${entry.path} (${entry.technique})`, async () => {
      const report = await scan(entry.path);
      const blocking = report.findings.filter((f) => atLeast(f.severity, 'high'));
      expect(blocking.length).toBeGreaterThan(0);
      const container = containerVerdicts[entry.path];
      if (container) {
        expect(blocking.map((f) => f.rule)).toContain(container);
        return;
      }
      // The generator's own record of the globals it used is an oracle independent of the scanner;
      // the helpers it also lists (argparse.Namespace, io.BytesIO...) are safe on their own.
      for (const global of (entry.dangerous ?? []).filter(isDangerousByItself)) {
        expect(
          blocking.map((f) => f.global),
          `${global} in ${entry.path}`,
        ).toContain(global);
      }
    });
  }
});

describe('benign fixtures: nothing at high or above', () => {
  for (const entry of [...generated.filter((e) => e.category === 'benign'), ...real]) {
    it(entry.path, async () => {
      const report = await scan(entry.path);
      expect(report.findings.filter((f) => atLeast(f.severity, 'high'))).toEqual([]);
      expect(report.status).toBe('complete');
    });
  }
});

/**
 * Exact findings (rule, severity, global, member, offset) for every fixture, pinned in a golden
 * file that was reviewed by hand. Regenerate with MLSEC_UPDATE_GOLDEN=1 and review the diff.
 */
describe('exact findings of every fixture', () => {
  const goldenPath = join(root, 'test', 'core', 'scan', 'fixtures.golden.json');
  const all = [...generated, ...real].map((e) => e.path).sort();
  it('match the reviewed golden file', async () => {
    const actual: Record<string, unknown> = {};
    for (const path of all) {
      const report = await scan(path);
      actual[path] = { format: report.format, status: report.status, findings: brief(report.findings) };
    }
    if (process.env.MLSEC_UPDATE_GOLDEN || !existsSync(goldenPath)) {
      writeFileSync(goldenPath, `${JSON.stringify(actual, null, 2)}\n`);
    }
    expect(actual).toEqual(JSON.parse(readFileSync(goldenPath, 'utf8')));
  });
});
