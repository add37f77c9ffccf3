import { MlsecError } from '../core/errors.js';
import {
  buildOmsPredicate,
  defaultShardSize,
  type OmsHashType,
  type OmsPredicate,
  planShards,
} from '../core/hash/manifest.js';
import { type HashPool, hashFiles } from './hash-pool.js';
import type { ModelFile } from './model-files.js';

/** At most this many shards in one manifest (a 100 GB model in 1 MB shards); each is a queued job. */
export const maxShards = 100_000;

export interface HashModelOptions {
  method: 'files' | 'shards';
  hashType: OmsHashType;
  /** For `shards`; the core's default (1e9, Python's) when absent. */
  shardSize?: number;
  /** Recorded in the predicate as `serialization.ignore_paths`. */
  ignorePaths: readonly string[];
  allowSymlinks?: boolean;
}

/**
 * The OMS predicate of a listed model: every file (or every shard of every file) hashed on the pool.
 * The one place `hash --manifest`, `sign`, `verify` and `scan` get a model's digests from, so the
 * same tree always gives the same manifest. `onProgress` gets the bytes hashed so far.
 */
export async function hashModel(
  files: readonly ModelFile[],
  options: HashModelOptions,
  pool: HashPool,
  onProgress: (bytes: number) => void = () => {},
): Promise<OmsPredicate> {
  const { hashType, ignorePaths } = options;
  const common = { hashType, ignorePaths, allowSymlinks: options.allowSymlinks ?? false };
  if (options.method === 'files') {
    const jobs = files.map((file) => ({ path: file.absolute, size: file.size }));
    const results = await hashFiles(pool, jobs, hashType, onProgress);
    const digests = files.map((file, i) => ({
      path: file.path,
      size: file.size,
      digestHex: results[i]!.hex,
    }));
    return buildOmsPredicate({ method: 'files', ...common, files: digests });
  }
  const shardSize = options.shardSize ?? defaultShardSize;
  const planned = files.reduce((sum, f) => sum + Math.ceil(f.size / shardSize), 0);
  // A shard size read from an unauthenticated signature could ask for a job per byte.
  if (planned > maxShards) {
    throw new MlsecError(
      'INPUT_INVALID',
      `shard size ${shardSize} would split the model into ${planned} shards; refusing more than ${maxShards}`,
    );
  }
  const byPath = new Map(files.map((f) => [f.path, f]));
  const plan = planShards(files, shardSize);
  let done = 0;
  const results = await Promise.all(
    plan.map((shard) => {
      let seen = 0;
      const onShard = (bytes: number) => {
        done += bytes - seen;
        seen = bytes;
        onProgress(done);
      };
      const path = byPath.get(shard.path)!.absolute;
      return pool.hash({ path, start: shard.start, end: shard.end }, hashType, onShard);
    }),
  );
  const shards = plan.map((shard, i) => ({ ...shard, digestHex: results[i]!.hex }));
  return buildOmsPredicate({ method: 'shards', ...common, shardSize, shards });
}
