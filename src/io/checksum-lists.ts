import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, relative, resolve, sep } from 'node:path';
import { MlsecError } from '../core/errors.js';
import { type CheckReport, compareChecksums } from '../core/hash/check.js';
import type { DigestAlgorithm } from '../core/hash/digest.js';
import { parseChecksumListing } from '../core/hash/listing.js';
import { shouldIgnore } from '../core/hash/manifest.js';
import { type HashPool, hashFiles } from './hash-pool.js';

/** Checksum files recognised inside a scanned directory; names in them are relative to that directory. */
export const checksumFileNames = [
  'SHA256SUMS',
  'SHA256SUMS.txt',
  'sha256sums.txt',
  'SHA512SUMS',
  'checksums.sha256',
  // `mlsec hash --manifest --output mlsec-manifest.json` or `--format json`: names relative to this directory.
  'mlsec-manifest.json',
];
const sidecar = /\.(sha256|sha512)$/;
const maxListBytes = 16 << 20;

export interface ChecksumList {
  /** The list as reports name it. */
  label: string;
  /** Directory the names are relative to. */
  base: string;
  algorithm: DigestAlgorithm;
  entries: { name: string; hex: string }[];
  /** True for a list that covers its whole directory, so unlisted files there are findings. */
  coversDirectory: boolean;
  /** Paths a manifest left out on purpose (its recorded ignore_paths). */
  ignorePaths: string[];
}

/**
 * Reads a checksum list. `base` is where its names start, `coversDirectory` whether unlisted files
 * there are findings; a model manifest always covers its model, whose root `manifestRoot` gives.
 */
export async function readChecksumList(
  path: string,
  placement: { base: string; coversDirectory: boolean; manifestRoot: string },
  label: string,
): Promise<ChecksumList> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) throw new MlsecError('INPUT_NOT_FOUND', `no such checksum file: ${label}`);
  if (info.size > maxListBytes) throw new MlsecError('CHECKSUM_FILE_INVALID', `${label}: larger than 16 MiB`);
  const text = await readFile(path, 'utf8');
  const listing = parseChecksumListing(text, label, /512/i.test(basename(path)) ? 'sha512' : 'sha256');
  const { base, coversDirectory } = listing.isManifest
    ? { base: placement.manifestRoot, coversDirectory: true }
    : placement;
  return { label, base, coversDirectory, ...listing };
}

/** A sidecar `weights.bin.sha256` holds the digest of `weights.bin`, with or without its name. */
export async function readSidecar(path: string, label: string): Promise<ChecksumList | undefined> {
  const text = (await readFile(path, 'utf8').catch(() => '')).trim();
  const algorithm: DigestAlgorithm = path.endsWith('.sha512') ? 'sha512' : 'sha256';
  const target = basename(path).replace(sidecar, '');
  const hex = /^[0-9a-fA-F]+/.exec(text)?.[0];
  if (!hex || hex.length !== (algorithm === 'sha256' ? 64 : 128)) return undefined;
  return {
    label,
    base: dirname(path),
    algorithm,
    entries: [{ name: target, hex: hex.toLowerCase() }],
    coversDirectory: false,
    ignorePaths: [],
  };
}

export function isChecksumList(name: string): boolean {
  return checksumFileNames.includes(name);
}

export function isSidecar(name: string): boolean {
  return sidecar.test(name);
}

export function isChecksumFile(name: string): boolean {
  return isChecksumList(name) || isSidecar(name);
}

/**
 * Checks one list against the files on disk. `present` are the files found in the list's
 * directory by the scan walk (absolute paths), for the unlisted-file check.
 */
export async function checkList(
  list: ChecksumList,
  present: readonly string[],
  pool: HashPool,
): Promise<CheckReport> {
  const digests = await Promise.all(
    list.entries.map(async ({ name }) => {
      const path = resolve(list.base, name);
      const info = await stat(path).catch(() => undefined);
      if (!info?.isFile()) return undefined;
      // A listed file that cannot be read is MISSING, not an error of the whole scan.
      const [result] = await hashFiles(pool, [{ path, size: info.size }], list.algorithm).catch(() => []);
      return result?.hex;
    }),
  );
  const actual = new Map(list.entries.map(({ name }, i) => [name, digests[i]]));
  const inside = list.coversDirectory
    ? present
        .filter((p) => p.startsWith(list.base + sep) || dirname(p) === list.base)
        .map((p) => relative(list.base, p).split(sep).join('/'))
        .filter((name) => !isChecksumFile(basename(name)) && !shouldIgnore(name, list.ignorePaths))
    : [];
  return compareChecksums(list.entries, actual, inside);
}
