import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  parseIntLiteral,
  parseLongLiteral,
  parseMemoIndex,
} from '../../../../../src/core/scan/formats/pickle/python-literals.js';
import { oracleUnavailable } from '../../../../oracle/oracle.js';

const spellings = [
  '42',
  '0x2a',
  '0X2A',
  '0o17',
  '0O17',
  '0b101',
  '017',
  '08',
  '00',
  '01',
  '0',
  '-0',
  '+1',
  ' 12',
  '12 ',
  '1_000',
  '1__0',
  '_1',
  '1_',
  '0x_1f',
  '0x__1',
  '0_0',
  '007',
  '12\u0000junk',
  '\u0000',
  '',
  ' ',
  '-',
  '0x',
  '1e3',
  '9223372036854775807',
  '9223372036854775808',
  '-9223372036854775809',
  '0xffffffffffffffffff',
  '12L',
  '0x1fL',
  'L',
  '1 2',
  '\t7\r',
  '٣',
];

/** What CPython's C unpickler makes of `INT <s>`, `LONG <s>` and `GET <s>` after `PUT 10`. */
function cpython(): { int: string; long: string; memo: string }[] {
  const script = `
import json, pickle, sys
out = []
for s in json.loads(sys.stdin.read()):
    row = {}
    for key, opcode in (("int", b"I"), ("long", b"L")):
        try:
            value = pickle.loads(opcode + s.encode("latin-1") + b"\\n.")
            row[key] = repr(value)
        except Exception:
            row[key] = "error"
    try:
        pickle.loads(b"N" + b"p10\\n" + b"0" + b"g" + s.encode("latin-1") + b"\\n.")
        row["memo"] = "10"
    except Exception:
        row["memo"] = "error"
    out.append(row)
print(json.dumps(out))
`;
  const run = spawnSync('python3', ['-c', script], { input: JSON.stringify(spellings), encoding: 'utf8' });
  return JSON.parse(run.stdout) as { int: string; long: string; memo: string }[];
}

function ours(s: string) {
  const show = (v: ReturnType<typeof parseIntLiteral>) =>
    v === undefined ? 'error' : v.bool ? (s.trim().endsWith('1') ? 'True' : 'False') : `${v.value}`;
  const index = parseMemoIndex(s);
  return {
    int: show(parseIntLiteral(s)),
    long: show(parseLongLiteral(s)),
    memo: index === 10n ? '10' : 'error',
  };
}

const unavailable = oracleUnavailable();

describe.skipIf(unavailable !== undefined)(
  unavailable ? `integer literals (skipped: ${unavailable})` : 'integer literals read as CPython reads them',
  () => {
    it('INT, LONG and memo indices agree with the C unpickler on every spelling', () => {
      const expected = cpython();
      spellings.forEach((s, i) => {
        expect(ours(s), JSON.stringify(s)).toEqual(expected[i]);
      });
    });
  },
);
