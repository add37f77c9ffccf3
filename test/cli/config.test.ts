import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { mlsec, tempDir } from '../helpers/cli.js';

describe('config files that are not plain files', () => {
  const refuses = async (dir: string, expected: string) => {
    const started = Date.now();
    const result = await mlsec(['scan', '.'], { cwd: dir });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`mlsec: ${join(dir, '.mlsec.yaml')}${expected}`);
  };

  it.skipIf(process.platform === 'win32')('a symbolic link to /dev/zero is refused unread', async () => {
    const dir = await tempDir();
    await symlink('/dev/zero', join(dir, '.mlsec.yaml'));
    await refuses(dir, ': not a regular file (a character device); refused');
  });

  it.skipIf(process.platform === 'win32')('a FIFO is refused without waiting for a writer', async () => {
    const dir = await tempDir();
    await execa('mkfifo', [join(dir, '.mlsec.yaml')]);
    await refuses(dir, ': not a regular file (a FIFO); refused');
  });

  it('a file over 1 MiB is refused', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, '.mlsec.yaml'), `# ${'x'.repeat(1 << 20)}\n`);
    await refuses(dir, ': larger than 1 MiB');
  });

  it('an alias bomb and deep nesting are refused with their line', async () => {
    const dir = await tempDir();
    let bomb = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i < 10; i += 1)
      bomb += `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(', ')}]\n`;
    await writeFile(join(dir, '.mlsec.yaml'), bomb);
    await refuses(dir, ':2: aliases expand too far (over 100 nodes per alias); refused');
    await writeFile(join(dir, '.mlsec.yaml'), `scan:\n  exclude: ${'['.repeat(1_000_000)}\n`);
    await refuses(dir, ':2: nested deeper than 64 levels; refused');
  });
});
