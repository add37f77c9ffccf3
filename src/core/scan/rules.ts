import type { Severity } from '../findings.js';

export interface RuleInfo {
  id: string;
  name: string;
  severity: Severity;
  summary: string;
  help: string;
}

/** Every rule a scan can report. Ids are stable forever: CI baselines and SARIF depend on them. */
export const rules = {
  dangerousCall: {
    id: 'MLSEC-PICKLE-001',
    name: 'pickle-dangerous-call',
    severity: 'critical',
    summary: 'Pickle calls a dangerous callable when loaded',
    help: 'Loading this file runs the named callable (commands, code evaluation, file or network access). Do not load it; obtain the model from a trusted source or in a safe format such as safetensors.',
  },
  dangerousImport: {
    id: 'MLSEC-PICKLE-002',
    name: 'pickle-dangerous-import',
    severity: 'high',
    summary: 'Pickle imports a dangerous callable',
    help: 'The pickle references a callable that can run code or touch the system; loading it imports the callable and can pass it to other calls.',
  },
  unknownGlobal: {
    id: 'MLSEC-PICKLE-003',
    name: 'pickle-unknown-global',
    severity: 'medium',
    summary: 'Pickle imports a global that is not on the allowlist',
    help: 'The global is neither a known-safe reconstructor nor a known-dangerous callable. Review it and add it to `scan.allow-globals` in .mlsec.yaml if it is expected.',
  },
  dynamicGlobal: {
    id: 'MLSEC-PICKLE-004',
    name: 'pickle-dynamic-global',
    severity: 'high',
    summary: 'Pickle imports a global whose name is computed at load time',
    help: 'STACK_GLOBAL takes its module and name from values built while loading, so the callable cannot be known without running the pickle.',
  },
  indirectCall: {
    id: 'MLSEC-PICKLE-005',
    name: 'pickle-indirect-call',
    severity: 'high',
    summary: 'Pickle calls a callable obtained at load time',
    help: 'The called object is not an imported global: it was returned by another call, fetched through a persistent id or the extension registry. Benign checkpoints do not do this.',
  },
  extensionRegistry: {
    id: 'MLSEC-PICKLE-006',
    name: 'pickle-extension-code',
    severity: 'high',
    summary: 'Pickle imports through the copyreg extension registry',
    help: 'EXT1/EXT2/EXT4 resolve a global from a registry the loading process controls; the callable cannot be known from the file.',
  },
  setstateInjection: {
    id: 'MLSEC-PICKLE-007',
    name: 'pickle-attribute-injection',
    severity: 'high',
    summary: 'Pickle sets special attributes on an object while loading',
    help: 'BUILD with a state that sets dunder attributes (such as __setstate__) makes a later BUILD call an attacker-chosen function.',
  },
  globalMutation: {
    id: 'MLSEC-PICKLE-008',
    name: 'pickle-global-mutation',
    severity: 'high',
    summary: 'Pickle modifies an imported module, class or function',
    help: 'BUILD applied to an imported global changes attributes of shared objects in the loading process.',
  },
  malformed: {
    id: 'MLSEC-PICKLE-009',
    name: 'pickle-malformed',
    severity: 'medium',
    summary: 'Pickle stream cannot be fully parsed',
    help: 'A truncated or invalid stream is still loaded up to the error by Python, so everything before the error is reported; what follows it was not inspected.',
  },
  resourceLimit: {
    id: 'MLSEC-PICKLE-010',
    name: 'pickle-resource-limit',
    severity: 'medium',
    summary: 'Pickle exceeds an analysis limit',
    help: 'The stream exceeds a stack, memo or nesting limit; imports are still reported but calls can no longer be resolved.',
  },
  trailingData: {
    id: 'MLSEC-PICKLE-011',
    name: 'pickle-trailing-data',
    severity: 'low',
    summary: 'Data follows the end of the pickle stream',
    help: 'Bytes after STOP are ignored by pickle.load but may be read by other loaders.',
  },
  nestedUnscanned: {
    id: 'MLSEC-PICKLE-012',
    name: 'pickle-nested-uninspectable',
    severity: 'high',
    summary: 'Pickle loads nested serialized data that cannot be inspected',
    help: 'A loader such as pickle.loads or torch.load is called on data that is computed at load time or too large to inspect.',
  },
  objectArray: {
    id: 'MLSEC-PICKLE-013',
    name: 'numpy-object-array',
    severity: 'low',
    summary: 'NumPy array of Python objects is stored as a pickle',
    help: 'Loading it needs allow_pickle=True, which runs the embedded pickle; its content is scanned separately.',
  },
  unscannable: {
    id: 'MLSEC-CONTAINER-001',
    name: 'container-uninspectable',
    severity: 'high',
    summary: 'Container cannot be opened for inspection',
    help: 'The archive format, encryption or compression method is not supported, so its content was not scanned. Unpack it and scan the content.',
  },
  damaged: {
    id: 'MLSEC-CONTAINER-002',
    name: 'container-damaged',
    severity: 'medium',
    summary: 'Container is damaged or inconsistent',
    help: 'Checksums or headers disagree; some loaders tolerate this damage, others refuse the file, and scanners have been bypassed this way.',
  },
  decompressionBomb: {
    id: 'MLSEC-CONTAINER-003',
    name: 'container-decompression-bomb',
    severity: 'high',
    summary: 'Compressed data expands beyond the allowed ratio or size',
    help: 'Inflation stopped at the limit; the rest of the member was not inspected.',
  },
  nestingLimit: {
    id: 'MLSEC-CONTAINER-004',
    name: 'container-nesting-limit',
    severity: 'medium',
    summary: 'Containers are nested deeper than the scan follows',
    help: 'Raise the limit or unpack the archive before scanning.',
  },
  unsafeMemberPath: {
    id: 'MLSEC-CONTAINER-005',
    name: 'container-unsafe-path',
    severity: 'medium',
    summary: 'Archive member has an absolute or parent-relative path',
    help: 'Extracting this archive with a naive tool writes outside the target directory.',
  },
  unrecognised: {
    id: 'MLSEC-FILE-001',
    name: 'file-unrecognised-model',
    severity: 'low',
    summary: 'File has a model extension but no known model format',
    help: 'The content matches no format mlsec reads, so nothing in it was inspected.',
  },
  symlinkOutside: {
    id: 'MLSEC-FILE-002',
    name: 'file-symlink-outside-root',
    severity: 'low',
    summary: 'Symbolic link points outside the scanned directory and was not followed',
    help: 'Scan the target directly if it belongs to the model.',
  },
  unreadable: {
    id: 'MLSEC-FILE-003',
    name: 'file-unreadable',
    severity: 'high',
    summary: 'File could not be read',
    help: 'Fix the permissions or remove the file; an unscanned file is never treated as clean.',
  },
  empty: {
    id: 'MLSEC-FILE-004',
    name: 'file-empty',
    severity: 'info',
    summary: 'File is empty',
    help: 'An empty file holds no model; loaders fail on it.',
  },
  checksumMismatch: {
    id: 'MLSEC-INTEGRITY-001',
    name: 'integrity-checksum-mismatch',
    severity: 'high',
    summary: 'File does not match its listed checksum',
    help: 'The file differs from the digest its checksum file or sidecar records: it was modified, swapped or damaged after the checksums were made.',
  },
  checksumMissing: {
    id: 'MLSEC-INTEGRITY-002',
    name: 'integrity-listed-file-missing',
    severity: 'medium',
    summary: 'A file listed in a checksum file is missing',
    help: 'The checksum file lists a file that is not there (or cannot be read).',
  },
  checksumUnlisted: {
    id: 'MLSEC-INTEGRITY-003',
    name: 'integrity-file-unlisted',
    severity: 'medium',
    summary: 'File is not listed in the checksum file of its directory',
    help: 'A file was added after the checksums were made, or the checksum file is incomplete.',
  },
  lfsPointer: {
    id: 'MLSEC-INTEGRITY-004',
    name: 'integrity-lfs-pointer',
    severity: 'medium',
    summary: 'File is a Git LFS pointer, not the model content',
    help: 'The repository was cloned without fetching LFS objects; the pointer records the digest and size the real file must have. Run git lfs pull and scan again.',
  },
  signedFileModified: {
    id: 'MLSEC-SIGNATURE-001',
    name: 'signature-file-modified',
    severity: 'high',
    summary: 'File differs from the signed manifest',
    help: 'The model directory holds a signature (model.sig) whose manifest records another digest for this file: it changed after signing. Run mlsec verify with the signer key or identity to check the signature itself.',
  },
  signedFileMissing: {
    id: 'MLSEC-SIGNATURE-002',
    name: 'signature-file-missing',
    severity: 'medium',
    summary: 'A signed file is missing or was renamed',
    help: 'The signature lists a file that is no longer there under that name.',
  },
  unsignedFile: {
    id: 'MLSEC-SIGNATURE-003',
    name: 'signature-file-unsigned',
    severity: 'medium',
    summary: 'File is not covered by the signature of its model',
    help: 'The file was added after the model was signed; mlsec verify rejects the model unless --ignore-unsigned-files is given.',
  },
  signatureUnreadable: {
    id: 'MLSEC-SIGNATURE-004',
    name: 'signature-unreadable',
    severity: 'medium',
    summary: 'Signature file cannot be read as an OpenSSF Model Signing bundle',
    help: 'The signature file is damaged, of an unknown format, or lists unsafe paths; the model cannot be checked against it.',
  },
} as const satisfies Record<string, RuleInfo>;

export type RuleKey = keyof typeof rules;

export const allRules: readonly RuleInfo[] = Object.values(rules);
