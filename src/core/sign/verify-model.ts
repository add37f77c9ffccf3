import type { OmsResource } from '../hash/manifest.js';
import { parseOmsBundle } from './bundle.js';
import { diffManifests, isEmptyDiff, type ManifestDiff } from './compare.js';
import { inTotoPayloadType } from './dsse.js';
import { fail, VerificationFailure, type VerifyFailureKind } from './failure.js';
import { parseSignedManifest, type SignedManifest } from './statement.js';
import { type Signer, type VerifyMaterial, verifyBundleSignature } from './verify-signature.js';

export interface VerifyModelInput {
  /** The signature file's text. */
  bundleText: string;
  material: VerifyMaterial;
  /**
   * Hashes the model as the signature says it was hashed (serialization, hash type and the
   * recorded ignore paths). Injected: reading files is the caller's business.
   */
  hashModel: (manifest: SignedManifest) => Promise<OmsResource[]>;
  /** Files on disk that the signature does not list are accepted (model_signing's --ignore-unsigned-files). */
  ignoreUnsignedFiles?: boolean;
  /** The file's base name when the model is a single file: the spec's name for it, beside Python's `.`. */
  singleFileName?: string;
}

export interface VerifyReport {
  ok: boolean;
  signer?: Signer;
  /** The signature format: predicate v1.0 (model_signing 0.3 to 1.1) or the v0.2 digests predicate. */
  format?: SignedManifest['format'];
  modelDigest?: string;
  resources?: number;
  diff?: ManifestDiff;
  failure?: { kind: VerifyFailureKind; message: string };
}

/**
 * Verifies a signature and then the model against it: authenticity first (a forged signature
 * costs no hashing), then the statement's own consistency, then every file.
 */
export async function verifyModel(input: VerifyModelInput): Promise<VerifyReport> {
  const report: VerifyReport = { ok: false };
  try {
    const bundle = parseOmsBundle(input.bundleText);
    if (bundle.payloadType !== inTotoPayloadType) {
      fail('signature-file', `unexpected DSSE payload type ${JSON.stringify(bundle.payloadType)}`);
    }
    report.signer = verifyBundleSignature(bundle, input.material);
    const manifest = parseSignedManifest(bundle.payload);
    report.format = manifest.format;
    if (manifest.modelDigest) report.modelDigest = manifest.modelDigest;
    report.resources = manifest.resources.length;
    const actual = singleFileNamed(await input.hashModel(manifest), manifest.resources, input.singleFileName);
    const diff = diffManifests(manifest.resources, actual, manifest.serialization.method);
    if (input.ignoreUnsignedFiles) diff.added = [];
    report.diff = diff;
    if (!isEmptyDiff(diff)) fail('files', describeDiff(diff));
    report.ok = true;
  } catch (error) {
    if (!(error instanceof VerificationFailure)) throw error;
    report.failure = { kind: error.kind, message: error.message };
  }
  return report;
}

/** model_signing names a single-file model `.`; the spec names it by its base name. Both verify. */
function singleFileNamed(
  actual: OmsResource[],
  signed: readonly OmsResource[],
  baseName: string | undefined,
): OmsResource[] {
  const only = signed.length === 1 ? signed[0] : undefined;
  if (baseName === undefined || actual.length !== 1 || actual[0]!.name !== '.' || only?.name !== baseName)
    return actual;
  return [{ ...actual[0]!, name: baseName }];
}

export function describeDiff(diff: ManifestDiff): string {
  const parts = [
    ...diff.modified.map((p) => `modified ${p}`),
    ...diff.added.map((p) => `added ${p}`),
    ...diff.removed.map((p) => `removed ${p}`),
    ...diff.renamed.map((r) => `renamed ${r.from} to ${r.to}`),
  ];
  const shown = parts.slice(0, 20).join(', ');
  return `the model does not match its signature: ${shown}${parts.length > 20 ? `, and ${parts.length - 20} more` : ''}`;
}
