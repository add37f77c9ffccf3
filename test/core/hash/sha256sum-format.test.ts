import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa, execaSync } from 'execa';
import { describe, expect, it } from 'vitest';
import { MlsecError } from '../../../src/core/errors.js';
import { type DigestAlgorithm, digestAlgorithms, digestBytes } from '../../../src/core/hash/digest.js';
import {
  type ChecksumEntry,
  ChecksumFileError,
  checksumCommand,
  formatChecksumFile,
  formatChecksumLine,
  parseChecksumFile,
} from '../../../src/core/hash/sha256sum-format.js';
import { tempDir } from '../../helpers/cli.js';

const abc256 = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
const abc512 =
  'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f';

// The names coreutils treats specially, and some it must leave alone.
const names = [
  'plain.bin',
  'with space.bin',
  ' leading space',
  'ünïcödé ✓ 模型.safetensors',
  'star*name',
  'paren) = x',
  'new\nline',
  'back\\slash',
  'cr\rreturn',
  'all\\three\n\r',
];

const hasCoreutils = (() => {
  const result = execaSync('sha256sum', ['--version'], { reject: false });
  return result.exitCode === 0 && String(result.stdout).includes('GNU coreutils');
})();

async function modelDir(): Promise<{ dir: string; files: { name: string; bytes: Uint8Array }[] }> {
  const dir = await tempDir();
  const files = names.map((name, i) => ({
    name,
    bytes: new TextEncoder().encode(`contents ${i} of ${name}`),
  }));
  for (const file of files) await writeFile(join(dir, file.name), file.bytes);
  return { dir, files };
}

describe('formatting', () => {
  it('writes text-mode lines, escaping only names with a backslash, LF or CR', () => {
    const entry = (name: string): ChecksumEntry => ({ name, algorithm: 'sha256', hex: abc256 });
    expect(formatChecksumLine(entry('a b'))).toBe(`${abc256}  a b\n`);
    expect(formatChecksumLine(entry('a b'), { binary: true })).toBe(`${abc256} *a b\n`);
    expect(formatChecksumLine(entry('a\\b\nc\rd'))).toBe(`\\${abc256}  a\\\\b\\nc\\rd\n`);
    expect(formatChecksumLine(entry('a\nb'), { style: 'bsd' })).toBe(`\\SHA256 (a\\nb) = ${abc256}\n`);
    expect(formatChecksumLine({ name: 'f', algorithm: 'blake2b', hex: abc512 }, { style: 'bsd' })).toBe(
      `BLAKE2b (f) = ${abc512}\n`,
    );
    expect(formatChecksumLine({ ...entry('f'), hex: abc256.toUpperCase() })).toBe(`${abc256}  f\n`);
    expect(() => formatChecksumLine(entry('nul\0'))).toThrow(MlsecError);
  });
});

describe.skipIf(!hasCoreutils)('byte-compatible with GNU coreutils', () => {
  for (const algorithm of digestAlgorithms) {
    const command = checksumCommand[algorithm];
    it(`${command}: same bytes as ours, both styles, and ${command} -c accepts what we write`, async () => {
      const { dir, files } = await modelDir();
      const entries = files.map((file) => ({
        name: file.name,
        algorithm,
        hex: digestBytes(file.bytes, algorithm).hex,
      }));
      const args = ['--', ...names];
      for (const style of ['gnu', 'bsd'] as const) {
        const theirs = await execa(command, style === 'bsd' ? ['--tag', ...args] : args, {
          cwd: dir,
          stripFinalNewline: false,
        });
        const ours = formatChecksumFile(entries, { style });
        expect(ours, style).toBe(theirs.stdout);
        expect(
          parseChecksumFile(theirs.stdout, { algorithm }).map(({ name, hex }) => ({ name, hex })),
        ).toEqual(entries.map(({ name, hex }) => ({ name, hex })));

        await writeFile(join(dir, 'SUMS'), ours);
        const check = await execa(command, ['--strict', '-c', 'SUMS'], { cwd: dir, reject: false });
        expect(check.exitCode, check.stderr).toBe(0);
        expect(check.stdout.split('\n').filter((line) => line.endsWith(': OK'))).toHaveLength(names.length);
      }
    });
  }

  it('sha256sum -c fails when a file changes (the check is real)', async () => {
    const { dir, files } = await modelDir();
    const entries = files.map((file) => ({
      name: file.name,
      algorithm: 'sha256' as const,
      hex: digestBytes(file.bytes).hex,
    }));
    await writeFile(join(dir, 'SUMS'), formatChecksumFile(entries));
    await writeFile(join(dir, 'new\nline'), 'tampered');
    const check = await execa('sha256sum', ['-c', 'SUMS'], { cwd: dir, reject: false });
    expect(check.exitCode).toBe(1);
    expect(check.stdout).toContain('\\new\\nline: FAILED');
    expect(await readFile(join(dir, 'SUMS'), 'utf8')).toContain(`\\${entries[6]!.hex}  new\\nline\n`);
  });
});

describe('parsing', () => {
  it('reads both styles, binary markers, escapes, comments, blank lines, leading blanks and CRLF', () => {
    const text = [
      '# a comment',
      '',
      `${abc256}  plain name`,
      `${abc256} *binary name`,
      `\\${abc256}  a\\\\b\\nc\\rd`,
      `${abc256}  not\\nescaped`,
      `   ${abc256}  indented`,
      `${abc256}\t trailing space `,
      `SHA256 (bsd (name)) = ${abc256.toUpperCase()}`,
      `\\SHA256 (bsd\\nescaped) = ${abc256}`,
      `SHA256(no space)= ${abc256}`,
      `SHA512 (big) = ${abc512}`,
      `BLAKE2b-512 (b2) = ${abc512}`,
      `${abc256}  crlf\r`,
      '  \t ',
    ].join('\n');
    const parsed = parseChecksumFile(text);
    expect(
      parsed.map(({ line, name, algorithm, style, binary }) => [line, name, algorithm, style, binary]),
    ).toEqual([
      [3, 'plain name', 'sha256', 'gnu', false],
      [4, 'binary name', 'sha256', 'gnu', true],
      [5, 'a\\b\nc\rd', 'sha256', 'gnu', false],
      [6, 'not\\nescaped', 'sha256', 'gnu', false],
      [7, 'indented', 'sha256', 'gnu', false],
      [8, 'trailing space ', 'sha256', 'gnu', false],
      [9, 'bsd (name)', 'sha256', 'bsd', false],
      [10, 'bsd\nescaped', 'sha256', 'bsd', false],
      [11, 'no space', 'sha256', 'bsd', false],
      [12, 'big', 'sha512', 'bsd', false],
      [13, 'b2', 'blake2b', 'bsd', false],
      [14, 'crlf', 'sha256', 'gnu', false],
    ]);
    expect(parsed.every((entry) => entry.hex === entry.hex.toLowerCase())).toBe(true);
    expect(parseChecksumFile('')).toEqual([]);
  });

  it('round-trips every awkward name in both styles', () => {
    const entries = names.map((name) => ({
      name,
      algorithm: 'sha384' as DigestAlgorithm,
      hex: digestBytes(new Uint8Array(0), 'sha384').hex,
    }));
    for (const style of ['gnu', 'bsd'] as const) {
      const parsed = parseChecksumFile(formatChecksumFile(entries, { style }));
      expect(parsed.map(({ name, algorithm, hex }) => ({ name, algorithm, hex }))).toEqual(entries);
    }
  });

  it('needs the algorithm for 128 hex digits, and checks lengths against it', () => {
    expect(() => parseChecksumFile(`${abc512}  f\n`)).toThrow(/128 hex digits may be sha512 or blake2b/);
    expect(parseChecksumFile(`${abc512}  f\n`, { algorithm: 'blake2b' })[0]?.algorithm).toBe('blake2b');
    expect(() => parseChecksumFile(`${abc256}  f\n`, { algorithm: 'sha512' })).toThrow(
      'checksum file:1: a sha512 digest has 128 hex digits, not 64',
    );
    expect(() => parseChecksumFile(`SHA512 (f) = ${abc512}\n`, { algorithm: 'sha256' })).toThrow(
      'a SHA512 line in a sha256 checksum file',
    );
  });

  const malformed: [string, string, number, RegExp][] = [
    ['garbage', `${abc256}  ok\nnot a checksum line\n`, 2, /expected "<hex digest> {2}<name>"/],
    ['short digest', `# c\n\n${abc256}  ok\nabc123  f\n`, 4, /matches no supported algorithm/],
    ['one space only', `${abc256} f\n`, 1, /expected/],
    ['no name', `${abc256}  \n`, 1, /missing file name/],
    ['bad escape', `${abc256}  a\n\\${abc256}  a\\tb\n`, 2, /bad escape/],
    ['trailing backslash', `\\${abc256}  a\\\n`, 1, /bad escape/],
    ['NUL', `${abc256}  a\0b\n`, 1, /NUL/],
    ['BSD without digest', 'SHA256 (f) =\n', 1, /expected "SHA256 \(name\) = digest"/],
    ['BSD without paren', `SHA256 (f = ${abc256}\n`, 1, /expected/],
    ['BLAKE2b-256', `BLAKE2b-256 (f) = ${abc256}\n`, 1, /BLAKE2b-256 checksums are not supported/],
    [
      'BSD wrong length',
      `${abc256}  a\nSHA384 (f) = ${abc256}\n`,
      2,
      /sha384 digest has 96 hex digits, not 64/,
    ],
  ];
  for (const [label, text, line, message] of malformed) {
    it(`refuses ${label} with its line number`, () => {
      let error: unknown;
      try {
        parseChecksumFile(text, { source: 'SHA256SUMS' });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ChecksumFileError);
      const failure = error as ChecksumFileError;
      expect(failure).toBeInstanceOf(MlsecError);
      expect(failure.line).toBe(line);
      expect(failure.code).toBe('CHECKSUM_FILE_INVALID');
      expect(failure.exitCode).toBe(2);
      expect(failure.message).toMatch(new RegExp(`^SHA256SUMS:${line}: `));
      expect(failure.message).toMatch(message);
    });
  }
});
