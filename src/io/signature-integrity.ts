import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeError, MlsecError } from '../core/errors.js';
import type { Finding } from '../core/findings.js';
import { defaultSignatureName, resolveIgnorePaths } from '../core/hash/manifest.js';
import { makeFinding } from '../core/scan/context.js';
import { signatureFindings } from '../core/scan/integrity.js';
import { maxBundleBytes, parseOmsBundle } from '../core/sign/bundle.js';
import { diffManifests } from '../core/sign/compare.js';
import { VerificationFailure } from '../core/sign/failure.js';
import { parseSignedManifest } from '../core/sign/statement.js';
import type { HashPool } from './hash-pool.js';
import { listModelFiles } from './model-files.js';
import { hashModel } from './model-manifest.js';

export const isSignatureFile = (name: string) => name === defaultSignatureName;

/**
 * Whether the files beside a `model.sig` still match the manifest it signs. The signature itself
 * is not checked (that needs the signer's key or identity: `mlsec verify`); this catches a model
 * changed after signing without asking for either.
 */
export async function checkAgainstSignature(
  signaturePath: string,
  label: string,
  displayPath: (name: string) => string,
  pool: HashPool,
): Promise<Map<string, Finding[]>> {
  const root = dirname(signaturePath);
  try {
    const info = await stat(signaturePath);
    if (info.size > maxBundleBytes) throw new VerificationFailure('signature-file', 'larger than 4 MiB');
    const manifest = parseSignedManifest(parseOmsBundle(await readFile(signaturePath, 'utf8')).payload);
    const { serialization } = manifest;
    // As `verify` does: a recorded ignore list is the signer's; the git defaults only for older signatures.
    const ignorePaths = resolveIgnorePaths({
      ignoreGitPaths: serialization.ignore_paths.length === 0,
      paths: serialization.ignore_paths,
    });
    const files = await listModelFiles(root, ignorePaths);
    const predicate = await hashModel(
      files,
      {
        method: serialization.method,
        hashType: serialization.hash_type,
        ignorePaths,
        ...(serialization.method === 'shards' ? { shardSize: serialization.shard_size } : {}),
      },
      pool,
    );
    const diff = diffManifests(manifest.resources, predicate.resources, serialization.method);
    return signatureFindings(diff, label, displayPath);
  } catch (error) {
    if (!(error instanceof VerificationFailure) && !(error instanceof MlsecError)) throw error;
    const finding = makeFinding('signatureUnreadable', `${label}: ${describeError(error)}`, undefined);
    return new Map([[label, [finding]]]);
  }
}
