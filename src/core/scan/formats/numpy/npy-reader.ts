import type { ByteSource } from '../../../source.js';
import { ascii, type FormatReader, startsWith } from '../../format-reader.js';
import { scanPickleStream } from '../pickle/pickle-reader.js';

const magic = [0x93, ...ascii('NUMPY')];

interface NpyHeader {
  dataOffset: number;
  header: string;
}

function parseHeader(head: Uint8Array): NpyHeader | undefined {
  const major = head[6];
  if (major === undefined || head.length < 10) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const wide = major >= 2;
  if (wide && head.length < 12) return undefined;
  const length = wide ? view.getUint32(8, true) : view.getUint16(8, true);
  const start = wide ? 12 : 10;
  if (start + length > head.length) return undefined;
  return {
    dataOffset: start + length,
    header: new TextDecoder(major >= 3 ? 'utf-8' : 'latin1').decode(head.subarray(start, start + length)),
  };
}

/** An object dtype ('|O', or an 'O' field of a structured dtype) stores the array as a pickle. */
export function npyHoldsObjects(header: string): boolean {
  return /['"][<>|=]?O\d*['"]/.test(header);
}

async function* skip(source: ByteSource, count: number): AsyncIterable<Uint8Array> {
  let left = count;
  for await (const chunk of source.stream()) {
    if (left >= chunk.length) {
      left -= chunk.length;
      continue;
    }
    yield left > 0 ? chunk.subarray(left) : chunk;
    left = 0;
  }
}

/** NumPy .npy: only the header is read, unless the dtype holds Python objects. */
export const npyReader: FormatReader = {
  id: 'npy',
  description: 'NumPy array',
  detect: (head) => startsWith(head, magic),
  async scan(source, context, head) {
    const parsed = parseHeader(head);
    if (!parsed || !/['"]descr['"]\s*:/.test(parsed.header)) {
      context.report('damaged', 'NumPy header is missing or unreadable');
      context.partial();
      return undefined;
    }
    if (!npyHoldsObjects(parsed.header)) return undefined;
    context.report('objectArray', 'array of Python objects: np.load(allow_pickle=True) unpickles it', {
      offset: parsed.dataOffset,
    });
    await scanPickleStream(skip(source, parsed.dataOffset), context, { baseOffset: parsed.dataOffset });
    return undefined;
  },
};
