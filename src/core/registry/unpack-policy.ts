/**
 * What pull may write. Everything lands below one staging directory, so every name must be a
 * plain relative path, and only regular files and directories are made: a link could point out of
 * the directory (or at a file written later), and device files have no place in a model.
 */

export interface UnpackLimits {
  /** Bytes written by all layers together. */
  maxTotalBytes: number;
  /** Entries (files and directories) over all layers. */
  maxEntries: number;
  /** Uncompressed bytes a gzip layer may expand to, per compressed byte. */
  maxExpansionRatio: number;
}

export const defaultUnpackLimits: UnpackLimits = {
  maxTotalBytes: 2 ** 40,
  maxEntries: 100_000,
  maxExpansionRatio: 200,
};

/** Bytes of one path component that Linux, macOS and Windows file systems all accept (NAME_MAX). */
export const maxNameBytes = 255;
/** Bytes of a whole path, without its terminating NUL, that system calls accept (PATH_MAX 4096). */
export const maxPathBytes = 4095;

/** A name for a message: quoted and escaped by JSON, and cut short when it is long. */
export function quoteName(name: string): string {
  return name.length > 100 ? `${JSON.stringify(name.slice(0, 100)).slice(0, -1)}…"` : JSON.stringify(name);
}

/** The normalized relative path (`./a//b` → `a/b`), or why it cannot be written. */
export function safeRelativePath(path: string): { path: string } | { problem: string } {
  if (path.includes('\0')) return { problem: 'NUL in path' };
  if (path.includes('\\')) return { problem: 'backslash in path' };
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) return { problem: 'absolute path' };
  const parts: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') return { problem: '".." in path' };
    if (Buffer.byteLength(segment) > maxNameBytes) {
      return { problem: `a name in the path is longer than ${maxNameBytes} bytes` };
    }
    parts.push(segment);
  }
  if (parts.length === 0) return { problem: 'empty path' };
  const normalized = parts.join('/');
  if (Buffer.byteLength(normalized) > maxPathBytes) {
    return { problem: `path longer than ${maxPathBytes} bytes` };
  }
  return { path: normalized };
}

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

/** Why a tar entry is refused, or undefined when it may be written. */
export function tarEntryProblem(entry: {
  path: string;
  type: TarEntryType;
  linkpath?: string;
}): string | undefined {
  const name = quoteName(entry.path);
  // A root entry (`./`) is harmless; the caller skips it.
  if (entry.type === 'directory' && isRootEntry(entry.path)) return undefined;
  const checked = safeRelativePath(entry.path);
  if ('problem' in checked) return `tar entry ${name}: ${checked.problem}`;
  if (entry.type === 'symlink' || entry.type === 'hardlink') {
    const target = entry.linkpath ?? '';
    const escapes = target.startsWith('/') || !isInside(checked.path, target, entry.type);
    return `tar entry ${name}: ${entry.type === 'symlink' ? 'symbolic' : 'hard'} link to ${quoteName(target)}${escapes ? ' escapes the directory' : ' refused (pull writes regular files only)'}`;
  }
  if (entry.type === 'other') return `tar entry ${name}: not a regular file or directory`;
  return undefined;
}

/** Whether a link target stays inside the root: symlinks resolve from the link's directory, hard links from the root. */
function isInside(linkPath: string, target: string, type: 'symlink' | 'hardlink'): boolean {
  const base = type === 'symlink' ? linkPath.split('/').slice(0, -1) : [];
  for (const segment of target.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (base.pop() === undefined) return false;
    } else base.push(segment);
  }
  return true;
}

export function isRootEntry(path: string): boolean {
  return /^(?:\.?\/)*\.?$/.test(path);
}
