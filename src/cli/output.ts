import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ChalkInstance } from 'chalk';
import type { Ora } from 'ora';
import { MlsecError } from '../core/errors.js';

/** Everything a command may print to or learn about its terminal, decided once at start-up. */
export interface Terminal {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  color: ChalkInstance;
  /** Spinners and progress bars: only for a person at a terminal, never in CI. */
  interactive: boolean;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** NO_COLOR (any non-empty value) wins; then FORCE_COLOR; then whether stdout is a terminal. */
export function colorLevel(env: NodeJS.ProcessEnv, isTTY: boolean, flag: boolean | undefined): 0 | 1 | 2 | 3 {
  if (flag === false) return 0;
  if (env.NO_COLOR) return 0;
  if (flag === true) return 1;
  const force = env.FORCE_COLOR;
  if (force !== undefined) {
    if (force === '' || force === 'true') return 1;
    if (force === 'false') return 0;
    const level = Number(force);
    return level >= 0 && level <= 3 ? (level as 0 | 1 | 2 | 3) : 1;
  }
  if (env.TERM === 'dumb') return 0;
  return isTTY ? 1 : 0;
}

/**
 * What chalk prints at level 0, without loading it: every style, chained or called, returns its
 * arguments joined by spaces. Most runs write to pipes and CI logs, where loading chalk would be a
 * tenth of the start-up paid by every pre-commit hook.
 */
export const plainStyles: ChalkInstance = new Proxy((() => {}) as unknown as ChalkInstance, {
  // Not a thenable, and no symbol-keyed behaviour: only style names chain.
  get: (_target, key) =>
    key === 'level' ? 0 : key === 'then' || typeof key === 'symbol' ? undefined : plainStyles,
  apply: (_target, _this, args: unknown[]) => args.join(' '),
});

export async function makeTerminal(
  process: Pick<NodeJS.Process, 'stdout' | 'stderr' | 'env' | 'cwd'>,
  colorFlag?: boolean,
): Promise<Terminal> {
  const level = colorLevel(process.env, process.stdout.isTTY === true, colorFlag);
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    color: level === 0 ? plainStyles : new (await import('chalk')).Chalk({ level }),
    interactive: process.stderr.isTTY === true && !process.env.CI && !process.env.PRE_COMMIT,
    env: process.env,
    cwd: process.cwd(),
  };
}

/** Results go to standard output, or to `--output FILE`; nothing else is ever written there. */
export async function writeReport(
  text: string,
  output: string | undefined,
  terminal: Terminal,
): Promise<void> {
  if (!output) {
    terminal.stdout.write(text);
    return;
  }
  try {
    await writeFile(resolve(terminal.cwd, output), text);
  } catch (error) {
    throw new MlsecError('OUTPUT_UNWRITABLE', `cannot write ${output}: ${(error as Error).message}`);
  }
}

/**
 * A spinner on standard error, for a person at a terminal or when `force`d (--progress); none
 * otherwise. A terminal that reports zero columns (a pseudo-terminal never sized, as some CI
 * runners allocate) gets none either: ora divides by the width and would clear lines forever.
 * ora costs ~50 ms to load, so it loads only here.
 */
export async function startSpinner(
  terminal: Terminal,
  text: string,
  force = false,
): Promise<Ora | undefined> {
  if (!terminal.interactive && !force) return undefined;
  const stream = terminal.stderr as NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  if (stream.isTTY && !stream.columns) return undefined;
  const { default: ora } = await import('ora');
  return ora({ stream: terminal.stderr, isEnabled: true, text }).start();
}
