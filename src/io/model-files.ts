import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { MlsecError } from '../core/errors.js';
import { shouldIgnore, singleFileName } from '../core/hash/manifest.js';

export interface ModelFile {
  /** POSIX path relative to the model root; `.` for a single-file model, as model_signing names it. */
  path: string;
  absolute: string;
  size: number;
}

/**
 * The files of a model as OpenSSF Model Signing enumerates them: regular files only, ignored paths
 * left out, and no symbolic links, which a signed manifest refuses (allow_symlinks is false).
 */
export async function listModelFiles(root: string, ignores: readonly string[]): Promise<ModelFile[]> {
  const absolute = resolve(root);
  const info = await lstat(absolute);
  if (info.isSymbolicLink()) throw symlinkError(root);
  if (info.isFile()) return [{ path: singleFileName, absolute, size: info.size }];
  if (!info.isDirectory()) throw new MlsecError('INPUT_INVALID', `${root} is neither a file nor a directory`);
  const files: ModelFile[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    const entries: Dirent[] = await readdir(dir, { withFileTypes: true });
    for (const entry of entries) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      // Node decodes names as UTF-8, replacing what is not; such a name cannot be hashed or signed.
      if (entry.name.includes('\uFFFD')) {
        throw new MlsecError(
          'INPUT_INVALID',
          `${join(root, childRel)}: a file name that is not valid UTF-8 cannot be named in a manifest`,
        );
      }
      if (shouldIgnore(childRel, ignores)) continue;
      const child = join(dir, entry.name);
      if (entry.isSymbolicLink()) throw symlinkError(join(root, childRel));
      if (entry.isDirectory()) await walk(child, childRel);
      else if (entry.isFile())
        files.push({ path: childRel, absolute: child, size: (await lstat(child)).size });
      else throw new MlsecError('INPUT_INVALID', `${join(root, childRel)} is not a regular file`);
    }
  };
  await walk(absolute, '');
  return files;
}

function symlinkError(path: string): MlsecError {
  return new MlsecError(
    'INPUT_INVALID',
    `${path} is a symbolic link; model manifests do not follow links (copy the target or ignore the path)`,
  );
}

export function modelName(root: string): string {
  return basename(resolve(root));
}
