import { PassThrough } from 'node:stream';
import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import { colorLevel, makeTerminal, plainStyles, startSpinner, type Terminal } from '../../src/cli/output.js';

// Standard output is a pipe, whatever runs the tests.
const pipeProcess = (env: NodeJS.ProcessEnv) => ({
  stdout: Object.create(process.stdout, { isTTY: { value: false } }) as typeof process.stdout,
  stderr: process.stderr,
  env,
  cwd: () => '/models',
});

describe('plainStyles', () => {
  const chalk = new Chalk({ level: 0 });
  it.each([
    ['plain call', (c: typeof chalk) => c('a', 'b')],
    ['one style', (c: typeof chalk) => c.red('FAIL')],
    ['chained styles', (c: typeof chalk) => c.bgRed.white.bold('CRITICAL')],
    ['several arguments', (c: typeof chalk) => c.dim('x', 2, 'y')],
    ['no arguments', (c: typeof chalk) => c.green()],
    ['empty string', (c: typeof chalk) => c.yellow('')],
  ])('prints what chalk prints at level 0: %s', (_name, style) => {
    expect(style(plainStyles)).toBe(style(chalk));
  });

  it('reports level 0, and is no thenable', async () => {
    expect(plainStyles.level).toBe(0);
    expect(plainStyles.bold.red.level).toBe(0);
    expect((plainStyles as unknown as { then?: unknown }).then).toBeUndefined();
    expect(await Promise.resolve(plainStyles)).toBe(plainStyles);
  });
});

describe('colorLevel', () => {
  it.each([
    [{}, false, undefined, 0],
    [{}, true, undefined, 1],
    [{ NO_COLOR: '1' }, true, true, 0],
    [{ NO_COLOR: '1' }, true, undefined, 0],
    [{}, true, false, 0],
    [{ FORCE_COLOR: '3' }, false, undefined, 3],
    [{ FORCE_COLOR: 'false' }, true, undefined, 0],
    [{ TERM: 'dumb' }, true, undefined, 0],
  ] as const)('env %j, tty %s, flag %s: level %i', (env, isTTY, flag, level) => {
    expect(colorLevel(env, isTTY, flag)).toBe(level);
  });
});

describe('makeTerminal', () => {
  it('uses the plain styles when colour is off and chalk when it is on', async () => {
    const off = await makeTerminal(pipeProcess({}));
    expect(off.color).toBe(plainStyles);
    const on = await makeTerminal(pipeProcess({ FORCE_COLOR: '1' }));
    expect(on.color).not.toBe(plainStyles);
    expect(on.color.red('x')).toBe('\u001b[31mx\u001b[39m');
  });
});

describe('startSpinner', () => {
  const terminalOn = (stderr: NodeJS.WritableStream, interactive: boolean): Terminal => ({
    stdout: new PassThrough(),
    stderr,
    color: plainStyles,
    interactive,
    env: {},
    cwd: '/models',
  });

  it('starts none for CI or a pipe unless forced', async () => {
    expect(await startSpinner(terminalOn(new PassThrough(), false), 'scanning')).toBeUndefined();
    const spinner = await startSpinner(terminalOn(new PassThrough(), false), 'scanning', true);
    expect(spinner?.text).toBe('scanning');
    spinner?.stop();
  });

  it('starts none on a terminal of zero columns, even when forced', async () => {
    const unsized = Object.assign(new PassThrough(), { isTTY: true, columns: 0 });
    expect(await startSpinner(terminalOn(unsized, true), 'hashing', true)).toBeUndefined();
    // What ora calls on a terminal, besides write.
    const sized = Object.assign(new PassThrough(), {
      isTTY: true,
      columns: 80,
      cursorTo: () => true,
      moveCursor: () => true,
      clearLine: () => true,
    });
    const spinner = await startSpinner(terminalOn(sized, true), 'hashing');
    expect(spinner?.isSpinning).toBe(true);
    spinner?.stop();
  });
});
