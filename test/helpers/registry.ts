import { execa } from 'execa';
import { describe } from 'vitest';
import { bin } from './cli.js';

/** The test registries (host:port on 127.0.0.1), started by .ci/run or by test/registry/global-setup.ts. */
export const registries = {
  plain: process.env.MLSEC_TEST_REGISTRY,
  basic: process.env.MLSEC_TEST_REGISTRY_BASIC
    ? {
        host: process.env.MLSEC_TEST_REGISTRY_BASIC,
        user: process.env.MLSEC_TEST_REGISTRY_BASIC_USER!,
        password: process.env.MLSEC_TEST_REGISTRY_BASIC_PASSWORD!,
      }
    : undefined,
  tls: process.env.MLSEC_TEST_REGISTRY_TLS
    ? {
        host: process.env.MLSEC_TEST_REGISTRY_TLS,
        user: process.env.MLSEC_TEST_REGISTRY_TLS_USER!,
        password: process.env.MLSEC_TEST_REGISTRY_TLS_PASSWORD!,
        ca: process.env.MLSEC_TEST_REGISTRY_TLS_CA!,
      }
    : undefined,
  token: process.env.MLSEC_TEST_REGISTRY_TOKEN
    ? {
        host: process.env.MLSEC_TEST_REGISTRY_TOKEN,
        user: process.env.MLSEC_TEST_REGISTRY_TOKEN_USER!,
        password: process.env.MLSEC_TEST_REGISTRY_TOKEN_PASSWORD!,
        refresh: process.env.MLSEC_TEST_REGISTRY_TOKEN_REFRESH!,
      }
    : undefined,
};

const skipReason = process.env.MLSEC_TEST_REGISTRY_SKIP ?? 'no test registry';

/** `describe` when the registry exists, else a skipped suite whose name says why. */
export function describeWithRegistry(name: string, available: unknown, body: () => void): void {
  if (available) describe(name, body);
  else describe.skip(`${name} (skipped: ${skipReason})`, body);
}

/** A repository name no other test uses. */
let counter = 0;
export function uniqueRepo(prefix: string): string {
  counter += 1;
  return `${prefix}/${process.pid}-${Date.now().toString(36)}-${counter}`;
}

/** Like `mlsec()`, with text on standard input (for --password-stdin). */
export async function mlsecWithInput(args: string[], options: { cwd: string; input: string }) {
  const result = await execa('node', [bin, ...args], {
    cwd: options.cwd,
    env: { NO_COLOR: '', FORCE_COLOR: '0', CI: 'true' },
    input: options.input,
    reject: false,
    timeout: 120_000,
  });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}
