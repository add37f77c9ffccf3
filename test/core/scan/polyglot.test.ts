import { describe, expect, it } from 'vitest';
import { asm, op, osSystemPickle } from '../../helpers/pickle-asm.js';
import { brief, scanBytes } from '../../helpers/scan.js';
import { tarHeader } from '../../helpers/tar-writer.js';

const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0));

function tarWithName(name: Uint8Array): Uint8Array {
  const out = new Uint8Array(512 * 4);
  out.set(tarHeader(name, 0));
  return out;
}

describe('polyglots: bytes that another format claims are still scanned as a pickle', () => {
  it('a tar archive whose first member name is a pickle', async () => {
    const pickle = asm(
      op.global('os', 'system'),
      op.mark(),
      op.string0('echo'),
      op.tuple(),
      op.reduce(),
      op.stop(),
    );
    const result = await scanBytes(tarWithName(pickle), { name: 'model.tar' });
    expect(result.format).toBe('tar');
    expect(brief(result.findings).map((f) => [f.rule, f.global])).toEqual([
      ['MLSEC-PICKLE-001', 'os.system'],
    ]);
  });

  it('a GGUF magic that is also a BINFLOAT opcode', async () => {
    const bytes = asm(ascii('GGUF'), [3, 0, 0, 0, 0], [...osSystemPickle()]);
    const result = await scanBytes(bytes, { name: 'model.gguf' });
    expect(result.format).toBe('gguf');
    // The GGUF reader parses the header too: the pickle bytes are a truncated GGUF header.
    expect(brief(result.findings).map((f) => [f.rule, f.global])).toEqual([
      ['MLSEC-GGUF-001', undefined],
      ['MLSEC-PICKLE-001', 'os.system'],
    ]);
  });

  it('a bzip2 magic that is also a BINBYTES opcode hiding megabytes', async () => {
    const length = 0x0031685a; // 'Zh1\0' read as a little-endian length
    const bytes = new Uint8Array(5 + length + 64);
    bytes.set(ascii('BZh1'), 0);
    const payload = osSystemPickle().subarray(2); // without PROTO: the stream is already running
    bytes.set(payload, 5 + length);
    const result = await scanBytes(bytes.subarray(0, 5 + length + payload.length), { name: 'model.pkl' });
    expect(result.format).toBe('bzip2');
    expect(brief(result.findings).map((f) => [f.rule, f.global])).toEqual([
      ['MLSEC-CONTAINER-002', undefined],
      ['MLSEC-PICKLE-001', 'os.system'],
    ]);
  });

  it('real containers are not reported twice', async () => {
    const { readFileSync } = await import('node:fs');
    const { fixture } = await import('../../helpers/cli.js');
    const result = await scanBytes(readFileSync(fixture('benign', 'real', 'sklearn-rf-bz2-3.joblib')), {
      name: 'm.joblib',
    });
    expect(result.findings).toEqual([]);
  });
});

describe('Git LFS pointers', () => {
  it('are reported with the digest the real file must have', async () => {
    const oid = 'a'.repeat(64);
    const pointer = new TextEncoder().encode(
      `version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\nsize 1234\n`,
    );
    const result = await scanBytes(pointer, { name: 'pytorch_model.bin' });
    expect(result.format).toBe('git-lfs-pointer');
    expect(result.findings).toEqual([
      {
        rule: 'MLSEC-INTEGRITY-004',
        severity: 'medium',
        message: `Git LFS pointer: the real file (sha256 ${oid}, 1234 bytes) was not downloaded, so it was not scanned`,
      },
    ]);
  });
});
