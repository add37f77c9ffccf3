import { atLeast, type Finding } from '../../src/core/findings.js';
import { GlobalPolicy, isIdentifierPath } from '../../src/core/scan/policy/global-policy.js';
import type { OracleEvent, OracleModeName, OracleResult } from './oracle.js';

const policy = new GlobalPolicy();
const fileModes: OracleModeName[] = ['peek', 'file', 'readonly', 'python'];

/** What CPython's readers did that a scanner must block, and whether the input was plainly benign. */
export interface Expectation {
  /** Dangerous globals some reader imported: each must be named by a finding at high or above. */
  dangerousGlobals: Set<string>;
  /** Things some reader did that only a hostile pickle does (calls on load-time values...). */
  hostile: string[];
  /** Every reader loaded the whole input without an error, they all did the same, and nothing was hostile. */
  benign: boolean;
}

export function expectationOf(oracle: OracleResult): Expectation {
  const dangerousGlobals = new Set<string>();
  const hostile: string[] = [];
  let unresolvable = false;
  for (const [mode, result] of Object.entries(oracle.modes)) {
    for (const event of result.events) {
      if (event.ev === 'import' && !(isIdentifierPath(event.module) && isIdentifierPath(event.name))) {
        unresolvable = true;
      }
      const why = judgeEvent(event, dangerousGlobals);
      if (why) hostile.push(`${mode}: ${why}`);
    }
  }
  const all = Object.values(oracle.modes);
  // Readers that load different numbers of pickles read different programs, even when each is benign.
  const signature = (name: OracleModeName) =>
    JSON.stringify([oracle.modes[name].events, oracle.modes[name].streams]);
  const agree = fileModes.every((mode) => signature(mode) === signature('peek'));
  const benign =
    !oracle.timedOut &&
    all.every((mode) => mode.error === null) &&
    agree &&
    !unresolvable &&
    dangerousGlobals.size === 0 &&
    hostile.length === 0;
  return { dangerousGlobals, hostile, benign };
}

function judgeEvent(event: OracleEvent, dangerous: Set<string>): string | undefined {
  switch (event.ev) {
    case 'import': {
      // A name that is no Python name resolves to nothing: the import fails with AttributeError.
      // mlsec may still judge it by its module; such an input is neither benign nor a must-report.
      if (!isIdentifierPath(event.module) || !isIdentifierPath(event.name)) return undefined;
      const verdict = policy.classify(event.module, event.name);
      if (verdict.verdict === 'dangerous' && !verdict.trustedLoader)
        dangerous.add(`${event.module}.${event.name}`);
      return undefined;
    }
    case 'call':
      if (!('result' in event.fn)) return undefined;
      // APPEND(S), ADDITEMS and SETITEM(S) on an object call its own methods, and NEWOBJ_EX
      // spreads its keyword arguments through keys() and __getitem__: ordinary containers.
      if (/\.(append|extend|add|keys|__getitem__)$/.test(event.fn.result)) return undefined;
      return `calls ${event.fn.result}, a value built while loading`;
    case 'setstate':
      // A global that is no Python name is never imported: the load stops with ModuleNotFoundError.
      if (event.kind === 'global')
        return isIdentifierPath(event.on) ? `BUILD on the global ${event.on}` : undefined;
      if (/^persid|^__oracle_ext__/.test(event.on)) return `BUILD on ${event.on}`;
      return event.dunders.length > 0 ? `BUILD writes ${event.dunders.join(', ')}` : undefined;
    case 'setattr':
      if (/\(\)/.test(event.on) || !isIdentifierPath(event.on)) return undefined;
      return `sets ${event.name} on the global ${event.on}`;
    case 'ext':
      return `extension code ${event.code}`;
    default:
      return undefined;
  }
}

export interface Disagreement {
  kind: 'missed-global' | 'missed-hostile' | 'false-alarm';
  detail: string;
}

/** Compares mlsec's findings for an input with what CPython's readers did with it. */
export function judge(oracle: OracleResult, findings: readonly Finding[]): Disagreement[] {
  if (oracle.timedOut) return [];
  const expectation = expectationOf(oracle);
  const blocking = findings.filter((f) => atLeast(f.severity, 'high'));
  const out: Disagreement[] = [];
  const named = new Set(blocking.map((f) => f.global));
  for (const global of expectation.dangerousGlobals) {
    if (!named.has(global)) out.push({ kind: 'missed-global', detail: global });
  }
  if (expectation.hostile.length > 0 && blocking.length === 0) {
    out.push({ kind: 'missed-hostile', detail: expectation.hostile.slice(0, 3).join('; ') });
  }
  // Nested pickles (bytes handed to a loader) are scanned by design; the oracle does not load them.
  const own = blocking.filter((f) => !f.member?.includes('pickle@'));
  if (expectation.benign && own.length > 0) {
    out.push({
      kind: 'false-alarm',
      detail: own.map((f) => `${f.rule} ${f.global ?? ''} ${f.message}`).join('; '),
    });
  }
  return out;
}
