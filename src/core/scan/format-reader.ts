import type { ByteSource } from '../source.js';
import type { ReaderResult, ScanContext } from './context.js';

/** Bytes every detector may look at; enough for tar's magic at 257 and a pickle probe. */
export const headBytes = 64 * 1024;

/**
 * One format: how to recognise it from content, and how to scan it. Readers are listed in
 * the format table (formats/index.ts). Model formats are detected by content alone; `name` (the
 * file or member name) is given only to readers of configuration files without magic (a
 * `tokenizer_config.json`), which combine it with a content check.
 */
export interface FormatReader {
  readonly id: string;
  readonly description: string;
  detect(head: Uint8Array, source: ByteSource, name?: string): boolean | Promise<boolean>;
  scan(source: ByteSource, context: ScanContext, head: Uint8Array): Promise<ReaderResult | undefined>;
}

export function startsWith(head: Uint8Array, magic: readonly number[], at = 0): boolean {
  if (head.length < at + magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (head[at + i] !== magic[i]) return false;
  return true;
}

export function ascii(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0));
}
