import type { Finding } from '../findings.js';
import type { ByteSource } from '../source.js';
import type { ScanLimits } from './limits.js';
import type { GlobalPolicy } from './policy/global-policy.js';
import { type RuleKey, rules } from './rules.js';

/** What a reader learned that its container needs (PyTorch storage keys referenced by data.pkl). */
export interface ReaderResult {
  /** A more specific format than the reader's id (a zip that is a PyTorch checkpoint). */
  format?: string;
  storageKeys?: ReadonlySet<string>;
  /** The format's own header rules out a pickle at byte 0 (it breaks within the first 8 bytes): skip the polyglot probe. */
  notPickle?: boolean;
}

export interface FindingDetails {
  offset?: number;
  global?: string;
  count?: number;
}

/** Where a reader is, and how it reports. One context per member; `nested` makes a child. */
export interface ScanContext {
  readonly policy: GlobalPolicy;
  readonly limits: ScanLimits;
  readonly depth: number;
  /** Member path inside the file, outermost first; undefined for the file itself. */
  readonly member: string | undefined;
  /** File or member name, for messages and extension hints only, never for detection. */
  readonly name: string;
  report(rule: RuleKey, message: string, details?: FindingDetails): void;
  /** A finding built by a reader that aggregates (the pickle analysis). */
  add(finding: Finding): void;
  /** The reader could not finish; the result is partial. */
  partial(): void;
  /**
   * For the file itself when it lies in a file system (never for archive members): why a path
   * relative to the file's folder resolves outside that folder (a symbolic link), if it does.
   */
  readonly outsideFolder?: OutsideFolderCheck;
  /** Detects the format of `source` and scans it as a member named `name` of this one. */
  nested(source: ByteSource, name: string): Promise<ReaderResult | undefined>;
}

export type OutsideFolderCheck = (relative: string) => Promise<string | undefined>;

export function joinMember(parent: string | undefined, name: string): string {
  return parent === undefined ? name : `${parent}!${name}`;
}

export function makeFinding(
  rule: RuleKey,
  message: string,
  member: string | undefined,
  details: FindingDetails = {},
): Finding {
  const info = rules[rule];
  const finding: Finding = { rule: info.id, severity: info.severity, message };
  if (member !== undefined) finding.member = member;
  if (details.offset !== undefined) finding.offset = details.offset;
  if (details.global !== undefined) finding.global = details.global;
  if (details.count !== undefined && details.count > 1) finding.count = details.count;
  return finding;
}
