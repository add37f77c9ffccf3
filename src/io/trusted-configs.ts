import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { MlsecError } from '../core/errors.js';
import { writeFileAtomically } from './atomic-write.js';
import { readConfigFile } from './config-file.js';

/**
 * Configs the user has approved (`mlsec config trust`), in the manner of `direnv allow`: each by
 * its place and the SHA-256 of its bytes, so a changed file, or the same bytes in another place
 * (a downloaded repository copying an approved file), is not approved.
 */
export interface TrustedConfigs {
  schemaVersion: 1;
  configs: Record<string, { sha256: string; approved: string }>;
}

export type TrustStatus = 'approved' | 'changed' | 'unapproved';

/** `$XDG_CONFIG_HOME/mlsec`, else `~/.config/mlsec`. */
export function userConfigDir(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'mlsec');
  return join(env.HOME || homedir(), '.config', 'mlsec');
}

export function trustFilePath(env: NodeJS.ProcessEnv): string {
  return join(userConfigDir(env), 'trusted-configs.json');
}

/**
 * The key a config is approved under: its directory with links resolved (a project reached by
 * another path is the same project), and its own name as it is (a `.mlsec.yaml` that is a link to
 * an approved file elsewhere is not approved).
 */
export function trustKey(path: string): string {
  let directory = dirname(path);
  try {
    directory = realpathSync(directory);
  } catch {
    // An unresolvable directory keeps its spelling; it cannot match a resolved one by accident.
  }
  return join(directory, basename(path));
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export async function readTrustedConfigs(env: NodeJS.ProcessEnv): Promise<TrustedConfigs> {
  const path = trustFilePath(env);
  let bytes: Buffer;
  try {
    bytes = await readConfigFile(path);
  } catch (error) {
    const cause = (error as { cause?: NodeJS.ErrnoException }).cause;
    if (cause?.code === 'ENOENT') return { schemaVersion: 1, configs: {} };
    throw error;
  }
  let data: unknown;
  try {
    data = JSON.parse(bytes.toString('utf8'));
  } catch {
    data = undefined;
  }
  const configs = (data as Partial<TrustedConfigs> | undefined)?.configs;
  const valid =
    typeof configs === 'object' &&
    configs !== null &&
    !Array.isArray(configs) &&
    Object.values(configs).every(
      (entry) => typeof entry === 'object' && entry !== null && /^[0-9a-f]{64}$/.test(String(entry.sha256)),
    );
  if (!valid) {
    throw new MlsecError(
      'CONFIG_INVALID',
      `${path}: not a list of approved configs (remove it and approve them again with mlsec config trust)`,
    );
  }
  return { schemaVersion: 1, configs: configs as TrustedConfigs['configs'] };
}

export async function trustStatus(
  env: NodeJS.ProcessEnv,
  path: string,
  sha256: string,
): Promise<TrustStatus> {
  const { configs } = await readTrustedConfigs(env);
  const key = trustKey(path);
  const entry = Object.hasOwn(configs, key) ? configs[key] : undefined;
  if (!entry) return 'unapproved';
  return entry.sha256 === sha256 ? 'approved' : 'changed';
}

async function writeTrustedConfigs(env: NodeJS.ProcessEnv, trusted: TrustedConfigs): Promise<void> {
  const path = trustFilePath(env);
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFileAtomically(path, `${JSON.stringify(trusted, null, 2)}\n`, { mode: 0o600 });
  } catch (error) {
    throw new MlsecError('OUTPUT_UNWRITABLE', `cannot write ${path}: ${(error as Error).message}`);
  }
}

export async function approveConfig(
  env: NodeJS.ProcessEnv,
  path: string,
  sha256: string,
  now: Date,
): Promise<void> {
  const trusted = await readTrustedConfigs(env);
  trusted.configs[trustKey(path)] = { sha256, approved: now.toISOString() };
  await writeTrustedConfigs(env, trusted);
}

/** Whether there was an approval to withdraw. */
export async function withdrawConfig(env: NodeJS.ProcessEnv, path: string): Promise<boolean> {
  const trusted = await readTrustedConfigs(env);
  const key = trustKey(path);
  if (!Object.hasOwn(trusted.configs, key)) return false;
  delete trusted.configs[key];
  await writeTrustedConfigs(env, trusted);
  return true;
}
