import { describe, expect, it } from 'vitest';
import { defaultLimits } from '../../../../../src/core/scan/limits.js';
import { asm, op } from '../../../../helpers/pickle-asm.js';
import { brief, scanBytes } from '../../../../helpers/scan.js';
import { tarArchive } from '../../../../helpers/tar-writer.js';

const u64 = (n: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return [...b];
};
const pickleOf = (...parts: number[][]) => [...asm(op.proto(2), ...parts, op.stop())];
/** (key, location, storage type); the location may be computed by a call, which runs on load. */
const record = (key: string, location: number[][] = [op.str('cpu')]) =>
  pickleOf(op.str(key), ...location, op.global('torch', 'FloatStorage'), op.tuple3());

describe('tar reader', () => {
  it('scans every record pickle of a legacy PyTorch storages member, skipping the raw data between', async () => {
    const storages = Uint8Array.from([
      ...pickleOf(op.int(2)),
      ...record('1'),
      ...u64(3),
      ...new Array(12).fill(0x80), // three float32 elements that look like PROTO bytes
      ...record('2', [op.global('os', 'system'), op.str('echo'), op.tuple1(), op.reduce()]),
      ...u64(1),
      0,
      0,
      0,
      0,
    ]);
    const tar = tarArchive([
      { name: 'sys_info', data: Uint8Array.from(pickleOf(op.emptyDict())) },
      { name: 'pickle', data: Uint8Array.from(pickleOf(op.emptyDict())) },
      { name: 'storages', data: storages },
    ]);
    const result = await scanBytes(tar, { name: 'legacy.tar' });
    expect(result.format).toBe('pytorch-legacy-tar');
    expect(brief(result.findings).map((f) => [f.rule, f.global, f.member])).toEqual([
      ['MLSEC-PICKLE-001', 'os.system', 'storages'],
    ]);
  });
});

describe('tar bounds', () => {
  it('scans at most maxArchiveEntries members, counts the rest, and reports it high', async () => {
    const files = Array.from({ length: 5 }, (_, i) => ({
      name: `f${i}.pkl`,
      data: Uint8Array.from(i < 4 ? pickleOf(op.int(i)) : pickleOf(op.global('os', 'system'))),
    }));
    const result = await scanBytes(tarArchive(files), {
      name: 'many.tar',
      limits: { ...defaultLimits, maxArchiveEntries: 3 },
    });
    expect(result.partial).toBe(true);
    expect(result.findings).toEqual([
      {
        rule: 'MLSEC-CONTAINER-006',
        severity: 'high',
        message: 'tar archive has 5 members; only the first 3 were inspected',
      },
    ]);
  });
});

describe('unsafe member paths in tar, which tar-based model formats (NeMo) extract', () => {
  it('are high', async () => {
    const names = ['../x', '/x', '..\\x'];
    const tar = tarArchive(names.map((name) => ({ name, data: new TextEncoder().encode('x') })));
    const result = await scanBytes(tar, { name: 'model.nemo' });
    expect(result.findings.map((f) => [f.rule, f.severity, f.message])).toEqual(
      names.map((name) => [
        'MLSEC-CONTAINER-007',
        'high',
        `member ${JSON.stringify(name)} is written outside the target directory when the archive is extracted`,
      ]),
    );
  });
});
