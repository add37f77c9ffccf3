import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { createGunzip, createInflate, createInflateRaw } from 'node:zlib';
import { describeError } from '../../../errors.js';
import type { ScanContext } from '../../context.js';
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
      return classicTransform(require('unbzip2-stream') as () => NodeJS.ReadWriteStream, input);
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
 * Drives a classic (through-style) transform, such as unbzip2-stream, one input chunk at a time:
 * output is handed on before the next chunk goes in, so at most one block is buffered.
 */
async function* classicTransform(
  create: () => NodeJS.ReadWriteStream,
  input: AsyncIterable<Uint8Array>,
): AsyncIterable<Uint8Array> {
  const stream = create();
  const queue: Uint8Array[] = [];
  let failure: unknown;
  let ended = false;
  stream.on('data', (chunk: Uint8Array) => queue.push(chunk));
  stream.on('error', (error: unknown) => {
    failure ??= error;
  });
  stream.on('end', () => {
    ended = true;
  });
  for await (const chunk of input) {
    stream.write(chunk);
    if (failure) throw failure;
    yield* queue.splice(0);
  }
  stream.end();
  for (let i = 0; !ended && !failure && i < 1000; i++) await new Promise((resolve) => setImmediate(resolve));
  if (failure) throw failure;
  yield* queue.splice(0);
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
    context.report('damaged', `${label} is corrupt: ${describeError(error)}`, { offset: consumed });
    context.partial();
  }
}
