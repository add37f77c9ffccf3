import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { MlsecError } from '../../core/errors.js';

/** `--cache-dir`, else `$XDG_CACHE_HOME/mlsec`, else `~/.cache/mlsec`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'mlsec');
}

/**
 * How the file a download writes into ends (`<hex>.<pid>-<random>.downloading`): its own, so two
 * pulls sharing a cache never write into one file. One left behind by a killed process is swept.
 */
export const ownPartialSuffix = '.downloading';
/** A download's own file untouched this long belongs to a process that is gone. */
const abandonedAfterMs = 24 * 3600_000;

/**
 * Blobs by digest (`blobs/sha256/<hex>`). Only verified bytes are renamed into place, and pull
 * hashes them again as it copies them out, so a damaged cache fails a check instead of landing.
 */
export class BlobCache {
  private constructor(readonly root: string) {}

  static async open(root: string): Promise<BlobCache> {
    try {
      await mkdir(join(root, 'blobs', 'sha256'), { recursive: true });
      await mkdir(join(root, 'tmp'), { recursive: true });
    } catch (error) {
      throw new MlsecError(
        'OUTPUT_UNWRITABLE',
        `cannot use cache directory ${root}: ${(error as Error).message}`,
      );
    }
    await sweepAbandoned(join(root, 'blobs', 'sha256'), Date.now() - abandonedAfterMs);
    return new BlobCache(root);
  }

  path(digest: string): string {
    const hex = digest.slice('sha256:'.length);
    if (!/^[0-9a-f]{64}$/.test(hex) || !digest.startsWith('sha256:')) {
      throw new MlsecError('INTERNAL', `not a sha256 digest: ${digest.slice(0, 80)}`);
    }
    return join(this.root, 'blobs', 'sha256', hex);
  }

  async has(digest: string, size: number): Promise<boolean> {
    const info = await stat(this.path(digest)).catch(() => undefined);
    return info?.isFile() === true && info.size === size;
  }

  /** A private scratch directory inside the cache (same file system, so renames are atomic). */
  scratch(): Promise<string> {
    return mkdtemp(join(this.root, 'tmp', 'work-'));
  }
}

async function sweepAbandoned(dir: string, before: number): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names.filter((n) => n.endsWith(ownPartialSuffix))) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (info && info.mtimeMs < before) await rm(path, { force: true });
  }
}
