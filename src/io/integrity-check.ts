import { basename, relative, resolve, sep } from 'node:path';
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
import type { WalkEntry } from './walk.js';

/**
 * Integrity checks that ride along a scan: checksum files met in scanned directories
 * (SHA256SUMS, `*.sha256` sidecars) and any given with --checksums are verified against the files.
 */
export class IntegrityCheck {
  private readonly files: string[] = [];
  private readonly display = new Map<string, string>();
  private readonly pending: Promise<ChecksumList | undefined>[] = [];
  readonly warnings: string[] = [];

  private constructor(private readonly cwd: string) {}

  /** Reads the lists named on the command line first, so a wrong name fails before any scanning. */
  static async create(cwd: string, explicit: readonly string[]): Promise<IntegrityCheck> {
    const check = new IntegrityCheck(cwd);
    for (const path of explicit) {
      const list = await readChecksumList(resolve(cwd, path), cwd, path, false);
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
            this.quietly(readChecksumList(absolute, resolve(absolute, '..'), entry.path, true)),
          );
        } else if (isSidecar(name)) {
          this.pending.push(this.quietly(readSidecar(absolute, entry.path)));
        }
      }
      yield entry;
    }
  }

  /** Findings per reported path, once the walk is done. */
  async findings(): Promise<Map<string, Finding[]>> {
    const out = new Map<string, Finding[]>();
    for (const list of await Promise.all(this.pending)) {
      if (!list) continue;
      const report = await checkList(list, this.files);
      const shown = (name: string) => {
        const absolute = resolve(list.base, name);
        return this.display.get(absolute) ?? relative(this.cwd, absolute).split(sep).join('/');
      };
      for (const [path, findings] of integrityFindings(report, list.label, shown)) {
        out.set(path, [...(out.get(path) ?? []), ...findings]);
      }
    }
    return out;
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
