import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { MlsecError } from '../core/errors.js';
import { parseDuration } from '../core/registry/duration.js';
import type { ImageReference } from '../core/registry/reference.js';
import type { Credential } from '../io/registry/auth.js';
import type { RegistryClient } from '../io/registry/client.js';
import { startSpinner, type Terminal } from './output.js';

export interface RegistryFlags {
  username?: string;
  passwordStdin?: boolean;
  plainHttp?: boolean;
  insecure?: boolean;
  caFile?: string;
  allowInsecureTokenRealm?: boolean;
  timeout?: string;
  cacheDir?: string;
  concurrency: string;
  format: string;
  progress?: boolean;
}

/** Options push and pull share. */
export function registryOptions(command: Command): Command {
  return command
    .option('-u, --username <name>', 'registry user name (with --password-stdin)')
    .option('--password-stdin', 'read the password or token from standard input')
    .option('--plain-http', 'talk HTTP, not HTTPS (local registries only)')
    .option('--insecure', 'HTTPS without checking the certificate')
    .option('--ca-file <pem>', 'trust this CA bundle for the registry')
    .option(
      '--allow-insecure-token-realm',
      'send credentials to a plain-HTTP token server on another host than the registry',
    )
    .option(
      '--timeout <duration>',
      'deadline for all registry requests, e.g. 90s, 30m, 2h (default 1h plus 1s per MiB of blobs)',
    )
    .option('--cache-dir <dir>', 'blob cache (default ~/.cache/mlsec)')
    .option('--concurrency <n>', 'blobs transferred at once', '3')
    .option('-f, --format <format>', 'text or json', 'text')
    .option('--progress', 'show progress even when standard error is not a terminal');
}

export function parseConcurrency(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 32) {
    throw new MlsecError('USAGE', '--concurrency must be a whole number from 1 to 32');
  }
  return n;
}

/** `--timeout`, in milliseconds; undefined when not given. */
export function parseTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === undefined) {
    throw new MlsecError(
      'USAGE',
      `--timeout ${JSON.stringify(value.slice(0, 40))} is not a duration (e.g. 90s, 30m, 1h30m)`,
    );
  }
  return ms;
}

export function parseFormat(value: string): 'text' | 'json' {
  if (value === 'text' || value === 'json') return value;
  throw new MlsecError('USAGE', `unknown --format ${JSON.stringify(value)} (expected text or json)`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Flags first, then Docker's config and credential helpers, then anonymous. Never printed. */
async function credentialFor(
  host: string,
  flags: RegistryFlags,
  terminal: Terminal,
): Promise<Credential | undefined> {
  if (flags.passwordStdin) {
    const secret = await readStdin();
    if (!secret) throw new MlsecError('USAGE', '--password-stdin: nothing on standard input');
    if (!flags.username) return { kind: 'registry-token', token: secret };
    return { kind: 'basic', username: flags.username, password: secret };
  }
  if (flags.username) throw new MlsecError('USAGE', '--username needs --password-stdin');
  const { dockerCredential } = await import('../io/registry/credentials.js');
  return dockerCredential(host, terminal.env);
}

export async function makeClient(
  ref: ImageReference,
  flags: RegistryFlags,
  terminal: Terminal,
  extra: { chunkSize?: number; signal?: AbortSignal } = {},
): Promise<RegistryClient> {
  if (flags.plainHttp && flags.insecure)
    throw new MlsecError('USAGE', '--plain-http and --insecure exclude each other');
  const timeoutMs = parseTimeout(flags.timeout);
  let ca: string | undefined;
  if (flags.caFile) {
    try {
      ca = await readFile(resolve(terminal.cwd, flags.caFile), 'utf8');
    } catch (error) {
      throw new MlsecError(
        'INPUT_NOT_FOUND',
        `cannot read --ca-file ${flags.caFile}: ${(error as Error).message}`,
      );
    }
  }
  const credential = await credentialFor(ref.registry, flags, terminal);
  // Loaded here, not at start-up: undici is the biggest module push loads, and push hashes meanwhile.
  const { RegistryClient } = await import('../io/registry/client.js');
  return new RegistryClient({
    registry: ref.registry,
    repository: ref.repository,
    ...(flags.plainHttp ? { plainHttp: true } : {}),
    ...(flags.insecure ? { insecure: true } : {}),
    ...(ca ? { ca } : {}),
    ...(credential ? { credential } : {}),
    ...(flags.allowInsecureTokenRealm ? { allowInsecureTokenRealm: true } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(extra.chunkSize ? { chunkSize: extra.chunkSize } : {}),
    ...(extra.signal ? { signal: extra.signal } : {}),
  });
}

/**
 * What a push or pull shows while it runs: blobs done, one line per blob in flight, and while the
 * model is still being hashed, how far the hash is. One display, so two never write over each other.
 */
export class TransferStatus {
  readonly #verb: string;
  readonly #active = new Map<string, string>();
  #done = 0;
  #hashing: string | undefined;

  constructor(verb: string) {
    this.#verb = verb;
  }

  blob(name: string, bytes: number, size: number, finished: boolean): void {
    if (finished) {
      this.#active.delete(name);
      this.#done += 1;
    } else {
      this.#active.set(name, `${name}: ${percent(bytes, size)}% of ${formatBytes(size)}`);
    }
  }

  /** Bytes of the model hashed so far; the line goes once all `total` are. */
  hashed(bytes: number, total: number): void {
    this.#hashing = bytes < total ? `hashing: ${percent(bytes, total)}% of ${formatBytes(total)}` : undefined;
  }

  get text(): string {
    const done = `${this.#verb}: ${this.#done} blob${this.#done === 1 ? '' : 's'} done`;
    return [done, ...(this.#hashing ? [this.#hashing] : []), ...this.#active.values()].join('\n  ');
  }
}

const percent = (part: number, whole: number) => (whole > 0 ? Math.floor((100 * part) / whole) : 100);

/** The transfer status on a spinner: only for a person watching, or with --progress. */
export async function blobProgress(terminal: Terminal, force: boolean, verb: string) {
  const spinner = await startSpinner(terminal, verb, force);
  if (!spinner) return undefined;
  const status = new TransferStatus(verb);
  return {
    update(name: string, bytes: number, size: number, finished: boolean) {
      status.blob(name, bytes, size, finished);
      spinner.text = status.text;
    },
    hashed(bytes: number, total: number) {
      status.hashed(bytes, total);
      spinner.text = status.text;
    },
    stop: () => spinner.stop(),
  };
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
