import { createHash } from 'node:crypto';
import { MlsecError } from '../errors.js';
import { type DigestAlgorithm, isHexDigest } from './digest.js';

/**
 * OpenSSF Model Signing (OMS) manifests, shaped as the Python reference `model_signing` (v1.1)
 * shapes them, so that its `digest` output and verifier agree with ours. Where the OMS v1.0 spec
 * differs (order, single-file name, shard `algorithm`), the reference wins and both forms are
 * accepted on reading. Pure: digests are computed elsewhere and passed in.
 */

/** Hash types produced here; OMS also names `blake3`, which Node cannot compute without a dependency. */
export type OmsHashType = Extract<DigestAlgorithm, 'sha256' | 'blake2b'>;

export const defaultShardSize = 1_000_000_000;
export const defaultSignatureName = 'model.sig';
/** Ignored at the model root only (`model_signing` `ignore_git_paths`). */
export const gitIgnorePaths: readonly string[] = ['.git', '.gitattributes', '.github', '.gitignore'];
/** The resource name of a model that is a single file: its path relative to itself. */
export const singleFileName = '.';

export const inTotoStatementType = 'https://in-toto.io/Statement/v1';
export const omsPredicateType = 'https://model_signing/signature/v1.0';

export interface FileDigestInput {
  /** POSIX path relative to the model root, or `.` for a single-file model. */
  path: string;
  size: number;
  digestHex: string;
}

export interface ShardRange {
  path: string;
  /** Inclusive. */
  start: number;
  /** Exclusive. */
  end: number;
}

export interface ShardDigestInput extends ShardRange {
  digestHex: string;
}

export interface OmsResource {
  name: string;
  algorithm: string;
  digest: string;
}

export interface OmsFilesSerialization {
  method: 'files';
  hash_type: string;
  allow_symlinks: boolean;
  ignore_paths?: string[];
}

export interface OmsShardsSerialization {
  method: 'shards';
  hash_type: string;
  shard_size: number;
  allow_symlinks: boolean;
  ignore_paths?: string[];
}

export type OmsSerialization = OmsFilesSerialization | OmsShardsSerialization;

export interface OmsPredicate {
  serialization: OmsSerialization;
  resources: OmsResource[];
}

export interface OmsStatement {
  _type: typeof inTotoStatementType;
  subject: [{ name: string; digest: { sha256: string } }];
  predicateType: typeof omsPredicateType;
  predicate: OmsPredicate;
}

interface CommonInput {
  /** Default `sha256`. */
  hashType?: OmsHashType;
  /** Recorded only; following links is the walker's business. Default false. */
  allowSymlinks?: boolean;
  /** Recorded as `serialization.ignore_paths` (normalized, sorted); omitted when empty, as Python does. */
  ignorePaths?: readonly string[];
}

export interface FilesManifestInput extends CommonInput {
  method: 'files';
  files: readonly FileDigestInput[];
}

export interface ShardsManifestInput extends CommonInput {
  method: 'shards';
  /** Default 1e9, Python's. */
  shardSize?: number;
  /** Every range `planShards` gives, each hashed on its own. */
  shards: readonly ShardDigestInput[];
}

// --- names and order ---------------------------------------------------------------------------

/** Why `path` cannot name a resource, or undefined when it can. */
export function resourcePathProblem(path: string): string | undefined {
  if (path === singleFileName) return undefined;
  if (path === '') return 'empty path';
  if (path.startsWith('/')) return 'absolute path';
  if (path.includes('\0')) return 'NUL in path';
  for (const segment of path.split('/')) {
    if (segment === '') return 'empty path segment';
    if (segment === '.' || segment === '..') return `"${segment}" path segment`;
  }
  return undefined;
}

/** Compares by Unicode code point, as Python's `str` does; JS `<` compares UTF-16 units. */
export function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i += 1) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

// Surrogates (astral code points) must sort after U+E000..U+FFFF; everything else keeps its order.
function codePointRank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}

/**
 * `PurePosixPath` order: component by component, so `tokenizer/x` sorts before `tokenizer.json`
 * ('.' < '/' in a plain string compare, but `tokenizer` < `tokenizer.json` as components).
 */
export function comparePaths(a: string, b: string): number {
  const x = segments(a);
  const y = segments(b);
  const length = Math.min(x.length, y.length);
  for (let i = 0; i < length; i += 1) {
    const order = compareCodePoints(x[i]!, y[i]!);
    if (order !== 0) return order;
  }
  return x.length - y.length;
}

/** Python's `_Shard` dataclass order: path, then start and end as numbers. */
export function compareShards(a: ShardRange, b: ShardRange): number {
  return comparePaths(a.path, b.path) || a.start - b.start || a.end - b.end;
}

function segments(path: string): string[] {
  return path === singleFileName || path === '' ? [] : path.split('/');
}

// --- shards ------------------------------------------------------------------------------------

/** `[0,S) [S,2S) … [kS,size)`; none for an empty file, which a shard manifest does not record. */
export function shardRanges(size: number, shardSize: number): Array<[start: number, end: number]> {
  checkShardSize(shardSize);
  const ranges: Array<[number, number]> = [];
  for (let start = 0; start < size; start += shardSize) {
    ranges.push([start, Math.min(start + shardSize, size)]);
  }
  return ranges;
}

/** Every shard to hash, in manifest order. */
export function planShards(
  files: readonly Pick<FileDigestInput, 'path' | 'size'>[],
  shardSize: number,
): ShardRange[] {
  return [...files]
    .sort((a, b) => comparePaths(a.path, b.path))
    .flatMap((file) =>
      shardRanges(file.size, shardSize).map(([start, end]) => ({ path: file.path, start, end })),
    );
}

export function shardName(shard: ShardRange): string {
  return `${shard.path}:${shard.start}:${shard.end}`;
}

/**
 * Reads `<path>:<start>:<end>` by its last two colons (as the spec says; Python splits on every
 * colon and so cannot read paths that contain one). Offsets must be canonical decimals.
 */
export function parseShardName(name: string): ShardRange | undefined {
  const match = /^([\s\S]+):(0|[1-9]\d*):(0|[1-9]\d*)$/.exec(name);
  if (!match) return undefined;
  const start = Number(match[2]);
  const end = Number(match[3]);
  if (!Number.isSafeInteger(end) || start >= end) return undefined;
  return { path: match[1]!, start, end };
}

/** Python's shard `algorithm` label; the spec instead repeats `hash_type`. */
export function shardAlgorithm(hashType: string, shardSize: number): string {
  return `${hashType}-sharded-${shardSize}`;
}

/** Whether a resource's `algorithm` fits its serialization, in either the Python or the spec form. */
export function resourceAlgorithmMatches(algorithm: string, serialization: OmsSerialization): boolean {
  if (algorithm === serialization.hash_type) return true;
  return (
    serialization.method === 'shards' &&
    algorithm === shardAlgorithm(serialization.hash_type, serialization.shard_size)
  );
}

function checkShardSize(shardSize: number): void {
  if (!Number.isSafeInteger(shardSize) || shardSize <= 0) {
    throw new MlsecError('USAGE', `shard size must be a positive integer, not ${shardSize}`);
  }
}

// --- ignore rules ------------------------------------------------------------------------------

/**
 * A relative ignore path in canonical form (`./a//b/` → `a/b`, `..` resolved), or undefined when it
 * is absolute, leaves the model, or is the model root itself: ignoring the root would let any
 * model match a signature with no resources.
 */
export function normalizeIgnorePath(path: string): string | undefined {
  if (path.startsWith('/')) return undefined;
  const out: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment !== '..') out.push(segment);
    else if (out.pop() === undefined) return undefined;
  }
  return out.length > 0 ? out.join('/') : undefined;
}

export interface IgnoreOptions {
  /** `.git`, `.gitattributes`, `.github`, `.gitignore` at the root. Default true. */
  ignoreGitPaths?: boolean;
  /** The signature file relative to the model root; null when it lies outside. Default `model.sig`. */
  signature?: string | null;
  /** User paths relative to the model root; those outside it are dropped, as Python drops them. */
  paths?: readonly string[];
}

/** The effective ignore list, normalized, deduplicated and sorted. */
export function resolveIgnorePaths(options: IgnoreOptions = {}): string[] {
  const { ignoreGitPaths = true, signature = defaultSignatureName, paths = [] } = options;
  return canonicalIgnores([
    ...(ignoreGitPaths ? gitIgnorePaths : []),
    ...(signature === null ? [] : [signature]),
    ...paths,
  ]);
}

/** Whether `relPath` is an ignore path or lies under one (whole path components, case-sensitive). */
export function shouldIgnore(relPath: string, ignores: readonly string[]): boolean {
  const path = segments(relPath);
  return ignores.some((ignore) => {
    const prefix = normalizeIgnorePath(ignore)?.split('/');
    return (
      prefix !== undefined && prefix.length <= path.length && prefix.every((part, i) => part === path[i])
    );
  });
}

function canonicalIgnores(paths: readonly string[]): string[] {
  const normalized = paths.map(normalizeIgnorePath).filter((path) => path !== undefined);
  return [...new Set(normalized)].sort(comparePaths);
}

// --- predicate and statement -------------------------------------------------------------------

/** The `predicate` of an OMS v1.0 statement: resources in Python order, lowercase hex digests. */
export function buildOmsPredicate(input: FilesManifestInput | ShardsManifestInput): OmsPredicate {
  const hashType = input.hashType ?? 'sha256';
  const allowSymlinks = input.allowSymlinks ?? false;
  const ignores = canonicalIgnores(input.ignorePaths ?? []);
  const recorded = ignores.length > 0 ? { ignore_paths: ignores } : {};
  if (input.method === 'files') {
    const files = [...input.files].sort((a, b) => comparePaths(a.path, b.path));
    checkPaths(files);
    return {
      serialization: { method: 'files', hash_type: hashType, allow_symlinks: allowSymlinks, ...recorded },
      resources: files.map((file) => resource(file.path, hashType, file.digestHex, hashType)),
    };
  }
  const shardSize = input.shardSize ?? defaultShardSize;
  checkShardSize(shardSize);
  const shards = [...input.shards].sort(compareShards);
  checkPaths(uniquePaths(shards));
  checkShardLayout(shards, shardSize);
  const algorithm = shardAlgorithm(hashType, shardSize);
  return {
    serialization: {
      method: 'shards',
      hash_type: hashType,
      shard_size: shardSize,
      allow_symlinks: allowSymlinks,
      ...recorded,
    },
    resources: shards.map((shard) => resource(shardName(shard), algorithm, shard.digestHex, hashType)),
  };
}

/**
 * The subject digest: SHA-256 over the raw bytes of every resource digest in listed order, whatever
 * the hash type. A verifier recomputes it in the order the signature lists, sorted or not.
 */
export function omsModelDigest(resources: readonly Pick<OmsResource, 'digest'>[]): string {
  const hash = createHash('sha256');
  for (const { digest } of resources) {
    // Buffer.from(hex) would stop silently at a bad digit and hash something else.
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(digest)) {
      throw new MlsecError('INTERNAL', `resource digest is not hex: ${digest.slice(0, 80)}`);
    }
    hash.update(Buffer.from(digest, 'hex'));
  }
  return hash.digest('hex');
}

/** The in-toto Statement v1 that a signature wraps; `modelName` is informational (Python: the dir's basename). */
export function buildOmsStatement(modelName: string, predicate: OmsPredicate): OmsStatement {
  return {
    _type: inTotoStatementType,
    subject: [{ name: modelName, digest: { sha256: omsModelDigest(predicate.resources) } }],
    predicateType: omsPredicateType,
    predicate,
  };
}

function resource(name: string, algorithm: string, digestHex: string, hashType: OmsHashType): OmsResource {
  if (!isHexDigest(digestHex, hashType)) {
    throw new MlsecError('INTERNAL', `${name}: not a ${hashType} digest: ${digestHex.slice(0, 160)}`);
  }
  return { name, algorithm, digest: digestHex.toLowerCase() };
}

/** Sorted input: every path valid, no duplicates, and `.` only alone. */
function checkPaths(sorted: readonly { path: string }[]): void {
  sorted.forEach(({ path }, i) => {
    const problem = resourcePathProblem(path);
    if (problem) throw new MlsecError('INTERNAL', `bad resource path ${JSON.stringify(path)}: ${problem}`);
    if (i > 0 && sorted[i - 1]!.path === path) throw new MlsecError('INTERNAL', `duplicate resource ${path}`);
    if (path === singleFileName && sorted.length > 1) {
      throw new MlsecError('INTERNAL', 'a single-file model "." cannot have other resources');
    }
  });
}

function uniquePaths(sorted: readonly ShardRange[]): { path: string }[] {
  return sorted.filter((shard, i) => i === 0 || sorted[i - 1]!.path !== shard.path);
}

/** Sorted shards must tile each file from 0 exactly as `planShards` does, or Python would disagree. */
function checkShardLayout(sorted: readonly ShardRange[], shardSize: number): void {
  sorted.forEach((shard, i) => {
    const previous = sorted[i - 1];
    const next = sorted[i + 1];
    const expectedStart = previous?.path === shard.path ? previous.end : 0;
    const full = next?.path === shard.path;
    const length = shard.end - shard.start;
    if (
      shard.start !== expectedStart ||
      length <= 0 ||
      length > shardSize ||
      (full && length !== shardSize)
    ) {
      throw new MlsecError('INTERNAL', `shard ${shardName(shard)} does not fit shard size ${shardSize}`);
    }
  });
}
