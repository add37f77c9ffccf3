import { describe, expect, it } from 'vitest';
import { formatBytes, TransferStatus } from '../../src/cli/registry-flags.js';

describe('TransferStatus', () => {
  it('shows blobs done, the hash while it runs, and each blob in flight, in one display', () => {
    const status = new TransferStatus('pushing');
    expect(status.text).toBe('pushing: 0 blobs done');
    status.hashed(256 << 20, 1 << 30);
    status.blob('model.safetensors', 100 << 20, 800 << 20, false);
    status.blob('config.json', 10, 10, false);
    expect(status.text).toBe(
      [
        'pushing: 0 blobs done',
        '  hashing: 25% of 1.0 GiB',
        '  model.safetensors: 12% of 800.0 MiB',
        '  config.json: 100% of 10 B',
      ].join('\n'),
    );
    status.blob('config.json', 10, 10, true);
    status.hashed(1 << 30, 1 << 30);
    expect(status.text).toBe('pushing: 1 blob done\n  model.safetensors: 12% of 800.0 MiB');
  });

  it('formats sizes in binary units', () => {
    expect([0, 1023, 1024, 1536, 5 * 2 ** 30, 3 * 2 ** 50].map(formatBytes)).toEqual([
      '0 B',
      '1023 B',
      '1.0 KiB',
      '1.5 KiB',
      '5.0 GiB',
      '3072.0 TiB',
    ]);
  });
});
