import { describe, expect, it } from 'vitest';
import { scanArtifact, scanArtifacts } from '../../../src/core/scan/scan-artifact.js';
import { bufferSource } from '../../../src/core/source.js';
import { osSystemPickle } from '../../helpers/pickle-asm.js';

const inMemory = (path: string, bytes: Uint8Array) => ({
  path,
  size: bytes.length,
  open: async () => ({
    source: bufferSource(bytes),
    bytesRead: () => bytes.length,
    close: async () => undefined,
  }),
});

describe('scanArtifact', () => {
  it('turns a failure to read into a high finding and status error, not an exception', async () => {
    const report = await scanArtifact({
      path: 'locked.pt',
      size: 10,
      open: () => Promise.reject(Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' })),
    });
    expect(report).toEqual({
      path: 'locked.pt',
      format: 'unknown',
      size: 10,
      findings: [
        {
          rule: 'MLSEC-FILE-003',
          severity: 'high',
          message: 'cannot be read: EACCES: permission denied',
        },
      ],
      bytesRead: 0,
      status: 'error',
    });
  });

  it('never puts the text of an internal exception into a finding', async () => {
    const report = await scanArtifact({
      path: 'model.pt',
      size: 10,
      open: () => Promise.reject(new TypeError("Cannot read properties of undefined (reading 'x')")),
    });
    expect(report.findings).toEqual([
      {
        rule: 'MLSEC-FILE-003',
        severity: 'high',
        message: 'cannot be read: an internal error stopped the scan of this file',
      },
    ]);
  });

  it('scans many artifacts concurrently and keeps their order', async () => {
    const inputs = Array.from({ length: 9 }, (_, i) =>
      inMemory(`m${i}.pkl`, i % 3 === 0 ? osSystemPickle() : Uint8Array.from([0x80, 2, 0x7d, 0x2e])),
    );
    const reports = await scanArtifacts(inputs, { concurrency: 3 });
    expect(reports.map((r) => [r.path, r.findings.length])).toEqual(
      inputs.map((input, i) => [input.path, i % 3 === 0 ? 1 : 0]),
    );
  });
});
