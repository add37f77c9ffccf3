import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, join, relative, resolve, sep } from 'node:path';
import { MlsecError } from '../core/errors.js';
import { makeFinding } from '../core/scan/context.js';
import type { ArtifactInput } from '../core/scan/scan-artifact.js';
import { openFileArtifact } from './file-source.js';

export interface WalkOptions {
  /** Globs matched against paths relative to each scanned root, and against base names. */
  exclude?: readonly string[];
  /** Base directory for reported paths (usually the working directory). */
  cwd: string;
}

/** Checks that every path exists before any scanning starts, so a typo fails fast with exit 2. */
export async function checkPaths(paths: readonly string[], cwd: string): Promise<void> {
  for (const path of paths) {
    try {
      await stat(resolve(cwd, path));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new MlsecError('INPUT_NOT_FOUND', `no such file or directory: ${path}`);
      if (code === 'EACCES') throw new MlsecError('INPUT_UNREADABLE', `permission denied: ${path}`);
      throw new MlsecError('INPUT_UNREADABLE', `cannot read ${path}: ${(error as Error).message}`);
    }
  }
}

const posix = (path: string) => path.split(sep).join('/');

/** Files of one directory statted at once: enough to hide the round trips, few enough to bound memory. */
const statWindow = 64;

/** A regular file found by the walk, or a link it refused to follow out of the scanned root. */
export type WalkEntry =
  | { kind: 'file'; path: string; absolute: string; size: number }
  | { kind: 'outside-link'; path: string; target: string }
  | { kind: 'unreadable-dir'; path: string; error: unknown };

/**
 * Yields every regular file under the given paths in a stable order. Symbolic links are
 * followed only when they stay inside the scanned root; directory links never, so loops cannot
 * form; a link out of the root is reported, not read.
 */
/** picomatch loads only when there are globs: start-up is paid on every hook and CI step. */
function excludeMatcher(globs: readonly string[]): (rel: string) => boolean {
  if (globs.length === 0) return () => false;
  const picomatch = createRequire(import.meta.url)('picomatch') as typeof import('picomatch');
  const excluded = picomatch([...globs], { dot: true });
  return (rel) => rel !== '' && (excluded(rel) || excluded(basename(rel)));
}

export async function* walkFiles(paths: readonly string[], options: WalkOptions): AsyncIterable<WalkEntry> {
  const isExcluded = excludeMatcher(options.exclude ?? []);
  const reportPath = (absolute: string) => posix(relative(options.cwd, absolute) || basename(absolute));

  for (const path of paths) {
    const absolute = resolve(options.cwd, path);
    const info = await stat(absolute);
    if (!info.isDirectory()) {
      yield { kind: 'file', path: reportPath(absolute), absolute, size: info.size };
      continue;
    }
    const root = await realpath(absolute);
    yield* walkDirectory(absolute, root, '', new Set());
  }

  async function* walkDirectory(
    dir: string,
    root: string,
    rel: string,
    visited: Set<string>,
  ): AsyncIterable<WalkEntry> {
    const info = await stat(dir).catch(() => undefined);
    const key = info ? `${info.dev}:${info.ino}` : dir;
    if (visited.has(key)) return;
    visited.add(key);
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      yield { kind: 'unreadable-dir', path: reportPath(dir), error };
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (let from = 0; from < entries.length; from += statWindow) {
      const window = entries
        .slice(from, from + statWindow)
        .map((entry) => ({ entry, rel: rel ? `${rel}/${entry.name}` : entry.name }))
        .filter((child) => !isExcluded(child.rel));
      // One lstat after another would cost a thread-pool round trip per file.
      const children = await Promise.all(
        window.map(async ({ entry, rel }) => {
          const path = join(dir, entry.name);
          return { entry, rel, path, size: entry.isFile() ? await sizeOf(path) : 0 };
        }),
      );
      yield* walkWindow(children, root, visited);
    }
  }

  async function* walkWindow(
    children: readonly { entry: Dirent; rel: string; path: string; size: number }[],
    root: string,
    visited: Set<string>,
  ): AsyncIterable<WalkEntry> {
    for (const { entry, rel: childRel, path: child, size } of children) {
      if (entry.isDirectory()) yield* walkDirectory(child, root, childRel, visited);
      else if (entry.isFile()) {
        yield { kind: 'file', path: reportPath(child), absolute: child, size };
      } else if (entry.isSymbolicLink()) {
        const link = await followLink(child, root);
        if (link.kind === 'outside')
          yield { kind: 'outside-link', path: reportPath(child), target: link.target };
        else if (link.kind === 'file')
          yield { kind: 'file', path: reportPath(child), absolute: child, size: link.stats.size };
      }
    }
  }
}

/** The walk as scan inputs: files to open, links out of the root as findings. */
export function walkArtifacts(paths: readonly string[], options: WalkOptions): AsyncIterable<ArtifactInput> {
  return toArtifacts(walkFiles(paths, options));
}

export async function* toArtifacts(entries: AsyncIterable<WalkEntry>): AsyncIterable<ArtifactInput> {
  for await (const entry of entries) {
    if (entry.kind === 'file')
      yield { path: entry.path, size: entry.size, open: () => openFileArtifact(entry.absolute) };
    else if (entry.kind === 'outside-link') {
      const message = `symbolic link to ${entry.target} leaves the scanned directory; not followed`;
      yield { path: entry.path, size: 0, notes: [makeFinding('symlinkOutside', message, undefined)] };
    } else yield { path: entry.path, size: 0, open: () => Promise.reject(entry.error) };
  }
}

/** A file's size as the walk lists it; one that vanished meanwhile lists as empty and fails when read. */
function sizeOf(path: string): Promise<number> {
  return lstat(path).then(
    (stats) => stats.size,
    () => 0,
  );
}

type LinkTarget = { kind: 'outside'; target: string } | { kind: 'file'; stats: Stats } | { kind: 'other' };

async function followLink(path: string, root: string): Promise<LinkTarget> {
  let target: string;
  try {
    target = await realpath(path);
  } catch {
    return { kind: 'other' }; // dangling link: nothing to scan
  }
  if (target !== root && !target.startsWith(root + sep)) return { kind: 'outside', target };
  const stats = await stat(target);
  // Directory links are not followed: their targets inside the root are walked anyway.
  return stats.isFile() ? { kind: 'file', stats } : { kind: 'other' };
}
