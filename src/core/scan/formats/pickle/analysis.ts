import { atLeast, type Finding } from '../../../findings.js';
import {
  type GlobalClassification,
  type GlobalPolicy,
  isIdentifierPath,
} from '../../policy/global-policy.js';
import { type RuleKey, rules } from '../../rules.js';

interface GlobalRecord {
  module: string;
  name: string;
  classification: GlobalClassification;
  importOffset: number;
  imports: number;
  callOffset: number | undefined;
  calls: number;
  /** A trusted loader whose nested bytes were all inspected. */
  nestedInspected: boolean;
}

export interface NestedPayload {
  data: Uint8Array;
  offset: number;
  /** The loader it is passed to, when known. */
  loader: string | undefined;
}

/**
 * Collects what the pickle machine saw in one member (all its streams) and turns it into
 * findings, one per rule and global, so a checkpoint with ten thousand tensors stays readable.
 */
export class PickleAnalysis {
  readonly nested: NestedPayload[] = [];
  readonly storageKeys = new Set<string>();
  private readonly globals = new Map<string, GlobalRecord>();
  private readonly other = new Map<string, Finding>();
  private nestedBytes = 0;

  constructor(
    private readonly policy: GlobalPolicy,
    private readonly limits: { maxNestedBytes: number; maxStorageKeys: number },
  ) {}

  importGlobal(module: string, name: string, offset: number): GlobalClassification {
    const key = `${module}\n${name}`;
    let record = this.globals.get(key);
    if (!record) {
      record = {
        module,
        name,
        classification: this.policy.classify(module, name),
        importOffset: offset,
        imports: 0,
        callOffset: undefined,
        calls: 0,
        nestedInspected: false,
      };
      this.globals.set(key, record);
    }
    record.imports += 1;
    return record.classification;
  }

  callGlobal(module: string, name: string, offset: number): GlobalClassification {
    const record = this.globals.get(`${module}\n${name}`);
    if (!record) return this.importGlobal(module, name, offset);
    record.calls += 1;
    record.callOffset ??= offset;
    return record.classification;
  }

  /** A trusted loader was called on bytes that were all queued for inspection. */
  markNestedInspected(module: string, name: string): void {
    const record = this.globals.get(`${module}\n${name}`);
    if (record) record.nestedInspected = true;
  }

  report(rule: RuleKey, message: string, offset: number | undefined, global?: string): void {
    const key = `${rule}\n${global ?? ''}\n${global ? '' : message}`;
    const existing = this.other.get(key);
    if (existing) {
      existing.count = (existing.count ?? 1) + 1;
      return;
    }
    const finding: Finding = { rule: rules[rule].id, severity: rules[rule].severity, message };
    if (offset !== undefined) finding.offset = offset;
    if (global !== undefined) finding.global = global;
    this.other.set(key, finding);
  }

  /**
   * Takes in what blocks in a stream found at an arbitrary offset `shift` bytes further on: such
   * bytes name junk modules more often than not ("h._utils" from inside "torch._utils").
   */
  absorbBlocking(other: PickleAnalysis, shift: number): void {
    for (const [key, record] of other.globals) {
      if (record.classification.verdict !== 'dangerous') continue;
      if (!isIdentifierPath(record.module) || !isIdentifierPath(record.name)) continue;
      const mine = this.globals.get(key);
      const moved = {
        ...record,
        importOffset: record.importOffset + shift,
        callOffset: record.callOffset === undefined ? undefined : record.callOffset + shift,
      };
      if (!mine) this.globals.set(key, moved);
      else {
        mine.imports += record.imports;
        mine.calls += record.calls;
        mine.callOffset ??= moved.callOffset;
      }
    }
    for (const [key, finding] of other.other) {
      if (this.other.has(key) || !atLeast(finding.severity, 'high')) continue;
      this.other.set(
        key,
        finding.offset === undefined ? finding : { ...finding, offset: finding.offset + shift },
      );
    }
    for (const payload of other.nested) this.nested.push({ ...payload, offset: payload.offset + shift });
  }

  queueNested(data: Uint8Array, offset: number, loader: string | undefined): boolean {
    if (this.nestedBytes + data.length > this.limits.maxNestedBytes) return false;
    this.nestedBytes += data.length;
    this.nested.push({ data: data.slice(), offset, loader });
    return true;
  }

  addStorageKey(key: string): void {
    if (this.storageKeys.size < this.limits.maxStorageKeys) this.storageKeys.add(key);
  }

  get sawImports(): boolean {
    return this.globals.size > 0;
  }

  findings(): Finding[] {
    const out: Finding[] = [];
    for (const record of this.globals.values()) {
      const finding = this.globalFinding(record);
      if (finding) out.push(finding);
    }
    out.push(...this.other.values());
    return out;
  }

  private globalFinding(record: GlobalRecord): Finding | undefined {
    const { classification: c, module, name } = record;
    const global = `${module}.${name}`;
    const called = record.calls > 0;
    const count = record.imports;
    if (c.verdict === 'safe') return undefined;
    if (c.trustedLoader && record.nestedInspected) return undefined;
    if (c.verdict === 'dangerous') {
      const rule = called ? rules.dangerousCall : rules.dangerousImport;
      const verb = called ? 'calls' : 'imports';
      return withCount(
        {
          rule: rule.id,
          severity: rule.severity,
          message: `${verb} ${global} (${c.reason})`,
          offset: called ? record.callOffset! : record.importOffset,
          global,
        },
        count,
      );
    }
    const verb = called ? 'calls' : 'imports';
    return withCount(
      {
        rule: rules.unknownGlobal.id,
        severity: rules.unknownGlobal.severity,
        message: `${verb} ${global}, which is not on the allowlist (${c.reason})`,
        offset: record.importOffset,
        global,
      },
      count,
    );
  }
}

function withCount(finding: Finding, count: number): Finding {
  if (count > 1) finding.count = count;
  return finding;
}
