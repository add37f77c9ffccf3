import { isHexDigest } from '../hash/digest.js';
import {
  inTotoStatementType,
  type OmsHashType,
  type OmsResource,
  type OmsSerialization,
  omsModelDigest,
  omsPredicateType,
  parseShardName,
  resourceAlgorithmMatches,
  resourcePathProblem,
  singleFileName,
} from '../hash/manifest.js';
import { fail } from './failure.js';

/** model_signing v0.2's predicate: one subject per file, no serialization, no model digest. */
export const legacyPredicateType = 'https://model_signing/Digests/v0.1';

export interface SignedManifest {
  /** `v1.0` for the `signature/v1.0` predicate (model_signing 0.3 to 1.1), `v0.2` for `Digests/v0.1`. */
  format: 'v1.0' | 'v0.2';
  /** Informational: the signer's name for the model. */
  modelName: string;
  /** The model digest the signature covers (v1.0), recomputed and checked against the resources. */
  modelDigest?: string;
  serialization: OmsSerialization & { hash_type: OmsHashType; ignore_paths: string[] };
  resources: OmsResource[];
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail('manifest', `${what} is missing or not an object`);
  }
  return value as Record<string, unknown>;
}

/**
 * The signed statement, checked for everything that does not need the files: its types, one
 * subject, safe resource names, digests of the declared hash, and a model digest that matches.
 */
export function parseSignedManifest(payload: Uint8Array): SignedManifest {
  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    fail('manifest', 'the signed payload is not JSON');
  }
  const statement = record(data, 'the signed statement');
  if (statement._type !== inTotoStatementType) {
    fail(
      'manifest',
      `the signed statement is not an in-toto Statement v1 (_type ${JSON.stringify(statement._type)})`,
    );
  }
  if (statement.predicateType === legacyPredicateType) return parseLegacy(statement);
  if (statement.predicateType !== omsPredicateType) {
    fail('manifest', `unknown predicate type ${JSON.stringify(statement.predicateType)}`);
  }
  const subjects = statement.subject;
  if (!Array.isArray(subjects) || subjects.length !== 1)
    fail('manifest', 'the statement must have exactly one subject');
  const subject = record(subjects[0], 'the subject');
  const modelDigest = record(subject.digest, 'the subject digest').sha256;
  if (typeof modelDigest !== 'string') fail('manifest', 'the subject has no sha256 digest');
  const predicate = record(statement.predicate, 'the predicate');
  const serialization = readSerialization(record(predicate.serialization, 'predicate.serialization'));
  if (!Array.isArray(predicate.resources)) fail('manifest', 'predicate.resources is not a list');
  const resources = predicate.resources.map((r, i) => readResource(r, i, serialization));
  checkNames(resources, serialization);
  // The order is the signer's: recompute in listed order, as model_signing does, without re-sorting.
  if (omsModelDigest(resources) !== modelDigest.toLowerCase()) {
    fail('manifest', 'the manifest is inconsistent: the subject digest does not match the resources');
  }
  return {
    format: 'v1.0',
    modelName: typeof subject.name === 'string' ? subject.name : '',
    modelDigest: modelDigest.toLowerCase(),
    serialization,
    resources,
  };
}

function readSerialization(raw: Record<string, unknown>): SignedManifest['serialization'] {
  const hashType: unknown = raw.hash_type;
  if (hashType !== 'sha256' && hashType !== 'blake2b') {
    fail('manifest', `unsupported hash_type ${JSON.stringify(hashType)} (mlsec verifies sha256 and blake2b)`);
  }
  const allowSymlinks = raw.allow_symlinks ?? false;
  if (typeof allowSymlinks !== 'boolean') fail('manifest', 'serialization.allow_symlinks is not a boolean');
  const ignores = raw.ignore_paths ?? [];
  if (!Array.isArray(ignores) || ignores.some((p) => typeof p !== 'string')) {
    fail('manifest', 'serialization.ignore_paths is not a list of strings');
  }
  const common = {
    hash_type: hashType as OmsHashType,
    allow_symlinks: allowSymlinks,
    ignore_paths: ignores as string[],
  };
  if (raw.method === 'files') return { method: 'files', ...common };
  if (raw.method === 'shards') {
    // Python writes shard_size through a protobuf Struct, so it arrives as a double (8.0).
    const shardSize = raw.shard_size;
    if (typeof shardSize !== 'number' || !Number.isSafeInteger(shardSize) || shardSize < 1) {
      fail('manifest', 'serialization.shard_size is not a positive integer');
    }
    return { method: 'shards', shard_size: shardSize, ...common };
  }
  return fail('manifest', `unknown serialization method ${JSON.stringify(raw.method)}`);
}

function readResource(raw: unknown, index: number, serialization: OmsSerialization): OmsResource {
  const resource = record(raw, `resource ${index}`);
  const { name, algorithm, digest } = resource;
  if (typeof name !== 'string' || typeof algorithm !== 'string' || typeof digest !== 'string') {
    fail('manifest', `resource ${index} lacks a name, algorithm or digest`);
  }
  if (!resourceAlgorithmMatches(algorithm, serialization)) {
    fail(
      'manifest',
      `resource ${JSON.stringify(name)} has algorithm ${algorithm}, not ${serialization.hash_type}`,
    );
  }
  if (!isHexDigest(digest, serialization.hash_type as OmsHashType)) {
    fail('manifest', `resource ${JSON.stringify(name)} has a malformed ${serialization.hash_type} digest`);
  }
  return { name, algorithm, digest: digest.toLowerCase() };
}

/** A name the files on disk are looked up by: never absolute, never `..`, never a duplicate. */
function checkNames(resources: readonly OmsResource[], serialization: OmsSerialization): void {
  const seen = new Set<string>();
  for (const { name } of resources) {
    const path = serialization.method === 'shards' ? parseShardName(name)?.path : name;
    if (path === undefined) fail('manifest', `malformed shard name ${JSON.stringify(name)}`);
    const problem = resourcePathProblem(path) ?? (path.includes('\\') ? 'backslash in path' : undefined);
    if (problem) fail('manifest', `unsafe resource name ${JSON.stringify(name)}: ${problem}`);
    if (seen.has(name)) fail('manifest', `resource ${JSON.stringify(name)} is listed twice`);
    seen.add(name);
    if (path === singleFileName && serialization.method === 'files' && resources.length > 1) {
      fail('manifest', 'a single-file manifest "." cannot list other resources');
    }
  }
}

function parseLegacy(statement: Record<string, unknown>): SignedManifest {
  const subjects = statement.subject;
  if (!Array.isArray(subjects)) fail('manifest', 'the statement has no subjects');
  const serialization: SignedManifest['serialization'] = {
    method: 'files',
    hash_type: 'sha256',
    allow_symlinks: false,
    ignore_paths: [],
  };
  const resources = subjects.map((raw, i) => {
    const subject = record(raw, `subject ${i}`);
    const digest = record(subject.digest, `subject ${i} digest`).sha256;
    return readResource({ name: subject.name, algorithm: 'sha256', digest }, i, serialization);
  });
  checkNames(resources, serialization);
  return { format: 'v0.2', modelName: '', serialization, resources };
}
