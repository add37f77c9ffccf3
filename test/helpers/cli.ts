import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { onTestFinished } from 'vitest';

export const root = resolve(import.meta.dirname, '../..');
export const bin = join(root, 'bin', 'mlsec.js');
export const fixture = (...parts: string[]) => join(root, 'fixtures', 'scan', ...parts);

/**
 * The user config directory of every run (approved configs): a directory that does not exist, never
 * the real home. A test that approves configs passes its own `XDG_CONFIG_HOME`.
 */
export const noConfigHome = join(tmpdir(), `mlsec-test-no-config-home-${process.pid}`);

/** Runs the built CLI the way a user does; never throws on a non-zero exit. */
export async function mlsec(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  const result = await execa('node', [bin, ...args], {
    cwd: options.cwd ?? root,
    env: {
      NO_COLOR: '',
      FORCE_COLOR: '0',
      CI: 'true',
      XDG_CONFIG_HOME: noConfigHome,
      MLSEC_CONFIG: '',
      ...options.env,
    },
    reject: false,
    timeout: 120_000,
  });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** A fresh directory, removed when the current test finishes. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mlsec-test-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
