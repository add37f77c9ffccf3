import { ascii, type FormatReader, startsWith } from '../format-reader.js';

interface Unsupported {
  id: string;
  description: string;
  detect: (head: Uint8Array) => boolean;
}

/** Containers we recognise but cannot open: each is a finding, never a silent pass. */
const unsupported: readonly Unsupported[] = [
  { id: 'rar', description: 'RAR archive', detect: (h) => startsWith(h, ascii('Rar!\x1a\x07')) },
  { id: 'zstd', description: 'Zstandard stream', detect: (h) => startsWith(h, [0x28, 0xb5, 0x2f, 0xfd]) },
  { id: 'lz4', description: 'LZ4 frame', detect: (h) => startsWith(h, [0x04, 0x22, 0x4d, 0x18]) },
];

export const unsupportedReaders: readonly FormatReader[] = unsupported.map((u) => ({
  id: u.id,
  description: u.description,
  detect: u.detect,
  async scan(_source, context) {
    context.report(
      'unscannable',
      `${u.description} cannot be opened for inspection; unpack it and scan the content`,
    );
    context.partial();
    return undefined;
  },
}));
