import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { describeError, ExitCode, isMlsecError } from '../core/errors.js';
import { makeTerminal, printable, type Terminal } from './output.js';

type Register = (program: Command, terminal: Terminal, version: string) => void;

/**
 * Every subcommand, loaded only when it runs: start-up is paid on every pre-commit hook and CI step,
 * and loading all of them costs more than a small hash takes. Help loads them all.
 */
const commands: Record<string, () => Promise<Register>> = {
  scan: async () => (await import('./commands/scan.js')).registerScan,
  hash: async () => (await import('./commands/hash.js')).registerHash,
  license: async () => (await import('./commands/license.js')).registerLicense,
  bom: async () => (await import('./commands/bom.js')).registerBom,
  sign: async () => (await import('./commands/sign.js')).registerSign,
  verify: async () => (await import('./commands/verify.js')).registerVerify,
  keygen: async () => (await import('./commands/keygen.js')).registerKeygen,
  push: async () => (await import('./commands/push.js')).registerPush,
  pull: async () => (await import('./commands/pull.js')).registerPull,
  config: async () => (await import('./commands/config.js')).registerConfig,
};

function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/**
 * The one place that turns results and errors into output and an exit code. Commands set
 * `process.exitCode`; errors land here; stack traces only with --debug.
 */
export async function main(argv: readonly string[]): Promise<void> {
  const debug = argv.includes('--debug');
  const colorFlag = argv.includes('--no-color') ? false : argv.includes('--color') ? true : undefined;
  const terminal = await makeTerminal(process, colorFlag);
  const version = packageVersion();
  const program = new Command('mlsec')
    .description('Scan, checksum, sign, verify, push and pull ML model artifacts.')
    .version(version, '-V, --version')
    .option('--debug', 'print stack traces for errors')
    .option('--color', 'force coloured output')
    .option('--no-color', 'disable coloured output (NO_COLOR is honoured too)')
    .showHelpAfterError('(run mlsec --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => terminal.stdout.write(text),
      writeErr: (text) => terminal.stderr.write(text),
    });
  for (const load of commandsToLoad(argv)) (await load())(program, terminal, version);
  try {
    await program.parseAsync(argv as string[]);
  } catch (error) {
    process.exitCode = handleError(error, terminal.stderr, debug);
  }
}

/** The named subcommand alone when argv names one; otherwise (help, a typo) all of them. */
function commandsToLoad(argv: readonly string[]): (() => Promise<Register>)[] {
  const name = argv.slice(2).find((arg) => !arg.startsWith('-'));
  const named = name !== undefined && Object.hasOwn(commands, name) ? commands[name] : undefined;
  return named ? [named] : Object.values(commands);
}

function handleError(error: unknown, stderr: NodeJS.WritableStream, debug: boolean): number {
  if (error instanceof CommanderError) {
    // Help and version end here too, with code 0; commander has already printed them.
    return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  }
  if (isMlsecError(error)) {
    // One line, whatever a file name or a registry put into it.
    stderr.write(`mlsec: ${printable(error.message)}\n`);
    if (debug && error.stack) stderr.write(`${error.stack}\n`);
    return error.exitCode;
  }
  stderr.write(
    `mlsec: internal error: ${printable(describeError(error))}${debug ? '' : ' (run with --debug for details)'}\n`,
  );
  if (debug && error instanceof Error && error.stack) stderr.write(`${error.stack}\n`);
  return ExitCode.usage;
}
