import { constants, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { MlsecError } from '../core/errors.js';

export const maxConfigBytes = 1 << 20;

/**
 * The bytes of a config file, opened once and read with a bound. O_NONBLOCK: opening a FIFO for
 * reading would otherwise wait for a writer forever. Only a regular file is read (fstat on the
 * open descriptor, so the check and the read concern the same file): a checked-in symbolic link to
 * /dev/zero, a device or a FIFO is an error, and so is a file that grows past the bound.
 */
export async function readConfigFile(path: string, shown: string = path): Promise<Buffer> {
  const flags = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, flags);
  } catch (error) {
    throw new MlsecError('CONFIG_INVALID', `cannot read config ${shown}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      throw new MlsecError('CONFIG_INVALID', `${shown}: not a regular file (${fileKind(info)}); refused`);
    }
    if (info.size > maxConfigBytes) throw new MlsecError('CONFIG_INVALID', `${shown}: larger than 1 MiB`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, maxConfigBytes + 1 - total));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
      if (total > maxConfigBytes) throw new MlsecError('CONFIG_INVALID', `${shown}: larger than 1 MiB`);
    }
    return Buffer.concat(chunks, total);
  } catch (error) {
    if (error instanceof MlsecError) throw error;
    throw new MlsecError('CONFIG_INVALID', `cannot read config ${shown}: ${(error as Error).message}`);
  } finally {
    await handle.close();
  }
}

function fileKind(info: Stats): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isSocket()) return 'a socket';
  return 'not a file';
}
