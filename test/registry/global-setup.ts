import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Registries for the push/pull tests. CI (.ci/run) starts them and exports their addresses; a
 * developer running `npm test` gets them started here when Debian's docker-registry is installed,
 * and the registry tests skip (saying why) when it is not.
 */
const scripts = resolve(import.meta.dirname);
const modes = [
  ['plain', 'MLSEC_TEST_REGISTRY'],
  ['htpasswd', 'MLSEC_TEST_REGISTRY_BASIC'],
  ['tls', 'MLSEC_TEST_REGISTRY_TLS'],
  ['token', 'MLSEC_TEST_REGISTRY_TOKEN'],
] as const;

export default function setup(): (() => void) | undefined {
  const missing = modes.filter(([, variable]) => !process.env[variable]);
  if (missing.length === 0) return undefined;
  try {
    execFileSync('sh', ['-c', 'command -v docker-registry'], { stdio: 'ignore' });
  } catch {
    process.env.MLSEC_TEST_REGISTRY_SKIP =
      'docker-registry is not installed (apt-get install docker-registry)';
    return undefined;
  }
  const started: string[] = [];
  const stop = () => {
    for (const state of started)
      execFileSync('bash', [join(scripts, 'stop.sh'), state], { stdio: 'inherit' });
  };
  // A mode that cannot start (a tool it needs is missing) is skipped by its tests, saying why;
  // the others still run.
  const failed: string[] = [];
  for (const [mode] of missing) {
    const state = mkdtempSync(join(tmpdir(), `mlsec-registry-${mode}-`));
    started.push(state);
    try {
      const out = execFileSync('bash', [join(scripts, 'start.sh'), mode, state], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      for (const line of out.split('\n')) {
        const match = /^export ([A-Z_]+)=(.*)$/.exec(line);
        if (match) process.env[match[1]!] = match[2]!;
      }
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
      failed.push(`${mode}: ${stderr.split('\n').at(-1) || 'could not start'}`);
    }
  }
  if (failed.length > 0) process.env.MLSEC_TEST_REGISTRY_SKIP = `registry not started (${failed.join('; ')})`;
  return stop;
}
