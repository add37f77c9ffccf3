import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import {
  colorLevel,
  makeTerminal,
  plainStyles,
  printable,
  startSpinner,
  type Terminal,
} from '../../src/cli/output.js';
import { mlsec, tempDir } from '../helpers/cli.js';
import { osSystemPickle } from '../helpers/pickle-asm.js';

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
    const chunks: string[] = [];
    const stdout = Object.assign(new PassThrough(), { isTTY: false });
    stdout.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
    const on = await makeTerminal({ ...pipeProcess({ FORCE_COLOR: '1' }), stdout: stdout as never });
    expect(on.color).not.toBe(plainStyles);
    expect(on.color.level).toBe(1);
    on.stdout.write(on.color.bold.red('x'));
    expect(chunks.join('')).toBe('\u001b[1m\u001b[31mx\u001b[39m\u001b[22m');
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

describe('printable', () => {
  it('escapes controls, DEL, C1, bidirectional overrides and isolates, and lone surrogates', () => {
    expect(printable('a\u001b]0;title\u0007b\r\n\t\u007f\u009b\u202e\u2066\u2069\ud800z')).toBe(
      'a\\x1b]0;title\\x07b\\x0d\\x0a\\x09\\x7f\\x9b\\u{202e}\\u{2066}\\u{2069}\\u{d800}z',
    );
    expect(printable('line\nnext\ttab\u001b', ['\n', '\t'])).toBe('line\nnext\ttab\\x1b');
    expect(printable('naïve 模型 😀')).toBe('naïve 模型 😀');
  });

  it('a coloured terminal sends the escapes of its styles and shows those of the text', async () => {
    const chunks: string[] = [];
    const sink = Object.assign(new PassThrough(), { isTTY: false });
    sink.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
    const terminal = await makeTerminal({ ...pipeProcess({ FORCE_COLOR: '1' }), stdout: sink as never });
    terminal.stdout.write(`${terminal.color.red('evil\u001b[8m')} \u001b[2J\n`);
    expect(chunks.join('')).toBe('\u001b[31mevil\\x1b[8m\u001b[39m \\x1b[2J\n');
  });
});

describe('names from files reach the terminal printable', () => {
  const hostile = 'evil\u001b]0;pwned\u0007\u001b[2J\u009b31m\u202egnp.\u2066x\nPASS scanned 0 files.pkl';
  /** Characters a terminal acts on; line feeds and tabs are the text's own. */
  const raw = (text: string) =>
    [...text].filter((char) => {
      const code = char.codePointAt(0)!;
      if (char === '\n' || char === '\t') return false;
      return (
        code < 0x20 ||
        (code >= 0x7f && code <= 0x9f) ||
        (code >= 0x202a && code <= 0x202e) ||
        (code >= 0x2066 && code <= 0x2069)
      );
    });
  /** The colour sequences of the table itself: ESC [ digits m. */
  const sgr = new RegExp(`${String.fromCharCode(27)}\\[\\d+m`, 'g');

  it.skipIf(process.platform === 'win32')(
    'in the table, in colour, in errors, and exactly in JSON',
    async () => {
      const dir = await tempDir();
      await writeFile(join(dir, hostile), osSystemPickle());
      const table = await mlsec(['scan', '.'], { cwd: dir });
      expect(table.exitCode).toBe(1);
      expect(raw(table.stdout)).toEqual([]);
      expect(table.stdout).toContain(
        'evil\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\u{202e}gnp.\\u{2066}x\\x0aPASS scanned 0 files.pkl (pickle)',
      );
      expect(table.stdout.split('\n').filter((line) => line.startsWith('PASS'))).toEqual([]);

      const colour = await mlsec(['scan', '.'], { cwd: dir, env: { FORCE_COLOR: '1' } });
      // Only the colour sequences of the table itself: ESC [ digits m.
      expect(raw(colour.stdout.replace(sgr, ''))).toEqual([]);
      expect(colour.stdout).toContain('\u001b[1m');

      const json = await mlsec(['scan', '.', '--format', 'json'], { cwd: dir });
      expect(JSON.parse(json.stdout).results[0].path).toBe(hostile);

      const missing = await mlsec(['scan', hostile.replace('evil', 'gone')], { cwd: dir });
      expect(missing.exitCode).toBe(2);
      expect(raw(missing.stderr)).toEqual([]);
      expect(missing.stderr.split('\n')).toHaveLength(1);

      const check = await mlsec(['hash', '--check', 'SUMS'], { cwd: dir });
      expect(raw(check.stderr)).toEqual([]);
      await writeFile(join(dir, 'SUMS'), `${'0'.repeat(64)}  ${hostile.replace('\n', '')}\n`);
      const failed = await mlsec(['hash', '--check', 'SUMS'], { cwd: dir });
      expect(failed.exitCode).toBe(1);
      expect(raw(failed.stdout)).toEqual([]);
    },
  );
});
