import { MlsecError } from '../errors.js';
import { type DigestAlgorithm, digestHexLength, isHexDigest } from './digest.js';

/**
 * Checksum files as GNU coreutils writes and reads them (`sha256sum`, `sha384sum`, `sha512sum`,
 * `b2sum`; checked against coreutils 9.1). `gnu` lines are `<hex>  <name>` (` *<name>` in binary
 * mode, which means nothing on POSIX systems); `bsd` lines are the `--tag` form `SHA256 (<name>) = <hex>`.
 * A name holding a backslash, LF or CR is escaped (`\\`, `\n`, `\r`) and its line starts with `\`,
 * so that every line stays one line; other names are written verbatim.
 */
export type ChecksumStyle = 'gnu' | 'bsd';

export interface ChecksumEntry {
  name: string;
  algorithm: DigestAlgorithm;
  hex: string;
}

export interface ParsedChecksumLine extends ChecksumEntry {
  /** 1-based. */
  line: number;
  style: ChecksumStyle;
  binary: boolean;
}

export interface ChecksumFormatOptions {
  style?: ChecksumStyle;
  binary?: boolean;
}

export interface ChecksumParseOptions {
  /**
   * The algorithm every line must use (what `sha512sum -c` vs `b2sum -c` would assume). Without it,
   * untagged lines are identified by length, and 128 hex digits (SHA-512 or BLAKE2b) are refused.
   */
  algorithm?: DigestAlgorithm;
  /** Names the file in error messages. */
  source?: string;
}

/** The coreutils program that reads and writes each algorithm's checksum files. */
export const checksumCommand: Record<DigestAlgorithm, string> = {
  sha256: 'sha256sum',
  sha384: 'sha384sum',
  sha512: 'sha512sum',
  blake2b: 'b2sum',
};

const bsdTag: Record<DigestAlgorithm, string> = {
  sha256: 'SHA256',
  sha384: 'SHA384',
  sha512: 'SHA512',
  blake2b: 'BLAKE2b',
};

/** A malformed checksum file; `line` is 1-based. */
export class ChecksumFileError extends MlsecError {
  readonly line: number;

  constructor(source: string, line: number, problem: string) {
    super('CHECKSUM_FILE_INVALID', `${source}:${line}: ${problem}`);
    this.line = line;
  }
}

// The only escapes coreutils writes or reads; any other backslash sequence makes the line invalid.
const escapes = new Map([
  ['\\', '\\\\'],
  ['\n', '\\n'],
  ['\r', '\\r'],
]);
const unescapes = new Map([
  ['\\', '\\'],
  ['n', '\n'],
  ['r', '\r'],
]);

export function formatChecksumLine(entry: ChecksumEntry, options: ChecksumFormatOptions = {}): string {
  if (entry.name.includes('\0')) {
    throw new MlsecError(
      'CHECKSUM_FILE_INVALID',
      'a file name with a NUL byte cannot be written to a checksum file',
    );
  }
  const escaped = /[\\\n\r]/.test(entry.name);
  const name = escaped ? entry.name.replace(/[\\\n\r]/g, (c) => escapes.get(c)!) : entry.name;
  const hex = entry.hex.toLowerCase();
  const body =
    options.style === 'bsd'
      ? `${bsdTag[entry.algorithm]} (${name}) = ${hex}`
      : `${hex} ${options.binary ? '*' : ' '}${name}`;
  return `${escaped ? '\\' : ''}${body}\n`;
}

export function formatChecksumFile(
  entries: readonly ChecksumEntry[],
  options: ChecksumFormatOptions = {},
): string {
  return entries.map((entry) => formatChecksumLine(entry, options)).join('');
}

const bsdLine = /^(SHA256|SHA384|SHA512|BLAKE2b(?:-(\d+))?) ?\(/;
const gnuLine = /^([0-9a-fA-F]+)[ \t]([ *])([\s\S]*)$/;
const bsdDigest = /^[ \t]*=[ \t]*([0-9a-fA-F]+)$/;

/**
 * Reads every checksum line. Like `sha256sum -c`, skips empty lines and `#` comments, ignores
 * leading blanks and a CR before the LF; unlike it, any other malformed line is an error (coreutils
 * only warns), because a silently skipped line is a file nobody checks. The one-space form
 * `<hex> <name>` (BSD `-r`) is refused too: coreutils guesses it from the first line, which makes
 * names with a leading blank ambiguous. An empty result is for the caller to judge.
 */
export function parseChecksumFile(text: string, options: ChecksumParseOptions = {}): ParsedChecksumLine[] {
  const source = options.source ?? 'checksum file';
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const out: ParsedChecksumLine[] = [];
  lines.forEach((raw, index) => {
    const parsed = parseLine(raw.endsWith('\r') ? raw.slice(0, -1) : raw, index + 1, source, options);
    if (parsed) out.push(parsed);
  });
  return out;
}

function parseLine(
  text: string,
  line: number,
  source: string,
  options: ChecksumParseOptions,
): ParsedChecksumLine | undefined {
  const fail = (problem: string) => new ChecksumFileError(source, line, problem);
  if (text.startsWith('#')) return undefined;
  let at = 0;
  while (text[at] === ' ' || text[at] === '\t') at += 1;
  if (at === text.length) return undefined;
  const escaped = text[at] === '\\';
  const rest = text.slice(escaped ? at + 1 : at);

  const bsd = bsdLine.exec(rest);
  if (bsd) {
    const close = rest.lastIndexOf(')');
    const digest = close >= bsd[0].length ? bsdDigest.exec(rest.slice(close + 1)) : null;
    if (!digest) throw fail(`expected "${bsd[1]} (name) = digest"`);
    const algorithm = tagAlgorithm(bsd[1]!, bsd[2]);
    if (!algorithm) throw fail(`${bsd[1]} checksums are not supported`);
    if (options.algorithm && algorithm !== options.algorithm) {
      throw fail(`a ${bsd[1]} line in a ${options.algorithm} checksum file`);
    }
    const hex = checkHex(digest[1]!, algorithm, fail);
    const name = readName(rest.slice(bsd[0].length, close), escaped, fail);
    return { name, algorithm, hex, line, style: 'bsd', binary: false };
  }

  const gnu = gnuLine.exec(rest);
  if (!gnu) throw fail('expected "<hex digest>  <name>" or "SHA256 (<name>) = <hex digest>"');
  const hexText = gnu[1]!;
  const algorithm = options.algorithm ?? algorithmOfLength(hexText.length, fail);
  const hex = checkHex(hexText, algorithm, fail);
  const name = readName(gnu[3]!, escaped, fail);
  return { name, algorithm, hex, line, style: 'gnu', binary: gnu[2] === '*' };
}

function tagAlgorithm(tag: string, bits: string | undefined): DigestAlgorithm | undefined {
  if (bits !== undefined) return bits === '512' ? 'blake2b' : undefined;
  return (Object.keys(bsdTag) as DigestAlgorithm[]).find((algorithm) => bsdTag[algorithm] === tag);
}

function algorithmOfLength(length: number, fail: (problem: string) => Error): DigestAlgorithm {
  if (length === digestHexLength.sha256) return 'sha256';
  if (length === digestHexLength.sha384) return 'sha384';
  // SHA-512 and BLAKE2b-512 look alike; guessing would turn a b2sum file into "every file changed".
  if (length === 128) throw fail('128 hex digits may be sha512 or blake2b; name the algorithm');
  throw fail(`a digest of ${length} hex digits matches no supported algorithm`);
}

function checkHex(hex: string, algorithm: DigestAlgorithm, fail: (problem: string) => Error): string {
  if (!isHexDigest(hex, algorithm)) {
    throw fail(`a ${algorithm} digest has ${digestHexLength[algorithm]} hex digits, not ${hex.length}`);
  }
  return hex.toLowerCase();
}

function readName(text: string, escaped: boolean, fail: (problem: string) => Error): string {
  if (text === '') throw fail('missing file name');
  if (text.includes('\0')) throw fail('file name contains a NUL byte');
  if (!escaped) return text;
  let out = '';
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = unescapes.get(text[i + 1] ?? '');
    // coreutils accepts only these three escapes and refuses the line otherwise.
    if (next === undefined) throw fail('bad escape in file name (only \\\\, \\n and \\r are allowed)');
    out += next;
    i += 1;
  }
  return out;
}
