import { open, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { OpenedArtifact } from '../core/scan/scan-artifact.js';
import { randomAccessSource } from '../core/source.js';

/** Opens a file for random access, counting every byte read so reports can show what was skipped. */
export async function openFileArtifact(path: string): Promise<OpenedArtifact> {
  const handle = await open(path, 'r');
  const { size } = await handle.stat();
  let bytesRead = 0;
  // Detection, the zip-directory check and the first stream chunk all start with the same bytes.
  let head: Uint8Array | undefined;
  const headLength = Math.min(size, 64 * 1024);
  const source = randomAccessSource({
    size,
    async read(offset, length) {
      if (head === undefined && offset < headLength) {
        head = await readAt(0, headLength);
      }
      if (head && offset + length <= head.length) return head.subarray(offset, offset + length);
      return readAt(offset, length);
    },
  });
  async function readAt(offset: number, length: number): Promise<Uint8Array> {
    const want = Math.max(0, Math.min(length, size - offset));
    const buffer = new Uint8Array(want);
    let filled = 0;
    while (filled < want) {
      const { bytesRead: n } = await handle.read(buffer, filled, want - filled, offset + filled);
      if (n === 0) break;
      filled += n;
    }
    bytesRead += filled;
    return filled === want ? buffer : buffer.subarray(0, filled);
  }
  return {
    source,
    bytesRead: () => bytesRead,
    close: () => handle.close(),
    outsideFolder: (location) => outsideFolder(path, location),
  };
}

/**
 * Why `location`, relative to the folder of `file` as loaders join it, resolves outside that
 * folder once symbolic links are followed; undefined when it stays inside or does not exist
 * (the loader then fails on its own).
 */
export async function outsideFolder(file: string, location: string): Promise<string | undefined> {
  const folder = dirname(file);
  const [realFolder, target] = await Promise.all([
    realpath(folder).catch(() => undefined),
    realpath(resolve(folder, location)).catch(() => undefined),
  ]);
  if (realFolder === undefined || target === undefined) return undefined;
  const inside = relative(realFolder, target);
  if (inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
    return `resolves through a symbolic link to ${target}`;
  }
  return undefined;
}
