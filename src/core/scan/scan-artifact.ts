import { describeError } from '../errors.js';
import { compareFindings, type FileReport, type Finding } from '../findings.js';
import type { ByteSource } from '../source.js';
import { makeFinding, type OutsideFolderCheck } from './context.js';
import { defaultLimits, type ScanLimits } from './limits.js';
import { GlobalPolicy } from './policy/global-policy.js';
import { scanSource } from './scan-source.js';

/** An opened artifact: its bytes, and how many of them have been read so far. */
export interface OpenedArtifact {
  source: ByteSource;
  bytesRead(): number;
  /** Files beside this one, for formats that reference them (ONNX external data). */
  outsideFolder?: OutsideFolderCheck;
  close(): Promise<void>;
}

/** A file to scan, as the file-system walk (or any other caller) hands it over. */
export interface ArtifactInput {
  /** Path as reported, relative to where the scan started. */
  path: string;
  size: number;
  /** Absent for paths the walk reports but does not read (a symlink out of the root). */
  open?: () => Promise<OpenedArtifact>;
  /** Findings the walk itself made about this path. */
  notes?: Finding[];
}

export interface ScanOptions {
  policy?: GlobalPolicy;
  limits?: ScanLimits;
}

/** File extensions of pickle-based model formats, for the "unrecognised model file" hint only. */
const modelExtensions =
  /\.(pkl|pickle|pt|pth|bin|ckpt|joblib|dill|npy|npz|h5|keras|safetensors|gguf|onnx|tar|zip|7z)$/i;

/** Scans one artifact. Content problems become findings; only a failure to read becomes status `error`. */
export async function scanArtifact(input: ArtifactInput, options: ScanOptions = {}): Promise<FileReport> {
  const policy = options.policy ?? new GlobalPolicy();
  const limits = options.limits ?? defaultLimits;
  const report: FileReport = {
    path: input.path,
    format: 'unknown',
    size: input.size,
    findings: [...(input.notes ?? [])],
    bytesRead: 0,
    status: 'complete',
  };
  if (!input.open) {
    report.format = 'not-followed';
    return report;
  }
  let opened: OpenedArtifact | undefined;
  try {
    opened = await input.open();
    const result = await scanSource(opened.source, input.path, {
      policy,
      limits,
      ...(opened.outsideFolder ? { outsideFolder: opened.outsideFolder } : {}),
    });
    report.format = result.format;
    report.findings.push(...result.findings);
    if (result.partial) report.status = 'partial';
    if (result.format === 'unknown' && modelExtensions.test(input.path)) {
      report.findings.push(
        makeFinding(
          'unrecognised',
          'the content matches no model format mlsec reads, so nothing in it was inspected',
          undefined,
        ),
      );
    }
  } catch (error) {
    report.status = 'error';
    report.findings.push(makeFinding('unreadable', `cannot be read: ${readFailure(error)}`, undefined));
  } finally {
    if (opened) {
      report.bytesRead = opened.bytesRead();
      await opened.close().catch(() => undefined);
    }
  }
  report.findings.sort(compareFindings);
  return report;
}

/**
 * Why a file could not be read: the operating system's message for a system error (permissions, a
 * vanished file), else a fixed text, so that no internal exception's message becomes a finding.
 */
function readFailure(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return describeError(error);
  return 'an internal error stopped the scan of this file';
}

/** Scans many artifacts, a few at a time, and returns the reports in input order. */
export async function scanArtifacts(
  inputs: AsyncIterable<ArtifactInput> | Iterable<ArtifactInput>,
  options: ScanOptions & { concurrency?: number; onReport?: (report: FileReport) => void } = {},
): Promise<FileReport[]> {
  const shared = { ...options, policy: options.policy ?? new GlobalPolicy() };
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const reports: FileReport[] = [];
  const running = new Set<Promise<void>>();
  let index = 0;
  for await (const input of inputs) {
    const slot = index++;
    const task = scanArtifact(input, shared).then((report) => {
      reports[slot] = report;
      options.onReport?.(report);
    });
    const tracked = task.finally(() => running.delete(tracked));
    running.add(tracked);
    if (running.size >= concurrency) await Promise.race(running);
  }
  await Promise.all(running);
  return reports;
}
