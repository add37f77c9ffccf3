import type { Finding } from '../findings.js';
import type { ByteSource } from '../source.js';
import {
  type FindingDetails,
  joinMember,
  makeFinding,
  type OutsideFolderCheck,
  type ReaderResult,
  type ScanContext,
} from './context.js';
import { corruptionMessage } from './data-error.js';
import { type FormatReader, headBytes } from './format-reader.js';
import { reportExecutable } from './formats/executable/executable-reader.js';
import { formatReaders, zipReader } from './formats/index.js';
import { couldBePickle, pickleReader, scanPickleStream } from './formats/pickle/pickle-reader.js';
import { hasTrailingZip } from './formats/zip/zip-reader.js';
import type { ScanLimits } from './limits.js';
import type { GlobalPolicy } from './policy/global-policy.js';

export interface SourceScan {
  /** Outermost format, or `empty` / `unknown`. */
  format: string;
  findings: Finding[];
  partial: boolean;
}

interface Shared {
  policy: GlobalPolicy;
  limits: ScanLimits;
  outsideFolder?: OutsideFolderCheck;
  findings: Finding[];
  partial: boolean;
}

/** Detects what `source` is and scans it, recursing into containers. Never throws for bad content. */
export async function scanSource(
  source: ByteSource,
  name: string,
  options: { policy: GlobalPolicy; limits: ScanLimits; outsideFolder?: OutsideFolderCheck },
): Promise<SourceScan> {
  const shared: Shared = { ...options, findings: [], partial: false };
  const { format } = await scanMember(shared, source, name, undefined, 0);
  return { format, findings: shared.findings, partial: shared.partial };
}

async function scanMember(
  shared: Shared,
  source: ByteSource,
  name: string,
  member: string | undefined,
  depth: number,
): Promise<{ format: string; result: ReaderResult | undefined }> {
  const context = makeContext(shared, name, member, depth);
  const head = await source.head(headBytes);
  if (head.length === 0) {
    // Empty members are ordinary inside archives; only an empty file is worth a note.
    if (depth === 0) context.report('empty', 'file is empty');
    return { format: 'empty', result: undefined };
  }
  if (member !== undefined) reportExecutable(head, context);
  const reader = await detect(head, source, name);
  const primary = reader ? await runReader(reader, source, context, head) : undefined;
  // Polyglots: the same bytes may mean something else to another loader.
  if (reader !== zipReader && (await hasTrailingZip(source))) {
    const zip = await runReader(zipReader, source, context, head);
    if (!reader) return { format: zip.format, result: zip.result };
  }
  if (
    reader &&
    reader !== pickleReader &&
    reader !== zipReader &&
    !primary?.result?.notPickle &&
    source.random &&
    couldBePickle(head)
  ) {
    await scanPickleStream(source.stream(), context, { tentative: true });
  }
  return primary ?? { format: 'unknown', result: undefined };
}

async function detect(head: Uint8Array, source: ByteSource, name: string): Promise<FormatReader | undefined> {
  for (const reader of formatReaders) {
    if (await reader.detect(head, source, name)) return reader;
  }
  return undefined;
}

async function runReader(
  reader: FormatReader,
  source: ByteSource,
  context: ScanContext,
  head: Uint8Array,
): Promise<{ format: string; result: ReaderResult | undefined }> {
  try {
    const result = await reader.scan(source, context, head);
    return { format: result?.format ?? reader.id, result };
  } catch (error) {
    // A reader that meets input it cannot handle reports it instead of failing the scan, in words
    // of our own: an exception's text (a TypeError, a library's internals) never becomes a finding.
    context.report('damaged', `${reader.description} could not be read (${corruptionMessage(error)})`);
    context.partial();
    return { format: reader.id, result: undefined };
  }
}

function makeContext(shared: Shared, name: string, member: string | undefined, depth: number): ScanContext {
  return {
    ...(member === undefined && shared.outsideFolder ? { outsideFolder: shared.outsideFolder } : {}),
    policy: shared.policy,
    limits: shared.limits,
    depth,
    member,
    name,
    report(rule, message, details?: FindingDetails) {
      shared.findings.push(makeFinding(rule, message, member, details));
    },
    add(finding) {
      shared.findings.push(member === undefined ? finding : { ...finding, member });
    },
    partial() {
      shared.partial = true;
    },
    async nested(source, childName) {
      const childMember = joinMember(member, childName);
      if (depth + 1 > shared.limits.maxDepth) {
        shared.findings.push(
          makeFinding(
            'nestingLimit',
            `nesting deeper than ${shared.limits.maxDepth} levels is not scanned`,
            childMember,
          ),
        );
        shared.partial = true;
        return undefined;
      }
      const { result } = await scanMember(shared, source, childName, childMember, depth + 1);
      return result;
    },
  };
}
