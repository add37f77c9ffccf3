import { ascii, type FormatReader, startsWith } from '../../format-reader.js';

/**
 * Formats that hold no code by design. They are recognised so reports name them; checks of
 * their headers and metadata belong to their own readers.
 */
export const headerOnlyReaders: readonly FormatReader[] = [
  {
    id: 'safetensors',
    description: 'safetensors file',
    detect(head, source) {
      if (head.length < 9 || head[8] !== 0x7b) return false;
      const length = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
      return length > 1n && (source.size === undefined || length <= BigInt(source.size - 8));
    },
    scan: async () => undefined,
  },
  {
    id: 'gguf',
    description: 'GGUF file',
    detect: (h) => startsWith(h, ascii('GGUF')),
    scan: async () => undefined,
  },
  {
    id: 'hdf5',
    description: 'HDF5 file',
    detect: (h) => startsWith(h, [0x89, ...ascii('HDF\r\n\x1a\n')]),
    scan: async () => undefined,
  },
];
