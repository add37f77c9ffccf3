import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defaultLimits } from '../../../../../src/core/scan/limits.js';
import { fixture } from '../../../../helpers/cli.js';
import { asm, op } from '../../../../helpers/pickle-asm.js';
import { brief, scanBytes } from '../../../../helpers/scan.js';

const scanFixture = async (path: string) => brief((await scanBytes(readFileSync(fixture(path)))).findings);
const osSystem = (offset: number) => ({
  rule: 'MLSEC-PICKLE-001',
  severity: 'critical',
  global: 'os.system',
  offset,
});
const enc = new TextEncoder();
const payload0 = enc.encode("cos\nsystem\n(S'echo mlsec-fixture'\ntR.");

/**
 * Where CPython's readers read another program than a scanner would: each class has a fixture
 * (fixtures/scan/generate.py checks each against CPython's own unpicklers) and exact findings.
 */
describe("framing: both of CPython's readings are scanned", () => {
  it('a string running past its frame hides a payload from pickle.loads, not from files', async () => {
    expect(await scanFixture('malicious/frame-file-reader-payload.pkl')).toEqual([
      osSystem(51),
      { rule: 'MLSEC-PICKLE-014', severity: 'high', offset: 11 },
    ]);
  });

  it('a pickle ending inside its frame: the next one starts after the frame for files', async () => {
    expect(await scanFixture('malicious/frame-stop-inside-frame.pkl')).toEqual([
      osSystem(50),
      { rule: 'MLSEC-PICKLE-014', severity: 'high', offset: 12 },
    ]);
  });

  it('a length field running past its frame: memory readers stop on a petabyte, files read on', async () => {
    expect(await scanFixture('malicious/frame-length-across-frame.pkl')).toEqual([
      osSystem(64),
      { rule: 'MLSEC-PICKLE-009', severity: 'medium', offset: 11 },
      { rule: 'MLSEC-PICKLE-014', severity: 'high', offset: 11 },
    ]);
  });

  it('the same behind a MARK, so no protocol header says it is a pickle: the disagreement does', async () => {
    const bytes = asm([0x28], Array.from(readFileSync(fixture('malicious/frame-length-across-frame.pkl'))));
    expect(brief((await scanBytes(bytes)).findings)).toEqual([
      osSystem(65),
      { rule: 'MLSEC-PICKLE-009', severity: 'medium', offset: 12 },
      { rule: 'MLSEC-PICKLE-014', severity: 'high', offset: 12 },
    ]);
  });

  it('a frame inside a frame, longer than its rest', async () => {
    expect(await scanFixture('malicious/frame-nested-longer-frame.pkl')).toEqual([
      osSystem(57),
      { rule: 'MLSEC-PICKLE-014', severity: 'high', offset: 11 },
    ]);
  });

  it('frames the pickler writes (on opcode boundaries) are no finding', async () => {
    const framed = asm(op.proto(4), op.frame(4), op.none(), op.pop(), op.none(), op.stop());
    expect(brief((await scanBytes(framed)).findings)).toEqual([]);
  });
});

describe('text literals: what CPython accepts, mlsec reads', () => {
  it('INT and LONG in int() syntax', async () => {
    expect(await scanFixture('malicious/int-literals-then-payload.pkl')).toEqual([osSystem(75)]);
  });

  it('INT in C syntax only the C unpickler takes (octal, NUL-terminated)', async () => {
    expect(await scanFixture('malicious/int-c-only-literals-then-payload.pkl')).toEqual([osSystem(52)]);
  });

  it('memo indices with underscores and blanks', async () => {
    expect(await scanFixture('malicious/memo-underscore-index.pkl')).toEqual([osSystem(51)]);
  });

  it('a text argument of 2 MiB is read past, to the payload after it', async () => {
    const long = new Uint8Array(2 * 2 ** 20 + 3).fill(0x41);
    long[0] = 0x27;
    long[long.length - 2] = 0x27;
    long[long.length - 1] = 0x0a;
    const bytes = asm([0x28, 0x53], Array.from(long), op.tuple(), op.pop(), Array.from(payload0));
    expect(brief((await scanBytes(bytes)).findings)).toEqual([osSystem(bytes.length - 2)]);
  });

  it('a memo index after 2 MiB of blanks is still index 1', async () => {
    const bytes = asm(
      op.proto(4),
      op.str('os'),
      op.str('system'),
      [0x70, 0x31, 0x0a], // PUT 1
      op.pop(),
      [0x67],
      new Array(2 * 2 ** 20).fill(0x20),
      [0x31, 0x0a], // GET <blanks>1
      op.stackGlobal(),
      op.str('echo mlsec-fixture'),
      op.tuple1(),
      op.reduce(),
      op.stop(),
    );
    expect(brief((await scanBytes(bytes)).findings)).toEqual([osSystem(bytes.length - 2)]);
  });
});

describe('trailing data', () => {
  it('a last GLOBAL without its newline imports what the pure-Python reader imports (the name less a byte)', async () => {
    const legacy = readFileSync(fixture('malicious/torch-legacy-sixth-pickle.pt'));
    const fivePickles = legacy.subarray(0, legacy.length - payload0.length);
    const bytes = asm(Array.from(fivePickles), Array.from(enc.encode('cos\nsystemX')));
    expect(brief((await scanBytes(bytes)).findings)).toEqual([
      { rule: 'MLSEC-PICKLE-002', severity: 'high', global: 'os.system', offset: fivePickles.length },
    ]);
  });

  it('a pickle after a junk byte is analysed like the first', async () => {
    expect(await scanFixture('malicious/trailing-junk-then-payload.pkl')).toEqual([
      osSystem(103),
      { rule: 'MLSEC-PICKLE-011', severity: 'low', offset: 59 },
    ]);
  });

  it('junk that only looks like pickles in places adds nothing', async () => {
    const junk = enc.encode('N.\nctorch._utils\n_rebuild_tensor_v2\n\xff collections OrderedDict ');
    const bytes = asm(op.proto(2), op.none(), op.stop(), [0xff], Array.from(junk));
    expect(brief((await scanBytes(bytes)).findings)).toEqual([
      { rule: 'MLSEC-PICKLE-011', severity: 'low', offset: 4 },
    ]);
  });
});

describe('denial of service on the loader', () => {
  it('bytearray(2**40) is a medium finding naming the allocation', async () => {
    const report = await scanBytes(readFileSync(fixture('broken/bytearray-2-40.pkl')));
    expect(report.findings).toEqual([
      {
        rule: 'MLSEC-PICKLE-015',
        severity: 'medium',
        message: 'builtins.bytearray(…) allocates about 1099511627776 bytes when loaded',
        offset: 34,
        global: '__builtin__.bytearray',
      },
    ]);
  });

  it('shared references nested 64 deep: 2**64 objects when traversed', async () => {
    const report = await scanBytes(readFileSync(fixture('broken/memo-expansion-2-64.pkl')));
    expect(brief(report.findings)).toEqual([{ rule: 'MLSEC-PICKLE-015', severity: 'medium', offset: 217 }]);
  });

  it('list(range(2**40)) is one too; range(2**40) alone is lazy and is not', async () => {
    const range = (n: number) => [
      ...op.global('builtins', 'range'),
      ...[0x8a, 6, ...new Uint8Array(new BigUint64Array([BigInt(n)]).buffer).subarray(0, 6)],
      ...op.tuple1(),
      ...op.reduce(),
    ];
    const materialised = asm(
      op.proto(2),
      op.global('builtins', 'list'),
      range(2 ** 40),
      op.tuple1(),
      op.reduce(),
      op.stop(),
    );
    expect(brief((await scanBytes(materialised)).findings)).toEqual([
      {
        rule: 'MLSEC-PICKLE-015',
        severity: 'medium',
        global: 'builtins.list',
        offset: materialised.length - 2,
      },
    ]);
    const lazy = asm(op.proto(2), range(2 ** 40), op.stop());
    expect(brief((await scanBytes(lazy)).findings)).toEqual([]);
  });

  it('five million nested tuples end value tracking with a finding, imports still reported', async () => {
    const depth = 5_000_000;
    const bytes = new Uint8Array(3 + depth + 30);
    bytes.set([0x80, 0x02, 0x4e]);
    bytes.fill(0x85, 3, 3 + depth);
    const tail = asm(op.global('os', 'system'), op.stop());
    bytes.set(tail, 3 + depth);
    const report = await scanBytes(bytes.subarray(0, 3 + depth + tail.length));
    expect(brief(report.findings)).toEqual([
      { rule: 'MLSEC-PICKLE-002', severity: 'high', global: 'os.system', offset: 3 + depth },
      { rule: 'MLSEC-PICKLE-010', severity: 'medium', offset: 50_003 },
    ]);
  });

  it('past the value limit, STACK_GLOBAL still resolves names pushed just before or memoized earlier', async () => {
    const limits = { ...defaultLimits, pickle: { ...defaultLimits.pickle, maxValues: 10 } };
    const bytes = asm(
      op.proto(4),
      op.str('collections'),
      [0x94], // MEMOIZE: memo 0
      op.str('OrderedDict'),
      [0x94], // memo 1
      op.stackGlobal(),
      op.pop(),
      ...Array.from({ length: 20 }, () => [0x29, 0x30]), // 20 empty tuples: past the limit
      [0x68, 0], // BINGET 0
      [0x68, 1], // BINGET 1
      op.stackGlobal(),
      op.pop(),
      op.str('os'),
      op.str('system'),
      op.stackGlobal(),
      op.stop(),
    );
    const report = await scanBytes(bytes, { limits });
    expect(brief(report.findings)).toEqual([
      { rule: 'MLSEC-PICKLE-002', severity: 'high', global: 'os.system', offset: bytes.length - 2 },
      { rule: 'MLSEC-PICKLE-010', severity: 'medium', offset: 52 },
    ]);
  });
});
