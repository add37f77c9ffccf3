import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { MlsecError } from '../../core/errors.js';
import type { Credential } from './auth.js';

interface DockerConfig {
  auths?: Record<
    string,
    { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string }
  >;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, as docker and oras read it. */
export function dockerConfigPath(env: NodeJS.ProcessEnv): string {
  return join(env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker'), 'config.json');
}

/** `https://host:port/v1/` and other legacy keys → `host:port`. */
export function normalizeAuthKey(key: string): string {
  return key.replace(/^[a-z]+:\/\//i, '').split('/')[0]!;
}

/**
 * Credentials for `host` the way Docker looks them up: `credHelpers[host]`, then `credsStore`, then
 * `auths`. None found is anonymous access, not an error.
 */
export async function dockerCredential(
  host: string,
  env: NodeJS.ProcessEnv,
): Promise<Credential | undefined> {
  const path = dockerConfigPath(env);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MlsecError('CONFIG_INVALID', `cannot read ${path}: ${(error as Error).message}`);
  }
  let config: DockerConfig;
  try {
    config = JSON.parse(text) as DockerConfig;
  } catch {
    throw new MlsecError('CONFIG_INVALID', `${path} is not valid JSON`);
  }
  const helper = config.credHelpers?.[host] ?? config.credsStore;
  if (helper) {
    const fromHelper = await runCredentialHelper(helper, host, env);
    if (fromHelper) return fromHelper;
  }
  const entry = Object.entries(config.auths ?? {}).find(([key]) => normalizeAuthKey(key) === host)?.[1];
  if (!entry) return undefined;
  if (entry.registrytoken) return { kind: 'registry-token', token: entry.registrytoken };
  if (entry.identitytoken) return { kind: 'identity-token', token: entry.identitytoken };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0)
      throw new MlsecError('CONFIG_INVALID', `${path}: the auth entry for ${host} is not user:password`);
    return { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username && entry.password) {
    return { kind: 'basic', username: entry.username, password: entry.password };
  }
  return undefined;
}

/** `docker-credential-<name> get`: the host on stdin, `{Username, Secret}` on stdout. */
export async function runCredentialHelper(
  name: string,
  host: string,
  env: NodeJS.ProcessEnv,
): Promise<Credential | undefined> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new MlsecError('CONFIG_INVALID', `bad credential helper name ${JSON.stringify(name)}`);
  }
  const program = `docker-credential-${name}`;
  const result = await execa(program, ['get'], {
    input: host,
    reject: false,
    timeout: 60_000,
    env,
    extendEnv: false,
  });
  if (result.exitCode !== 0) {
    const said = `${result.stdout}\n${result.stderr}`;
    if (/credentials not found/i.test(said)) return undefined;
    // The helper's output is not echoed: some print what they were given.
    const why =
      result.failed && result.exitCode === undefined ? 'could not be run' : `exited with ${result.exitCode}`;
    throw new MlsecError('REGISTRY_AUTH', `credential helper ${program} ${why}`);
  }
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    throw new MlsecError('REGISTRY_AUTH', `credential helper ${program} printed something that is not JSON`);
  }
  if (typeof parsed.Secret !== 'string' || parsed.Secret === '') return undefined;
  const username = typeof parsed.Username === 'string' ? parsed.Username : '';
  if (username === '<token>') return { kind: 'identity-token', token: parsed.Secret };
  return { kind: 'basic', username, password: parsed.Secret };
}
