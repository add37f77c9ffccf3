import { ascii, type FormatReader, startsWith } from '../../format-reader.js';

/**
 * Formats that hold no code by design. They are recognised so reports name them; checks of
 * their headers and metadata belong to their own readers.
 */
export const headerOnlyReaders: readonly FormatReader[] = [
  {
    id: 'git-lfs-pointer',
    description: 'Git LFS pointer',
    detect: (h) => startsWith(h, ascii('version https://git-lfs.github.com/spec/v1\n')),
    async scan(_source, context, head) {
      const text = new TextDecoder().decode(head.subarray(0, 1024));
      const oid = /^oid sha256:([0-9a-f]{64})$/m.exec(text)?.[1];
      const size = /^size (\d+)$/m.exec(text)?.[1];
      const what = oid ? ` (sha256 ${oid}${size ? `, ${size} bytes` : ''})` : '';
      context.report(
        'lfsPointer',
        `Git LFS pointer: the real file${what} was not downloaded, so it was not scanned`,
      );
      return undefined;
    },
  },
];
