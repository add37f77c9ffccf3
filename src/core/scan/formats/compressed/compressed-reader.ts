import { streamSource } from '../../../source.js';
import { ascii, type FormatReader, startsWith } from '../../format-reader.js';
import { type Compression, expand } from './expand.js';

const suffixes: Record<Compression, RegExp> = {
  gzip: /\.(gz|gzip|tgz)$/i,
  zlib: /\.(z|zlib)$/i,
  'deflate-raw': /$^/,
  bzip2: /\.(bz2|tbz2?)$/i,
  xz: /\.(xz|txz)$/i,
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
      const inner = streamSource(expand(kind, source.stream(), context, `${kind} data`));
      await context.nested(inner, innerName(context.name, kind));
      return undefined;
    },
  };
}

/** gzip, zlib (joblib's default compressor), bzip2 and xz wrappers around any other format. */
export const compressedReaders: readonly FormatReader[] = [
  wrapper('gzip', (head) => startsWith(head, [0x1f, 0x8b])),
  wrapper('bzip2', (head) => startsWith(head, ascii('BZh')) && head[3]! >= 0x31 && head[3]! <= 0x39),
  wrapper('xz', (head) => startsWith(head, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])),
  wrapper('zlib', (head) => {
    // CMF/FLG header: deflate with a window up to 32 KiB, and a valid check value.
    const cmf = head[0];
    const flg = head[1];
    if (cmf === undefined || flg === undefined) return false;
    return (cmf & 0x0f) === 8 && cmf >> 4 <= 7 && ((cmf << 8) | flg) % 31 === 0 && (flg & 0x20) === 0;
  }),
];
