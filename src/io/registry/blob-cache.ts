import { mkdir, mkdtemp, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { MlsecError } from '../../core/errors.js';

/** `--cache-dir`, else `$XDG_CACHE_HOME/mlsec`, else `~/.cache/mlsec`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'mlsec');
}

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
