import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadEntry } from 'tar';
import { streamSource } from '../../../source.js';
import { ascii, type FormatReader, startsWith } from '../../format-reader.js';
import { isUnsafePath, reportEntryLimit } from '../zip/zip-reader.js';

const fileTypes = new Set(['File', 'OldFile', 'ContiguousFile']);
const linkTypes = new Set(['SymbolicLink', 'Link']);

/**
 * Tar archives (and PyTorch's legacy tar checkpoints), parsed by node-tar. Entries are scanned
 * one at a time as the archive streams past, so memory stays bounded by one read buffer.
 */
export const tarReader: FormatReader = {
  id: 'tar',
  description: 'tar archive',
  // Python's tarfile (torch.load's legacy tar path) also reads pre-POSIX (V7) archives, which have
  // no magic: their first header is recognised by its checksum.
  detect: (head) => startsWith(head, ascii('ustar'), 257) || isV7Header(head),
  async scan(source, context) {
    const queue: (ReadEntry | null)[] = [];
    let wake: (() => void) | undefined;
    const notify = () => {
      wake?.();
      wake = undefined;
    };
    const { Parser } = await import('tar');
    const parser = new Parser({
      onReadEntry: (entry: ReadEntry) => {
        queue.push(entry);
        notify();
      },
    });
    let parseError: unknown;
    const parsing = pipeline(Readable.from(asBuffers(source.stream())), parser)
      .catch((error: unknown) => {
        parseError = error;
      })
      .finally(() => {
        queue.push(null);
        notify();
      });
    const names: string[] = [];
    let count = 0;
    for (;;) {
      if (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      const entry = queue.shift();
      if (entry === undefined) continue;
      if (entry === null) break;
      count++;
      if (count > context.limits.maxArchiveEntries) {
        // Past the bound the archive is only walked to count it; nothing more is scanned.
        entry.resume();
        continue;
      }
      names.push(entry.path);
      // Tar-based model formats (NeMo, legacy torch) are extracted by their loaders: an escaping
      // path or link is an arbitrary file write when the model is loaded, so it is high.
      if (isUnsafePath(entry.path)) {
        context.report(
          'extractedUnsafePath',
          `member ${JSON.stringify(entry.path)} is written outside the target directory when the archive is extracted`,
        );
      }
      if (linkTypes.has(entry.type) && entry.linkpath && isUnsafePath(entry.linkpath)) {
        context.report(
          'extractedUnsafePath',
          `link ${JSON.stringify(entry.path)} points to ${JSON.stringify(entry.linkpath)}, outside the target directory when the archive is extracted`,
        );
      }
      if (fileTypes.has(entry.type)) {
        const iterator = entry[Symbol.asyncIterator]();
        const chunks = { [Symbol.asyncIterator]: () => ({ next: () => iterator.next() }) };
        await context.nested(
          streamSource(chunks as AsyncIterable<Uint8Array>, entry.size ?? undefined),
          entry.path,
        );
      }
      if (!entry.emittedEnd) {
        await new Promise<void>((resolve) => {
          entry.once('end', resolve);
          entry.resume();
        });
      }
    }
    await parsing;
    if (count > context.limits.maxArchiveEntries) reportEntryLimit(context, 'tar', count);
    if (parseError) {
      context.report('damaged', 'tar archive is damaged: its headers cannot be parsed to the end');
      context.partial();
    }
    const legacyTorch = ['sys_info', 'pickle', 'storages'].every((name) => names.includes(name));
    if (legacyTorch) return { format: 'pytorch-legacy-tar' };
    // NeMo's SaveRestoreConnector writes model_config.yaml at the top (arcname ".").
    const nemo = names.some((name) => name.replace(/^\.\//, '') === 'model_config.yaml');
    return nemo ? { format: 'nemo' } : undefined;
  },
};

/** node-tar parses headers with Buffer methods, so plain Uint8Array chunks are viewed as Buffers. */
async function* asBuffers(chunks: AsyncIterable<Uint8Array>): AsyncIterable<Buffer> {
  for await (const chunk of chunks) yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** A 512-byte header with a name whose checksum field matches its bytes, as tarfile checks it. */
function isV7Header(head: Uint8Array): boolean {
  if (head.length < 512 || head[0] === 0) return false;
  const field = String.fromCharCode(...head.subarray(148, 156))
    .replace(/[\0 ]+$/, '')
    .trim();
  if (!/^[0-7]{1,7}$/.test(field)) return false;
  const stored = Number.parseInt(field, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : head[i]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}
