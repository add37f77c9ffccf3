import { spawnSync } from 'node:child_process';

let probed: string | undefined | null = null;

/**
 * Why CPython cannot judge here, or undefined when python3 is there. Tests that use it as an
 * oracle (or to make inputs with its compressors) skip, saying so, on a machine without it.
 */
export function python3Missing(): string | undefined {
  if (probed === null) {
    const probe = spawnSync('python3', ['-c', 'import sys; print(sys.version_info[0])'], {
      encoding: 'utf8',
    });
    probed = probe.status === 0 && probe.stdout.trim() === '3' ? undefined : 'python3 is not installed';
  }
  return probed;
}

/** A describe title that says why it was skipped. */
export function needingPython(title: string): string {
  const missing = python3Missing();
  return missing ? `${title} (skipped: ${missing})` : title;
}
