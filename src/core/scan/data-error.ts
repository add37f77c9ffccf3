/**
 * Errors our own decoders throw for bad input. Their messages are written by us and may become
 * finding text; any other exception a decoder or library throws (a TypeError from a bug, a
 * RangeError from an allocation) is internal and never shown as a finding.
 */
export class DataError extends Error {
  override name = 'DataError';
}

/** Valid data that uses a feature no decoder here implements: the content cannot be inspected. */
export class UnsupportedDataError extends DataError {
  override name = 'UnsupportedDataError';
}

const zlibMessages: Record<string, string> = {
  Z_DATA_ERROR: 'invalid compressed data',
  Z_BUF_ERROR: 'truncated',
  Z_NEED_DICT: 'needs a preset dictionary',
  Z_STREAM_ERROR: 'invalid compressed data',
  Z_MEM_ERROR: 'needs more memory than allowed',
};

/**
 * The message for a decoding failure, in our words: a DataError's own message, a zlib error by
 * its code (Node's messages include library internals), else a fixed text.
 */
export function corruptionMessage(error: unknown): string {
  if (error instanceof DataError) return error.message;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && Object.hasOwn(zlibMessages, code)) return zlibMessages[code]!;
  return 'the data cannot be decoded';
}
