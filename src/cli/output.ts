import { randomBytes } from 'node:crypto';
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

/**
 * What a terminal would act on rather than show: C0 and C1 controls, DEL, the bidirectional
 * embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) and marks, line and paragraph
 * separators, and lone surrogates. A file name, an archive member, a layer title or a certificate
 * field holding them could retitle the window, clear the screen, hide a finding or forge a line.
 */
const unprintable =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const escapeCode = (char: string) => {
  const code = char.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
};

/** `text` with every character a terminal would act on written as an escape (`\x1b`, `\u{202e}`). */
export function printable(text: string, keep: readonly string[] = []): string {
  return text.replace(unprintable, (char) => (keep.includes(char) ? char : escapeCode(char)));
}

const sanitized = Symbol('terminal text');
type TextStream = NodeJS.WritableStream & {
  isTTY?: boolean;
  [sanitized]?: { raw: NodeJS.WritableStream; text: (text: string) => string };
};

/**
 * The one place text meets the terminal. Standard output and error, as commands see them, write
 * everything printable: only line feeds and tabs pass, and escape sequences only where the colour
 * styles made them. The styles mark their escapes with a per-run random token, so an escape byte
 * that arrives from a file name or a registry is shown as `\x1b`, never sent, even when colour is
 * on. JSON and SARIF go to the stream unchanged (`writeReport(..., exact)`), escaped by JSON itself.
 */
function textStream(raw: NodeJS.WritableStream, text: (text: string) => string): TextStream {
  return Object.create(raw, {
    write: {
      value: (chunk: unknown, ...rest: unknown[]) =>
        (raw.write as (...args: unknown[]) => boolean)(
          typeof chunk === 'string' ? text(chunk) : chunk,
          ...rest,
        ),
    },
    [sanitized]: { value: { raw, text } },
  });
}

/** The stream under a text stream: for exact documents, and for spinners, which write their own escapes. */
export function rawStream(stream: NodeJS.WritableStream): NodeJS.WritableStream {
  return (stream as TextStream)[sanitized]?.raw ?? stream;
}

/** Terminal text as the stream would write it (for `--output` files of table output). */
function terminalText(stream: NodeJS.WritableStream, text: string): string {
  return (stream as TextStream)[sanitized]?.text(text) ?? text;
}

/** Chalk whose escapes are marked with `mark`, and whose arguments cannot bring escapes of their own. */
function markedStyles(chalk: ChalkInstance, mark: string): ChalkInstance {
  // A stand-in function per builder: chalk's own builders have fixed properties a Proxy must mirror.
  const wrap = (builder: unknown): ChalkInstance =>
    new Proxy((() => {}) as unknown as ChalkInstance, {
      get: (_target, key) => {
        if (key === 'then' || typeof key === 'symbol') return undefined;
        const value = Reflect.get(builder as object, key);
        return typeof value === 'function' ? wrap(value) : value;
      },
      apply: (_target, _this, args: unknown[]) => {
        const inert = args.map((arg) => String(arg).replaceAll('\u001b', '\\x1b'));
        const styled = Reflect.apply(builder as (...a: unknown[]) => unknown, undefined, inert);
        return String(styled).replaceAll('\u001b', mark);
      },
    });
  return wrap(chalk);
}

export async function makeTerminal(
  process: Pick<NodeJS.Process, 'stdout' | 'stderr' | 'env' | 'cwd'>,
  colorFlag?: boolean,
): Promise<Terminal> {
  const level = colorLevel(process.env, process.stdout.isTTY === true, colorFlag);
  const mark = `\u0000${randomBytes(12).toString('hex')}\u0000`;
  const text = (value: string) =>
    value
      .split(mark)
      .map((part) => printable(part, ['\n', '\t']))
      .join('\u001b');
  return {
    stdout: textStream(process.stdout, text),
    stderr: textStream(process.stderr, text),
    color: level === 0 ? plainStyles : markedStyles(new (await import('chalk')).Chalk({ level }), mark),
    interactive: process.stderr.isTTY === true && !process.env.CI && !process.env.PRE_COMMIT,
    env: process.env,
    cwd: process.cwd(),
  };
}

/**
 * Results go to standard output, or to `--output FILE`; nothing else is ever written there.
 * `exact` for documents (JSON, SARIF, checksum lines): their bytes are the data, left as they are.
 */
export async function writeReport(
  text: string,
  output: string | undefined,
  terminal: Terminal,
  exact = false,
): Promise<void> {
  if (!output) {
    (exact ? rawStream(terminal.stdout) : terminal.stdout).write(text);
    return;
  }
  try {
    await writeFile(resolve(terminal.cwd, output), exact ? text : terminalText(terminal.stdout, text));
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
  const spinner = ora({ stream: rawStream(terminal.stderr), isEnabled: true, text: printable(text, ['\n']) });
  // The spinner writes to the terminal itself, with escapes of its own, so the text it is given is
  // made printable on the way in (ora keeps its state in private fields: a Proxy cannot stand in).
  const property = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(spinner), 'text');
  if (property?.get && property.set) {
    const { get, set } = property;
    Object.defineProperty(spinner, 'text', {
      get: () => get.call(spinner),
      set: (value: unknown) =>
        set.call(spinner, typeof value === 'string' ? printable(value, ['\n']) : value),
    });
  }
  return spinner.start();
}
