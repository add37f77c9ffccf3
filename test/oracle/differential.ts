import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Finding } from '../../src/core/findings.js';
import { defaultLimits } from '../../src/core/scan/limits.js';
import { GlobalPolicy } from '../../src/core/scan/policy/global-policy.js';
import { scanSource } from '../../src/core/scan/scan-source.js';
import { bufferSource } from '../../src/core/source.js';
import { fixture } from '../helpers/cli.js';
import { nextInput, seededRandom } from './generate.js';
import { type Disagreement, judge } from './judge.js';
import { Oracle, type OracleResult } from './oracle.js';

export interface Case {
  input: Uint8Array;
  oracle: OracleResult;
  findings: Finding[];
  disagreements: Disagreement[];
}

const policy = new GlobalPolicy();

export async function mlsecFindings(input: Uint8Array): Promise<Finding[]> {
  const scan = await scanSource(bufferSource(input), 'case.pkl', { policy, limits: defaultLimits });
  return scan.findings;
}

/** The pickles among the scan fixtures, small enough to mutate, as the seeds of mutation. */
export function pickleCorpus(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const folder of ['malicious', 'benign', 'broken']) {
    const dir = fixture(folder);
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (!statSync(path).isFile() || statSync(path).size > 64 * 1024) continue;
      const bytes = readFileSync(path);
      if (bytes[0] === 0x80 || /\.(pkl|pickle|p)$/.test(name)) out.push(bytes);
    }
  }
  return out;
}

/**
 * Generates inputs from `seed` and compares mlsec with CPython's readers on each, until `count`
 * cases ran or `deadline` (ms since the epoch) passed. Calls `onCase` for every case.
 */
export async function runDifferential(options: {
  seed: number;
  count?: number;
  deadline?: number;
  onCase?: (c: Case, index: number) => void | Promise<void>;
}): Promise<{ cases: number; disagreements: Case[]; oracleTimeouts: number }> {
  const random = seededRandom(options.seed);
  const corpus = pickleCorpus();
  const oracle = new Oracle();
  const disagreements: Case[] = [];
  let cases = 0;
  let oracleTimeouts = 0;
  try {
    while (
      (options.count === undefined || cases < options.count) &&
      (options.deadline === undefined || Date.now() < options.deadline)
    ) {
      const input = nextInput(random, corpus);
      const [result, findings] = await Promise.all([oracle.run(input), mlsecFindings(input)]);
      if (result.timedOut) oracleTimeouts += 1;
      const found = judge(result, findings);
      const c: Case = { input, oracle: result, findings, disagreements: found };
      if (found.length > 0) disagreements.push(c);
      await options.onCase?.(c, cases);
      cases += 1;
    }
  } finally {
    oracle.close();
  }
  return { cases, disagreements, oracleTimeouts };
}
