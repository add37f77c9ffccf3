import type { SevenZipModuleFactory } from '7z-wasm';
import * as sevenZipPackage from '7z-wasm';
import { describe, expect, it } from 'vitest';
import { defaultLimits } from '../../../../../src/core/scan/limits.js';
import { brief, scanBytes } from '../../../../helpers/scan.js';

// A CommonJS (UMD) package: its module.exports, the factory, is the default export at run time.
const SevenZip = (sevenZipPackage as unknown as { default: SevenZipModuleFactory }).default;

const payload = new TextEncoder().encode("cos\nsystem\n(S'echo mlsec-fixture'\ntR.");
const benign = new TextEncoder().encode("(dp0\nS'weights'\np1\nI1\ns.");

/** Archives written by 7-Zip itself (the same WebAssembly build the reader uses). */
async function make7z(files: Record<string, Uint8Array>, switches: string[] = []): Promise<Uint8Array> {
  const sevenZip = await SevenZip({ print: () => {}, printErr: () => {} });
  sevenZip.FS.mkdir('/in');
  for (const [name, data] of Object.entries(files)) {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      try {
        sevenZip.FS.mkdir(`/in/${parts.slice(0, i).join('/')}`);
      } catch {}
    }
    sevenZip.FS.writeFile(`/in/${name}`, data);
  }
  sevenZip.FS.chdir('/in');
  sevenZip.callMain(['a', '/out.7z', ...switches, ...Object.keys(files)]);
  return sevenZip.FS.readFile('/out.7z');
}

const scan = (bytes: Uint8Array, limits = defaultLimits) => scanBytes(bytes, { name: 'model.7z', limits });

describe('7z reader', () => {
  it('scans the members of an LZMA2 archive, in folders, with 7-Zip', async () => {
    const archive = await make7z({ 'model/data.pkl': payload, 'model/config.pkl': benign });
    const result = await scan(archive);
    expect(result.format).toBe('7z');
    expect(brief(result.findings)).toEqual([
      {
        rule: 'MLSEC-PICKLE-001',
        severity: 'critical',
        global: 'os.system',
        member: 'model/data.pkl',
        offset: 35,
      },
    ]);
    expect(result.partial).toBe(false);
  });

  it('scans members of a solid archive and archives inside it', async () => {
    const inner = await make7z({ 'inner.pkl': payload }, ['-mx=9']);
    const archive = await make7z({ 'a.bin': new Uint8Array(1000), 'nested.7z': inner }, [
      '-ms=on',
      '-m0=PPMd',
    ]);
    const result = await scan(archive);
    expect(brief(result.findings)).toEqual([
      {
        rule: 'MLSEC-PICKLE-001',
        severity: 'critical',
        global: 'os.system',
        member: 'nested.7z!inner.pkl',
        offset: 35,
      },
    ]);
  });

  it('keeps encrypted members as fail-closed findings and scans the rest', async () => {
    const archive = await make7z({ 'secret.pkl': payload }, ['-psecret']);
    const result = await scan(archive);
    expect(result.findings.map((f) => [f.rule, f.severity, f.message])).toEqual([
      ['MLSEC-CONTAINER-001', 'high', 'member "secret.pkl" is encrypted and cannot be inspected'],
    ]);
    expect(result.partial).toBe(true);
  });

  it('scans the plain members of an archive that also has encrypted ones', async () => {
    const sevenZip = await SevenZip({ print: () => {}, printErr: () => {} });
    sevenZip.FS.mkdir('/in');
    sevenZip.FS.writeFile('/in/secret.pkl', payload);
    sevenZip.FS.writeFile('/in/plain.pkl', payload);
    sevenZip.FS.chdir('/in');
    sevenZip.callMain(['a', '/out.7z', '-psecret', 'secret.pkl']);
    sevenZip.callMain(['a', '/out.7z', 'plain.pkl']); // a second folder, without a password
    const result = await scan(sevenZip.FS.readFile('/out.7z'));
    expect(result.findings.map((f) => [f.rule, f.member, f.message])).toEqual([
      ['MLSEC-CONTAINER-001', undefined, 'member "secret.pkl" is encrypted and cannot be inspected'],
      ['MLSEC-PICKLE-001', 'plain.pkl', 'calls os.system (runs commands and touches files)'],
    ]);
  });

  it('reports an absolute member path and still scans the member, under the name 7-Zip extracts it to', async () => {
    const sevenZip = await SevenZip({ print: () => {}, printErr: () => {} });
    sevenZip.FS.mkdir('/in');
    sevenZip.FS.writeFile('/in/x.pkl', payload);
    sevenZip.callMain(['a', '/out.7z', '-spf', '/in/x.pkl']); // stores the absolute path
    const result = await scan(sevenZip.FS.readFile('/out.7z'));
    expect(result.findings.map((f) => [f.rule, f.member, f.message])).toEqual([
      [
        'MLSEC-CONTAINER-005',
        undefined,
        'member "/in/x.pkl" would be extracted outside the target directory',
      ],
      ['MLSEC-PICKLE-001', 'in/x.pkl', 'calls os.system (runs commands and touches files)'],
    ]);
  });

  it('reports encrypted headers (the member list itself cannot be read)', async () => {
    const archive = await make7z({ 'secret.pkl': payload }, ['-psecret', '-mhe=on']);
    const result = await scan(archive);
    expect(result.findings.map((f) => [f.rule, f.severity, f.message])).toEqual([
      ['MLSEC-CONTAINER-001', 'high', '7-Zip archive has encrypted headers: its member list cannot be read'],
    ]);
  });

  it('fails closed above the in-memory cap, for the archive and for declared unpacked sizes', async () => {
    const big = await make7z({ 'zeros.bin': new Uint8Array(1 << 20), 'data.pkl': payload });
    const small = { ...defaultLimits, maxBufferedContainerBytes: 1000 };
    const result = await scan(big, small);
    expect(result.findings.map((f) => [f.rule, f.message])).toEqual([
      [
        'MLSEC-CONTAINER-001',
        `7-Zip archive declares ${(1 << 20) + payload.length} unpacked bytes, more than the 1000 bytes that are unpacked in memory; unpack it and scan the content`,
      ],
    ]);
    const tiny = { ...defaultLimits, maxBufferedContainerBytes: 100 };
    const refused = await scan(big, tiny);
    expect(refused.findings.map((f) => [f.rule, f.message])).toEqual([
      [
        'MLSEC-CONTAINER-001',
        '7-Zip archive is larger than 100 bytes and was not opened; unpack it and scan the content',
      ],
    ]);
  });

  it('reports a truncated or damaged archive without throwing', async () => {
    const archive = await make7z({ 'data.pkl': payload, 'other.pkl': benign }, ['-m0=Copy']);
    const truncated = archive.subarray(0, archive.length - 40);
    const result = await scan(truncated);
    expect(result.findings.map((f) => [f.rule, f.severity])).toEqual([['MLSEC-CONTAINER-002', 'medium']]);
    expect(result.partial).toBe(true);
    const garbage = new Uint8Array(200).fill(0x41);
    garbage.set([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]);
    const bad = await scan(garbage);
    expect(bad.findings.map((f) => [f.rule, f.message])).toEqual([
      ['MLSEC-CONTAINER-002', '7-Zip archive is damaged: its member list cannot be read'],
    ]);
  });
});
