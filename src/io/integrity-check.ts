import { stat } from 'node:fs/promises';
import { basename, dirname, relative, resolve, sep } from 'node:path';
import { describeError } from '../core/errors.js';
import type { Finding } from '../core/findings.js';
import { integrityFindings } from '../core/scan/integrity.js';
import {
  type ChecksumList,
  checkList,
  isChecksumList,
  isSidecar,
  readChecksumList,
  readSidecar,
} from './checksum-lists.js';
import { HashPool } from './hash-pool.js';
import { checkAgainstSignature, isSignatureFile } from './signature-integrity.js';
import type { WalkEntry } from './walk.js';

/**
 * Integrity checks that ride along a scan: checksum files met in scanned directories
 * (SHA256SUMS, `*.sha256` sidecars) and any given with --checksums are verified against the files.
 */
export class IntegrityCheck {
  private readonly files: string[] = [];
  private readonly display = new Map<string, string>();
  private readonly pending: Promise<ChecksumList | undefined>[] = [];
  private readonly signatures: { path: string; label: string }[] = [];
  readonly warnings: string[] = [];

  private constructor(private readonly cwd: string) {}

  /**
   * Reads the lists named on the command line first, so a wrong name fails before any scanning.
   * Names in a sha256sum-style list start from `cwd`; those of a model manifest from the one scanned
   * directory when there is exactly one, else from the manifest's own directory.
   */
  static async create(
    cwd: string,
    explicit: readonly string[],
    scanned: readonly string[],
  ): Promise<IntegrityCheck> {
    const check = new IntegrityCheck(cwd);
    for (const path of explicit) {
      const absolute = resolve(cwd, path);
      const root = scanned.length === 1 ? resolve(cwd, scanned[0]!) : undefined;
      const isDir = root !== undefined && (await stat(root).catch(() => undefined))?.isDirectory();
      const manifestRoot = isDir ? root : dirname(absolute);
      const list = await readChecksumList(
        absolute,
        { base: cwd, coversDirectory: false, manifestRoot },
        path,
      );
      check.pending.push(Promise.resolve(list));
    }
    return check;
  }

  /** Passes the walk through, noting every file and every checksum list it meets. */
  async *tap(entries: AsyncIterable<WalkEntry>): AsyncIterable<WalkEntry> {
    for await (const entry of entries) {
      if (entry.kind === 'file') {
        const absolute = resolve(entry.absolute);
        this.files.push(absolute);
        this.display.set(absolute, entry.path);
        const name = basename(absolute);
        if (isChecksumList(name)) {
          this.pending.push(
            this.quietly(
              readChecksumList(
                absolute,
                { base: dirname(absolute), coversDirectory: true, manifestRoot: dirname(absolute) },
                entry.path,
              ),
            ),
          );
        } else if (isSidecar(name)) {
          this.pending.push(this.quietly(readSidecar(absolute, entry.path)));
        } else if (isSignatureFile(name)) {
          this.signatures.push({ path: absolute, label: entry.path });
        }
      }
      yield entry;
    }
  }

  /** Findings per reported path, once the walk is done. */
  async findings(): Promise<Map<string, Finding[]>> {
    const out = new Map<string, Finding[]>();
    const lists = (await Promise.all(this.pending)).filter((list) => list !== undefined);
    if (lists.length === 0 && this.signatures.length === 0) return out;
    const pool = new HashPool();
    try {
      for (const list of lists) await this.#check(list, pool, out);
      for (const { path, label } of this.signatures) {
        const shown = (name: string) => this.#shown(resolve(path, '..', name));
        merge(out, await checkAgainstSignature(path, label, shown, pool));
      }
    } finally {
      await pool.close();
    }
    return out;
  }

  async #check(list: ChecksumList, pool: HashPool, out: Map<string, Finding[]>): Promise<void> {
    const report = await checkList(list, this.files, pool);
    merge(
      out,
      integrityFindings(report, list.label, (name) => this.#shown(resolve(list.base, name))),
    );
  }

  /** The path reports use for a file: the walk's, or one relative to the working directory. */
  #shown(absolute: string): string {
    return this.display.get(absolute) ?? relative(this.cwd, absolute).split(sep).join('/');
  }

  private async quietly(list: Promise<ChecksumList | undefined>): Promise<ChecksumList | undefined> {
    try {
      return await list;
    } catch (error) {
      this.warnings.push(describeError(error));
      return undefined;
    }
  }
}

function merge(out: Map<string, Finding[]>, more: Map<string, Finding[]>): void {
  for (const [path, findings] of more) out.set(path, [...(out.get(path) ?? []), ...findings]);
}
