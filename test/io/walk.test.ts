import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type WalkEntry, walkFiles } from '../../src/io/walk.js';
import { tempDir } from '../helpers/cli.js';

async function collect(entries: AsyncIterable<WalkEntry>): Promise<WalkEntry[]> {
  const all: WalkEntry[] = [];
  for await (const entry of entries) all.push(entry);
  return all;
}

describe('walkFiles', () => {
  it('lists a directory of more files than it stats at once in sorted order, with exact sizes', async () => {
    const dir = await tempDir();
    const names = Array.from({ length: 150 }, (_, i) => `f${String(i).padStart(3, '0')}`);
    // Created in reverse, with a subdirectory and a link inside the root among them.
    for (const [i, name] of [...names].reverse().entries()) await writeFile(join(dir, name), 'x'.repeat(i));
    await mkdir(join(dir, 'f070-sub'));
    await writeFile(join(dir, 'f070-sub', 'inner'), 'abc');
    await symlink('f000', join(dir, 'f100-link'));
    await symlink('/etc/hostname', join(dir, 'f120-out'));

    const entries = await collect(walkFiles(['.'], { cwd: dir, exclude: ['f14*'] }));
    const expected: WalkEntry[] = [];
    for (const name of names.filter((n) => !n.startsWith('f14'))) {
      expected.push({ kind: 'file', path: name, absolute: join(dir, name), size: 149 - names.indexOf(name) });
      if (name === 'f070')
        expected.push({
          kind: 'file',
          path: 'f070-sub/inner',
          absolute: join(dir, 'f070-sub', 'inner'),
          size: 3,
        });
      if (name === 'f100')
        expected.push({ kind: 'file', path: 'f100-link', absolute: join(dir, 'f100-link'), size: 149 });
      if (name === 'f120') expected.push({ kind: 'outside-link', path: 'f120-out', target: '/etc/hostname' });
    }
    expect(entries).toEqual(expected);
  });
});
