import { constants, inflateSync } from 'node:zlib';
import { streamSource } from '../../../source.js';
import { ascii, type FormatReader, startsWith } from '../../format-reader.js';
import { type Compression, expand } from './expand.js';

const suffixes: Record<Compression, RegExp> = {
  gzip: /\.(gz|gzip|tgz)$/i,
  zlib: /\.(z|zlib)$/i,
  'deflate-raw': /$^/,
  bzip2: /\.(bz2|tbz2?)$/i,
  xz: /\.(xz|txz)$/i,
  lzma: /\.lzma$/i,
};

function innerName(name: string, kind: Compression): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const stripped = base.replace(suffixes[kind], '');
  return stripped === base ? `${base}[${kind}]` : stripped;
}

function wrapper(kind: Compression, detect: (head: Uint8Array) => boolean): FormatReader {
  return {
    id: kind,
    description: `${kind} stream`,
    detect,
    async scan(source, context) {
      const output = expand(kind, source.stream(), context, `${kind} data`)[Symbol.asyncIterator]();
      await context.nested(
        streamSource({ [Symbol.asyncIterator]: () => output }),
        innerName(context.name, kind),
      );
      // The loaders (joblib, gzip.open, tarfile) decompress to the end whatever the content is, so
      // what the inner reader left unread is still decompressed, under the same guard, and dropped.
      // A bomb behind a short header is found this way.
      for (let next = await output.next(); !next.done; next = await output.next());
      return undefined;
    },
  };
}

/** gzip, zlib (joblib's default compressor), bzip2 and xz wrappers around any other format. */
export const compressedReaders: readonly FormatReader[] = [
  wrapper('gzip', (head) => startsWith(head, [0x1f, 0x8b])),
  wrapper('bzip2', (head) => startsWith(head, ascii('BZh')) && head[3]! >= 0x31 && head[3]! <= 0x39),
  wrapper('xz', (head) => startsWith(head, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])),
  // LZMA-alone (joblib's 'lzma'): properties byte 0x5d (lc=3 lp=0 pb=2, the universal default),
  // then a power-of-two dictionary size.
  wrapper('lzma', (head) => {
    if (head.length < 13 || head[0] !== 0x5d) return false;
    const dict = new DataView(head.buffer, head.byteOffset + 1, 4).getUint32(0, true);
    return dict >= 1 << 12 && (dict & (dict - 1)) === 0;
  }),
];

/**
 * zlib has a weak two-byte header (a protocol 0 pickle can start with one), so it is tried after
 * the pickle probe and only when the head really inflates.
 */
export const zlibReader = wrapper('zlib', (head) => {
  const cmf = head[0];
  const flg = head[1];
  if (cmf === undefined || flg === undefined) return false;
  if ((cmf & 0x0f) !== 8 || cmf >> 4 > 7 || ((cmf << 8) | flg) % 31 !== 0 || (flg & 0x20) !== 0) return false;
  try {
    return inflateSync(head, { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: 1 << 20 }).length > 0;
  } catch (error) {
    // More output than the cap from the head alone: it inflates (and is a bomb candidate).
    return (error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE';
  }
});

const zfilePrefix = 2;
/** len(hex(2 ** 64)): the width of joblib's length field. */
const zfileLengthField = 19;
/** What CPython's int(field, 16) accepts: spaces, a sign, 0x, digits with single underscores. */
const pythonHexInt = /^[ \t\n\r\v\f]*[+-]?(?:0[xX]_?)?[0-9a-fA-F](?:_?[0-9a-fA-F])*[ \t\n\r\v\f]*$/;

/**
 * joblib's legacy compressed pickle (`ZF` files, written before joblib 0.10, still read by
 * joblib.load through numpy_pickle_compat.read_zfile): 'ZF', the uncompressed length in hex
 * left-justified in 19 bytes, then a zlib stream (one byte later when that byte is a space, as
 * joblib 0.8.4 under Python 2 wrote it).
 */
export const joblibZfileReader: FormatReader = {
  id: 'joblib-zfile',
  description: 'joblib legacy compressed pickle',
  detect(head) {
    if (!startsWith(head, ascii('ZF')) || head.length < zfilePrefix + zfileLengthField) return false;
    const field = head.subarray(zfilePrefix, zfilePrefix + zfileLengthField);
    return pythonHexInt.test(String.fromCharCode(...field));
  },
  async scan(source, context, head) {
    const start = zfilePrefix + zfileLengthField + (head[zfilePrefix + zfileLengthField] === 0x20 ? 1 : 0);
    const output = expand('zlib', skipBytes(source.stream(), start), context, 'joblib zfile data')[
      Symbol.asyncIterator
    ]();
    const base = context.name.slice(context.name.lastIndexOf('/') + 1);
    await context.nested(streamSource({ [Symbol.asyncIterator]: () => output }), `${base}[zfile]`);
    for (let next = await output.next(); !next.done; next = await output.next());
    return undefined;
  },
};

async function* skipBytes(chunks: AsyncIterable<Uint8Array>, count: number): AsyncIterable<Uint8Array> {
  let skip = count;
  for await (const chunk of chunks) {
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    yield skip > 0 ? chunk.subarray(skip) : chunk;
    skip = 0;
  }
}
