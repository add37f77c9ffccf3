import { appendFile, copyFile, mkdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { mlsec, tempDir } from '../helpers/cli.js';
import { asm, op } from '../helpers/pickle-asm.js';

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

describe('a config the scanned repository ships', () => {
  /** A repository as a download brings it: a payload and a config that would silence it. */
  async function hostileRepo() {
    const dir = await tempDir();
    const home = join(await tempDir(), 'config');
    await mkdir(join(dir, '.git'));
    await writeFile(join(dir, 'model.pkl'), posixSystemPickle());
    await writeFile(
      join(dir, '.mlsec.yaml'),
      'scan:\n  fail-on: never\n  exclude: ["*.bin"]\n  allow-globals: [posix.*]\n  deny-globals: [mypkg.admin.*]\n',
    );
    return { dir, env: { XDG_CONFIG_HOME: home }, home };
  }

  const warning = (state: string) =>
    `mlsec: warning: .mlsec.yaml is ${state}, so its settings that weaken the policy are ignored: ` +
    'scan.fail-on (line 2), scan.exclude (line 3), scan.allow-globals (line 4); ' +
    'approve it with "mlsec config trust .mlsec.yaml" or name it with --config or MLSEC_CONFIG';

  it('cannot weaken the scan until the user approves it, and again when it changes', async () => {
    const { dir, env, home } = await hostileRepo();
    const before = await mlsec(['scan', '.'], { cwd: dir, env });
    expect(before.exitCode).toBe(1);
    expect(before.stdout).toMatch(/CRITICAL +MLSEC-PICKLE-001 +calls posix\.system/);
    expect(before.stdout).toContain('FAIL (fail-on high)');
    expect(before.stderr).toBe(warning('not approved'));

    const trust = await mlsec(['config', 'trust'], { cwd: dir, env });
    expect(trust.exitCode).toBe(0);
    expect(trust.stdout).toMatch(
      /^approved \.mlsec\.yaml \(sha256:[0-9a-f]{64}\); its settings that weaken the policy now apply: scan\.fail-on, scan\.exclude, scan\.allow-globals$/,
    );
    const stored = JSON.parse(await readFile(join(home, 'mlsec', 'trusted-configs.json'), 'utf8'));
    expect(Object.keys(stored.configs)).toEqual([join(await realpath(dir), '.mlsec.yaml')]);

    const after = await mlsec(['scan', '.'], { cwd: dir, env });
    expect(after).toMatchObject({ exitCode: 0, stderr: '' });

    await appendFile(join(dir, '.mlsec.yaml'), '# changed\n');
    const changed = await mlsec(['scan', '.'], { cwd: dir, env });
    expect(changed.exitCode).toBe(1);
    expect(changed.stderr).toBe(warning('changed since it was approved'));

    await mlsec(['config', 'trust', '.mlsec.yaml'], { cwd: dir, env });
    expect((await mlsec(['scan', '.'], { cwd: dir, env })).exitCode).toBe(0);
    const untrust = await mlsec(['config', 'untrust'], { cwd: dir, env });
    expect(untrust.stdout).toBe('.mlsec.yaml is no longer approved');
    expect((await mlsec(['scan', '.'], { cwd: dir, env })).exitCode).toBe(1);
  });

  it('applies whatever tightens the policy, approved or not', async () => {
    const { dir, env } = await hostileRepo();
    await writeFile(join(dir, 'admin.pkl'), adminPickle());
    const { exitCode, stdout } = await mlsec(['scan', 'admin.pkl', '--format', 'json'], { cwd: dir, env });
    expect(exitCode).toBe(1);
    expect(JSON.parse(stdout).results[0].findings[0]).toMatchObject({
      rule: 'MLSEC-PICKLE-001',
      global: 'mypkg.admin.run',
    });
  });

  it('--config and MLSEC_CONFIG vouch for a file without approval', async () => {
    const { dir, env } = await hostileRepo();
    const flag = await mlsec(['scan', '--config', '.mlsec.yaml', '.'], { cwd: dir, env });
    expect(flag).toMatchObject({ exitCode: 0, stderr: '' });
    const named = await mlsec(['scan', '.'], { cwd: dir, env: { ...env, MLSEC_CONFIG: '.mlsec.yaml' } });
    expect(named).toMatchObject({ exitCode: 0, stderr: '' });
  });

  it('an approval is for one place: the same bytes elsewhere, or a link to the approved file, are not approved', async () => {
    const { dir, env } = await hostileRepo();
    await mlsec(['config', 'trust'], { cwd: dir, env });
    const copy = await tempDir();
    await mkdir(join(copy, '.git'));
    await copyFile(join(dir, 'model.pkl'), join(copy, 'model.pkl'));
    await copyFile(join(dir, '.mlsec.yaml'), join(copy, '.mlsec.yaml'));
    expect((await mlsec(['scan', '.'], { cwd: copy, env })).exitCode).toBe(1);
    await rm(join(copy, '.mlsec.yaml'));
    await symlink(join(dir, '.mlsec.yaml'), join(copy, '.mlsec.yaml'));
    expect((await mlsec(['scan', '.'], { cwd: copy, env })).exitCode).toBe(1);
  });

  it('config show names the file, how it was chosen and what is ignored', async () => {
    const { dir, env } = await hostileRepo();
    const { exitCode, stdout } = await mlsec(['config', 'show'], { cwd: dir, env });
    expect(exitCode).toBe(0);
    expect(stdout.split('\n').slice(0, 1)).toEqual(['config: .mlsec.yaml (found from here, not approved)']);
    expect(stdout).toContain('fail-on: high (built-in)\n');
    expect(stdout).toContain('allow-globals: -\n');
    expect(stdout).toContain('deny-globals: mypkg.admin.*\n');
    expect(stdout).toContain('ignored: .mlsec.yaml is not approved');
    const none = await mlsec(['config', 'show'], { cwd: await tempDir(), env });
    expect(none.stdout.split('\n')[0]).toBe('config: none (built-in policy)');
  });
});

function posixSystemPickle(): Uint8Array {
  return asm(
    op.proto(2),
    op.global('posix', 'system'),
    op.str('echo mlsec'),
    op.tuple1(),
    op.reduce(),
    op.stop(),
  );
}

function adminPickle(): Uint8Array {
  return asm(op.proto(2), op.global('mypkg.admin', 'run'), op.emptyTuple(), op.reduce(), op.stop());
}
