import { createHash, type Hash } from 'node:crypto';
import { createRequire } from 'node:module';
import { MlsecError } from '../errors.js';

export const digestAlgorithms = ['sha256', 'sha384', 'sha512', 'blake2b'] as const;
/** `blake2b` is BLAKE2b-512, what `b2sum` and Python's `hashlib.blake2b()` compute by default. */
export type DigestAlgorithm = (typeof digestAlgorithms)[number];

export function isDigestAlgorithm(value: string): value is DigestAlgorithm {
  return (digestAlgorithms as readonly string[]).includes(value);
}

/** The names node:crypto (OpenSSL) knows the algorithms by. */
export const nodeHashName: Readonly<Record<DigestAlgorithm, string>> = {
  sha256: 'sha256',
  sha384: 'sha384',
  sha512: 'sha512',
  blake2b: 'blake2b512',
};

/** Lowercase hex digits in a digest of each algorithm. */
export const digestHexLength: Record<DigestAlgorithm, number> = {
  sha256: 64,
  sha384: 96,
  sha512: 128,
  blake2b: 128,
};

export interface Digest {
  algorithm: DigestAlgorithm;
  /** Lowercase hex. */
  hex: string;
  /** Bytes hashed. */
  size: number;
}

/** True when `hex` is a well-formed digest of `algorithm` (either case). */
export function isHexDigest(hex: string, algorithm: DigestAlgorithm): boolean {
  return hex.length === digestHexLength[algorithm] && /^[0-9a-fA-F]*$/.test(hex);
}

/** An incremental hasher for callers that feed bytes themselves (shard ranges, tees). */
export interface Digester {
  update(chunk: Uint8Array): void;
  digest(): Digest;
}

export function createDigester(algorithm: DigestAlgorithm): Digester {
  const hash: Hash = createHash(nodeHashName[algorithm]);
  let size = 0;
  return {
    update(chunk) {
      hash.update(chunk);
      size += chunk.length;
    },
    digest: () => ({ algorithm, hex: hash.digest('hex'), size }),
  };
}

export function digestBytes(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  const digester = createDigester(algorithm);
  digester.update(bytes);
  return digester.digest();
}

export async function digestStream(
  chunks: AsyncIterable<Uint8Array>,
  algorithm: DigestAlgorithm = 'sha256',
): Promise<Digest> {
  const [digest] = await digestStreamMulti(chunks, [algorithm]);
  return digest!;
}

/** Several digests in one pass, so a multi-GB file is read once; results follow `algorithms`. */
export async function digestStreamMulti(
  chunks: AsyncIterable<Uint8Array>,
  algorithms: readonly DigestAlgorithm[],
): Promise<Digest[]> {
  const digesters = algorithms.map(createDigester);
  for await (const chunk of chunks) for (const digester of digesters) digester.update(chunk);
  return digesters.map((digester) => digester.digest());
}

const sriAlgorithms: ReadonlySet<DigestAlgorithm> = new Set(['sha256', 'sha384', 'sha512']);

/**
 * The Subresource Integrity string (`sha256-<base64>`), or undefined for blake2b:
 * SRI (and npm's `ssri`) defines only the SHA-2 family.
 */
export function toSri(digest: Pick<Digest, 'algorithm' | 'hex'>): string | undefined {
  if (!sriAlgorithms.has(digest.algorithm)) return undefined;
  // Buffer's hex decoder stops silently at the first bad digit; never emit a truncated SRI.
  if (!isHexDigest(digest.hex, digest.algorithm)) {
    throw new MlsecError('INTERNAL', `not a ${digest.algorithm} digest: ${digest.hex}`);
  }
  return loadSsri().fromHex(digest.hex.toLowerCase(), digest.algorithm, { single: true }).toString();
}

let ssri: typeof import('ssri') | undefined;
/** Loaded on first use: most commands never write an SRI string, and every command pays its start-up. */
function loadSsri(): typeof import('ssri') {
  ssri ??= createRequire(import.meta.url)('ssri') as typeof import('ssri');
  return ssri;
}
