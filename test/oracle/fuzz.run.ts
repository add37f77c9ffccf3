import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { python3Missing } from '../helpers/python.js';
import { type Case, mlsecFindings, runDifferential } from './differential.js';
import { judge } from './judge.js';
import { Oracle } from './oracle.js';

/**
 * MLSEC_FUZZ_REPLAY=DIR judges the reproducers (*.pkl) a run wrote to DIR again, with the scanner
 * as it is now: each disagreement fixed leaves the list.
 */
const replay = process.env.MLSEC_FUZZ_REPLAY;

it.runIf(replay !== undefined)(
  `replays the reproducers in ${replay}`,
  async () => {
    const oracle = new Oracle();
    const left: string[] = [];
    const names = readdirSync(replay!).filter((name) => name.endsWith('.pkl'));
    for (const name of names) {
      const input = readFileSync(join(replay!, name));
      const found = judge(await oracle.run(input), await mlsecFindings(input));
      if (found.length > 0) left.push(`${name}: ${JSON.stringify(found)}`);
    }
    oracle.close();
    process.stdout.write(`replay: ${names.length} reproducers, ${left.length} still disagree\n`);
    expect(left).toEqual([]);
  },
  600_000,
);

/**
 * The differential fuzzer: MLSEC_FUZZ_SECONDS (default 60) of generated and mutated pickles,
 * each compared with CPython's readers. Every disagreement is written to MLSEC_FUZZ_OUT (default
 * fuzz-findings/) as the input (.pkl) and what each side saw (.json), to become a fixture.
 */
const seconds = Number(process.env.MLSEC_FUZZ_SECONDS ?? 60);
const seed = Number(process.env.MLSEC_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const out = resolve(process.env.MLSEC_FUZZ_OUT ?? 'fuzz-findings');

it.runIf(replay === undefined)(`fuzzes for ${seconds} s from seed ${seed}`, async () => {
  const unavailable = python3Missing();
  if (unavailable) throw new Error(`the fuzzer needs CPython: ${unavailable}`);
  mkdirSync(out, { recursive: true });
  const started = Date.now();
  let lastReport = started;
  const save = (c: Case) => {
    const id = createHash('sha256').update(c.input).digest('hex').slice(0, 16);
    const kinds = [...new Set(c.disagreements.map((d) => d.kind))].join('+');
    writeFileSync(join(out, `${kinds}-${id}.pkl`), c.input);
    const summary = { disagreements: c.disagreements, findings: c.findings, oracle: c.oracle.modes };
    writeFileSync(join(out, `${kinds}-${id}.json`), `${JSON.stringify(summary, null, 2)}\n`);
  };
  const result = await runDifferential({
    seed,
    deadline: started + seconds * 1000,
    onCase: (c, index) => {
      if (c.disagreements.length > 0) save(c);
      if (Date.now() - lastReport > 60_000) {
        lastReport = Date.now();
        process.stdout.write(`${Math.round((lastReport - started) / 1000)} s: ${index + 1} cases\n`);
      }
    },
  });
  const line = `fuzz: seed ${seed}, ${result.cases} cases in ${Math.round((Date.now() - started) / 1000)} s, ${result.disagreements.length} disagreements, ${result.oracleTimeouts} oracle time-outs`;
  process.stdout.write(`${line}\n`);
  writeFileSync(join(out, `summary-${seed}.txt`), `${line}\n`);
  expect(result.disagreements.length, `reproducers in ${out}`).toBe(0);
});
