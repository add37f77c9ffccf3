import picomatch from 'picomatch';
import { MlsecError } from '../errors.js';
import { makeFinding } from '../scan/context.js';
import type { RuleKey } from '../scan/rules.js';
import { categoryOf, type LicenseCategory } from './catalog.js';
import { describe, type LicenseDetection, type LicenseFinding, type LicenseReport } from './detect.js';
import { type LicenseTree, normalizeDeclared, parseExpression } from './expression.js';

export type CategoryRule = 'allow' | 'deny' | 'review';

/** The `license:` section of .mlsec.yaml, as written (ids may be Hub ids or SPDX). */
export interface LicensePolicyConfig {
  require: boolean;
  allow: string[];
  deny: string[];
  categories: Partial<Record<LicenseCategory, CategoryRule>>;
  exceptions: LicenseException[];
}

export interface LicenseException {
  /** Glob over the model directory or the evidence file, relative to where mlsec runs. */
  path: string;
  /** Only this licence is excepted; any licence when absent. */
  license?: string;
  reason: string;
  /** `YYYY-MM-DD`: the exception no longer applies from this day (UTC) on. */
  expires: string;
}

export interface LicensePolicy {
  require: boolean;
  allow: Set<string>;
  deny: Set<string>;
  categories: Partial<Record<LicenseCategory, CategoryRule>>;
  exceptions: (LicenseException & { matches: (path: string) => boolean; ids: string[] | undefined })[];
  /** With an allow list (or an allowed category), anything not allowed is a violation. */
  restrictive: boolean;
}

/**
 * Resolves ids in the config; an id that is neither a Hub id nor SPDX is a config error, not a
 * silent miss. `lines` gives the line of each key path in the file `where` names, for the message.
 */
export function compileLicensePolicy(
  config: LicensePolicyConfig,
  where: string,
  lines: Readonly<Record<string, number>> = {},
): LicensePolicy {
  const ids = (value: string, key: string, at = key): string[] => {
    const parsed = normalizeDeclared(value);
    if (!parsed) {
      const line = lines[at] ?? lines[key];
      throw new MlsecError(
        'CONFIG_INVALID',
        `${where}${line ? `:${line}` : ''}: ${key}: ${JSON.stringify(value)} is not a Hugging Face licence id, SPDX id or LicenseRef-`,
      );
    }
    return parsed.ids.map((id) => id.toLowerCase());
  };
  const set = (values: string[], key: string) =>
    new Set(values.flatMap((value, index) => ids(value, key, `${key}[${index}]`)));
  return {
    require: config.require,
    allow: set(config.allow, 'license.allow'),
    deny: set(config.deny, 'license.deny'),
    categories: config.categories,
    exceptions: config.exceptions.map((exception, index) => ({
      ...exception,
      matches: picomatch(exception.path, { dot: true }),
      ids: exception.license ? ids(exception.license, `license.exceptions[${index}].license`) : undefined,
    })),
    restrictive: config.allow.length > 0 || Object.values(config.categories).includes('allow'),
  };
}

type Verdict = 'allow' | 'neutral' | 'review' | 'not-allowed' | 'deny';
const rank: Record<Verdict, number> = { allow: 0, neutral: 1, review: 2, 'not-allowed': 3, deny: 4 };

interface Outcome {
  verdict: Verdict;
  /** The id that decided it and why. */
  id: string;
  reason: string;
}

function judgeId(id: string, category: LicenseCategory, policy: LicensePolicy): Outcome {
  const key = id.toLowerCase();
  if (policy.deny.has(key)) return { verdict: 'deny', id, reason: 'on the deny list' };
  const rule = policy.categories[category];
  if (rule === 'deny') return { verdict: 'deny', id, reason: `category ${category} is denied` };
  if (policy.allow.has(key)) return { verdict: 'allow', id, reason: 'on the allow list' };
  if (rule === 'allow') return { verdict: 'allow', id, reason: `category ${category} is allowed` };
  if (rule === 'review') return { verdict: 'review', id, reason: `category ${category} needs review` };
  if (policy.restrictive) return { verdict: 'not-allowed', id, reason: 'not on the allow list' };
  return { verdict: 'neutral', id, reason: 'no rule' };
}

/** OR: the best branch decides (the licensee may choose it); AND: the worst (all terms apply). */
function judgeTree(tree: LicenseTree, policy: LicensePolicy): Outcome {
  if ('license' in tree) return judgeId(tree.license, categoryOf(tree.license), policy);
  const left = judgeTree(tree.left, policy);
  const right = judgeTree(tree.right, policy);
  const pickLeft =
    tree.conjunction === 'or'
      ? rank[left.verdict] <= rank[right.verdict]
      : rank[left.verdict] >= rank[right.verdict];
  return pickLeft ? left : right;
}

const violation: Partial<Record<Verdict, RuleKey>> = {
  deny: 'licenseDenied',
  'not-allowed': 'licenseNotAllowed',
  review: 'licenseReview',
};

/**
 * The policy's findings for one report. Every source is judged on its own, so a denied licence
 * in a LICENSE file is caught even when the card says something harmless.
 */
export function evaluateLicensePolicy(
  report: LicenseReport,
  policy: LicensePolicy,
  now: Date,
): LicenseFinding[] {
  const findings: LicenseFinding[] = [];
  const emit = (rule: RuleKey, path: string, message: string, licenseIds: string[]) => {
    const exception = policy.exceptions.find(
      (e) =>
        (e.matches(report.path) || e.matches(path)) &&
        (e.ids === undefined || licenseIds.some((id) => e.ids!.includes(id.toLowerCase()))),
    );
    if (exception && rule !== 'licenseReview') {
      const expired = now.getTime() >= Date.parse(`${exception.expires}T00:00:00Z`);
      if (!expired) {
        const text = `${message}; excepted until ${exception.expires}: ${exception.reason}`;
        findings.push({ ...makeFinding('licenseExcepted', text, undefined), path });
        return;
      }
      const text = `exception for ${exception.path} expired on ${exception.expires} (${exception.reason})`;
      findings.push({ ...makeFinding('licenseExceptionExpired', text, undefined), path });
    }
    findings.push({ ...makeFinding(rule, message, undefined), path });
  };

  const identified = report.detections.filter((d) => d.expression !== undefined);
  if (report.detections.length === 0 && policy.require) {
    emit(
      'licenseMissing',
      report.path,
      'no licence found in a model card, licence file or artifact metadata',
      [],
    );
  }
  const seen = new Map<string, LicenseDetection[]>();
  for (const detection of identified) {
    const list = seen.get(detection.expression!) ?? [];
    list.push(detection);
    seen.set(detection.expression!, list);
  }
  for (const [expression, detections] of seen) {
    const parsed = parseExpression(expression)!;
    const outcome = judgeTree(parsed.tree, policy);
    const rule = violation[outcome.verdict];
    if (!rule) continue;
    const evidence = detections.map(describe).join(', ');
    const subject = outcome.id === expression ? expression : `${outcome.id} in ${expression}`;
    const verb = { deny: 'is denied', 'not-allowed': 'is not allowed', review: 'needs review' }[
      outcome.verdict as 'deny' | 'not-allowed' | 'review'
    ];
    emit(
      rule,
      detections[0]!.file,
      `${subject} (${categoryOf(outcome.id)}) ${verb}: ${outcome.reason}; declared by ${evidence}`,
      parsed.ids,
    );
  }
  // Declared but unidentified licences are judged as the `unknown` category.
  for (const detection of report.detections.filter((d) => d.expression === undefined)) {
    const outcome = judgeId('unknown', 'unknown', { ...policy, allow: new Set(), deny: new Set() });
    const rule = violation[outcome.verdict];
    if (!rule) continue;
    const verb =
      outcome.verdict === 'review'
        ? 'needs review'
        : outcome.verdict === 'deny'
          ? 'is denied'
          : 'is not allowed';
    emit(
      rule,
      detection.file,
      `unidentified licence (unknown) ${verb}: ${outcome.reason}; declared by ${describe(detection)}`,
      [],
    );
  }
  return findings;
}
