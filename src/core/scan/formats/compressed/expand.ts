import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { createGunzip, createInflate, createInflateRaw } from 'node:zlib';
import type { ScanContext } from '../../context.js';
import { corruptionMessage, UnsupportedDataError } from '../../data-error.js';
import { decodeBzip2 } from './bzip2.js';
import { decodeLzmaAlone } from './lzma-alone.js';

export type Compression = 'gzip' | 'zlib' | 'deflate-raw' | 'bzip2' | 'xz' | 'lzma';

const require = createRequire(import.meta.url);

function decompressor(kind: Compression, input: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  switch (kind) {
    case 'gzip':
      return Readable.from(input).pipe(createGunzip());
    case 'zlib':
      return Readable.from(input).pipe(createInflate());
    case 'deflate-raw':
      return Readable.from(input).pipe(createInflateRaw());
    case 'lzma':
      return decodeLzmaAlone(input);
    case 'bzip2':
      return decodeBzip2(input);
    case 'xz': {
      // Loaded on first use: the WebAssembly decoder is not needed by most scans.
      const { XzReadableStream } = require('xz-decompress') as typeof import('xz-decompress');
      return new XzReadableStream(
        ReadableStream.from(input) as unknown as ReadableStream<Uint8Array>,
      ) as unknown as AsyncIterable<Uint8Array>;
    }
  }
}

/**
 * Decompresses a stream with a bomb guard: it stops at the size limit or when the output
 * outgrows the input by more than the allowed ratio, and reports why. Corrupt data ends the
 * stream with a finding instead of an exception, so the reader downstream keeps what it saw.
 */
export async function* expand(
  kind: Compression,
  input: AsyncIterable<Uint8Array>,
  context: ScanContext,
  label: string,
): AsyncIterable<Uint8Array> {
  const { maxExpandedBytes, maxCompressionRatio, bombFloorBytes } = context.limits;
  let consumed = 0;
  async function* counted() {
    for await (const chunk of input) {
      consumed += chunk.length;
      yield chunk;
    }
  }
  let produced = 0;
  try {
    for await (const raw of decompressor(kind, counted())) {
      const chunk = raw instanceof Uint8Array ? raw : new Uint8Array(raw as ArrayBuffer);
      produced += chunk.length;
      const ratioExceeded = produced > bombFloorBytes && produced > consumed * maxCompressionRatio;
      if (produced > maxExpandedBytes || ratioExceeded) {
        const why = ratioExceeded
          ? `expands more than ${maxCompressionRatio}x (${produced} bytes from ${consumed})`
          : `expands beyond ${maxExpandedBytes} bytes`;
        context.report('decompressionBomb', `${label} ${why}; the rest was not inspected`);
        context.partial();
        return;
      }
      yield chunk;
    }
  } catch (error) {
    // Only messages of our own reach a finding; an internal exception's text never does.
    if (error instanceof UnsupportedDataError) {
      context.report('unscannable', `${label} ${error.message}; the rest was not inspected`);
    } else {
      context.report('damaged', `${label} is corrupt (${corruptionMessage(error)})`, { offset: consumed });
    }
    context.partial();
  }
}
