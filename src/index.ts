// The library surface: everything the CLI does is available to other tools from here.

export { buildCycloneDxBom } from './core/bom/cyclonedx.js';
export { ExitCode, MlsecError, type MlsecErrorCode } from './core/errors.js';
export {
  type FileReport,
  type Finding,
  type ScanSummary,
  type Severity,
  severities,
  summarize,
} from './core/findings.js';
export {
  createDigester,
  type Digest,
  type DigestAlgorithm,
  type Digester,
  digestAlgorithms,
  digestBytes,
  digestHexLength,
  digestStream,
  digestStreamMulti,
  isDigestAlgorithm,
  isHexDigest,
  toSri,
} from './core/hash/digest.js';
export {
  buildOmsPredicate,
  buildOmsStatement,
  compareCodePoints,
  comparePaths,
  compareShards,
  defaultShardSize,
  defaultSignatureName,
  type FileDigestInput,
  type FilesManifestInput,
  gitIgnorePaths,
  type IgnoreOptions,
  inTotoStatementType,
  normalizeIgnorePath,
  type OmsFilesSerialization,
  type OmsHashType,
  type OmsPredicate,
  type OmsResource,
  type OmsSerialization,
  type OmsShardsSerialization,
  type OmsStatement,
  omsModelDigest,
  omsPredicateType,
  parseShardName,
  planShards,
  resolveIgnorePaths,
  resourceAlgorithmMatches,
  resourcePathProblem,
  type ShardDigestInput,
  type ShardRange,
  type ShardsManifestInput,
  shardAlgorithm,
  shardName,
  shardRanges,
  shouldIgnore,
  singleFileName,
} from './core/hash/manifest.js';
export {
  type ChecksumEntry,
  ChecksumFileError,
  type ChecksumFormatOptions,
  type ChecksumParseOptions,
  type ChecksumStyle,
  checksumCommand,
  formatChecksumFile,
  formatChecksumLine,
  type ParsedChecksumLine,
  parseChecksumFile,
} from './core/hash/sha256sum-format.js';
export {
  type MetadataLicense,
  metadataReaders,
  readGgufLicense,
  readOnnxLicense,
  readSafetensorsLicense,
} from './core/license/artifact-metadata.js';
export { type ModelCard, parseModelCard } from './core/license/card.js';
export { categoryOf, hubLicense, type LicenseCategory, licenseCategories } from './core/license/catalog.js';
export {
  detectLicense,
  type LicenseDetection,
  type LicenseFinding,
  type LicenseReport,
  type LicenseSource,
} from './core/license/detect.js';
export { normalizeDeclared, parseExpression } from './core/license/expression.js';
export {
  compileLicensePolicy,
  evaluateLicensePolicy,
  type LicensePolicy,
  type LicensePolicyConfig,
} from './core/license/policy.js';
export { spdxReferenceTexts } from './core/license/spdx-texts.js';
export { LicenseTextMatcher, normalizeLicenseText, type TextMatch } from './core/license/text-match.js';
export type { ReaderResult, ScanContext } from './core/scan/context.js';
export type { FormatReader } from './core/scan/format-reader.js';
export { formatReaders } from './core/scan/formats/index.js';
export { defaultLimits, type ScanLimits } from './core/scan/limits.js';
export {
  type GlobalClassification,
  GlobalPolicy,
  type GlobalPolicyOptions,
} from './core/scan/policy/global-policy.js';
export { allRules, type RuleInfo, rules } from './core/scan/rules.js';
export {
  type ArtifactInput,
  type OpenedArtifact,
  type ScanOptions,
  scanArtifact,
  scanArtifacts,
} from './core/scan/scan-artifact.js';
export { scanSource } from './core/scan/scan-source.js';
export { type BundleMaterial, type OmsBundle, parseOmsBundle } from './core/sign/bundle.js';
export { diffManifests, type ManifestDiff } from './core/sign/compare.js';
export { inTotoPayloadType, pae, sigstoreBundleMediaType } from './core/sign/dsse.js';
export type { VerifyFailureKind } from './core/sign/failure.js';
export { keyAlgorithm, keyHint, publicKeyPem, type SigningCurve, signingCurves } from './core/sign/keys.js';
export { buildCertificateBundle, buildKeyBundle, statementBytes } from './core/sign/sign-bundle.js';
export { type IdentityPolicy, verifySigstoreBundle } from './core/sign/sigstore-verify.js';
export { legacyPredicateType, parseSignedManifest, type SignedManifest } from './core/sign/statement.js';
export { type VerifyModelInput, type VerifyReport, verifyModel } from './core/sign/verify-model.js';
export { type Signer, type VerifyMaterial, verifyBundleSignature } from './core/sign/verify-signature.js';
export {
  type ByteSource,
  bufferSource,
  type RandomAccess,
  randomAccessSource,
  streamSource,
} from './core/source.js';
export { openFileArtifact } from './io/file-source.js';
export { type HashJob, HashPool, type HashResult, hashFiles } from './io/hash-pool.js';
export { listModelFiles, type ModelFile } from './io/model-files.js';
export { type HashModelOptions, hashModel } from './io/model-manifest.js';
export { type KeylessOptions, signKeyless } from './io/sigstore-signing.js';
export { walkArtifacts } from './io/walk.js';
