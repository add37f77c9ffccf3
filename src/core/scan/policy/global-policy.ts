import {
  dangerousAttributes,
  dangerousModules,
  type GlobalRule,
  nestedLoaders,
  python2Modules,
  python2Names,
  reviewedModules,
  safeGlobals,
  trustedNestedLoaders,
} from './default-globals.js';

export type GlobalVerdict = 'safe' | 'dangerous' | 'unknown';

export interface GlobalClassification {
  verdict: GlobalVerdict;
  reason: string;
  /** Unpickles or loads its argument, so bytes passed to it are scanned too. */
  nestedLoader: boolean;
  /** A loader real checkpoints use; its verdict follows the nested bytes. */
  trustedLoader: boolean;
}

/** User additions from `.mlsec.yaml` or flags, in the same pattern syntax as the built-in lists. */
export interface GlobalPolicyOptions {
  allow?: readonly string[];
  deny?: readonly string[];
}

interface CompiledRule {
  exact?: string;
  prefix?: string;
  classes: boolean;
  reason: string;
}

function compile(rule: GlobalRule): CompiledRule {
  const classes = rule.classes ?? false;
  if (rule.pattern.endsWith('.*')) return { prefix: rule.pattern.slice(0, -1), classes, reason: rule.reason };
  return { exact: rule.pattern, classes, reason: rule.reason };
}

const classNamePattern = /^_*[A-Z]/;

function matches(rule: CompiledRule, path: string, exactIndex?: boolean): boolean {
  if (rule.classes) {
    const last = path.slice(path.lastIndexOf('.') + 1);
    if (!classNamePattern.test(last)) return false;
  }
  if (rule.exact !== undefined) return exactIndex === true || path === rule.exact;
  return path.startsWith(rule.prefix!);
}

/** A rule set with an index for the exact entries, which are most of them. */
class RuleSet {
  private readonly exact = new Map<string, CompiledRule>();
  private readonly others: CompiledRule[] = [];

  constructor(rules: readonly GlobalRule[]) {
    for (const rule of rules.map(compile)) {
      if (rule.exact !== undefined && !rule.classes) this.exact.set(rule.exact, rule);
      else this.others.push(rule);
    }
  }

  /** Matches `path` itself or any dotted prefix of it when `prefixes` is set (module rules). */
  find(path: string, prefixes = false): CompiledRule | undefined {
    const direct = this.exact.get(path);
    if (direct) return direct;
    if (prefixes) {
      for (let cut = path.lastIndexOf('.'); cut > 0; cut = path.lastIndexOf('.', cut - 1)) {
        const hit = this.exact.get(path.slice(0, cut));
        if (hit) return hit;
      }
    }
    return this.others.find((rule) => matches(rule, path));
  }
}

/** The reason of an unknown global no rule names (the reviewed ones carry their own). */
export const unreviewedReason = 'no rule names it: a user class, or a module not yet reviewed';

const userRule = (pattern: string, reason: string): GlobalRule => ({ pattern, reason });

/**
 * Classifies the globals a pickle imports: allowlist by default, so anything not known to be
 * safe is at least `unknown`. Pure data in, verdict out; one instance serves a whole scan.
 */
export class GlobalPolicy {
  private readonly userDeny: RuleSet;
  private readonly userAllow: RuleSet;
  private readonly safe = new RuleSet(safeGlobals);
  private readonly dangerous = new RuleSet(dangerousModules);
  private readonly reviewed = new RuleSet(reviewedModules);
  private readonly loaders = new Set(nestedLoaders);
  private readonly trustedLoaders = new Set(trustedNestedLoaders);
  private readonly dangerousNames = new Set([
    ...dangerousModules.map((rule) => rule.pattern.split('.')[0]!),
    ...dangerousAttributes,
  ]);
  private readonly cache = new Map<string, GlobalClassification>();

  constructor(options: GlobalPolicyOptions = {}) {
    this.userDeny = new RuleSet((options.deny ?? []).map((p) => userRule(p, 'denied by configuration')));
    this.userAllow = new RuleSet((options.allow ?? []).map((p) => userRule(p, 'allowed by configuration')));
  }

  classify(module: string, name: string): GlobalClassification {
    const key = `${module}\n${name}`;
    let result = this.cache.get(key);
    if (!result) {
      result = this.compute(module, name);
      this.cache.set(key, result);
    }
    return result;
  }

  private compute(module: string, name: string): GlobalClassification {
    const paths = spellings(module, name);
    const loader = paths.some((p) => this.loaders.has(p));
    const trusted = paths.some((p) => this.trustedLoaders.has(p));
    const verdict = (v: GlobalVerdict, reason: string): GlobalClassification => ({
      verdict: v,
      reason,
      nestedLoader: loader,
      trustedLoader: trusted && v !== 'safe',
    });

    for (const path of paths) {
      const denied = this.userDeny.find(path, true);
      if (denied) return verdict('dangerous', denied.reason);
    }
    for (const path of paths) {
      if (this.userAllow.find(path, true)) return verdict('safe', 'allowed by configuration');
    }
    const walk = this.attributeWalk(name);
    if (walk) return verdict('dangerous', walk);
    if (trusted) return verdict('unknown', 'loads nested serialized data');
    for (const path of paths) {
      const safe = this.safe.find(path);
      if (safe) return verdict('safe', safe.reason);
    }
    for (const path of paths) {
      const hit = this.dangerous.find(path, true);
      if (hit) return verdict('dangerous', hit.reason);
    }
    if (loader) return verdict('dangerous', 'loads nested serialized data');
    for (const path of paths) {
      const hit = this.reviewed.find(path, true);
      if (hit) return verdict('unknown', hit.reason);
    }
    if (!isIdentifierPath(module) || !isIdentifierPath(name)) {
      return verdict('unknown', 'not a valid Python name');
    }
    return verdict('unknown', unreviewedReason);
  }

  /** A dotted name makes CPython walk attributes from the module (`torch.serialization` + `os.system`). */
  private attributeWalk(name: string): string | undefined {
    const parts = name.split('.');
    if (parts.length < 2) return undefined;
    const bad = parts.find((part) => this.dangerousNames.has(part));
    return bad ? `walks attributes through '${bad}'` : undefined;
  }
}

/** Every spelling CPython may resolve: as written, and mapped from Python 2 names. */
function spellings(module: string, name: string): string[] {
  const written = `${module}.${name}`;
  const out = [written];
  const renamed = python2Names[written];
  if (renamed) out.push(renamed);
  const mappedModule = python2Modules[module];
  if (mappedModule) out.push(`${mappedModule}.${name}`);
  return out;
}

const identifierPath = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

export function isIdentifierPath(text: string): boolean {
  return identifierPath.test(text);
}
