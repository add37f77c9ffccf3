import type { Finding } from '../findings.js';
import { makeFinding } from '../scan/context.js';
import type { RuleKey } from '../scan/rules.js';
import type { MetadataLicense } from './artifact-metadata.js';
import { type ModelCard, parseModelCard } from './card.js';
import { categoryOf, type LicenseCategory, namedLicense, otherLicenseRef } from './catalog.js';
import { type LicenseExpression, normalizeDeclared, parseExpression } from './expression.js';
import type { LicenseTextMatcher } from './text-match.js';

/** One place that says something about the licence, read by the io layer (bounded) and passed in. */
export type LicenseSource =
  | { kind: 'card'; file: string; text: string; truncated: boolean }
  /** `optional`: a NOTICE file, which often holds attributions only; reported only when recognised. */
  | { kind: 'license-file'; file: string; text: string; truncated: boolean; optional?: boolean }
  | { kind: 'unreadable'; file: string; reason: string }
  | { kind: 'artifact-metadata'; file: string; metadata: MetadataLicense };

export interface LicenseDetection {
  source: 'card' | 'license-file' | 'artifact-metadata';
  file: string;
  /** The card key, metadata key, or `text` for a licence file. */
  field: string;
  /** What the source says: the declared value, or the first line of a licence text. */
  value: string;
  /** SPDX expression (ids may be `LicenseRef-`); absent when the licence could not be identified. */
  expression?: string;
  ids: string[];
  categories: LicenseCategory[];
  /** 0..1: 1 for a declared identifier, the similarity for a licence text. */
  confidence: number;
  method: 'declared' | 'spdx-text' | 'model-license-fingerprint' | 'none';
  line?: number;
}

/** A finding with the file it concerns (the evidence), or the model directory when there is none. */
export type LicenseFinding = Finding & { path: string };

/** What is known about the licence of one model directory (or single file). */
export interface LicenseReport {
  path: string;
  detections: LicenseDetection[];
  /** The licence the model is under as far as the sources tell; `AND` of them when they disagree. */
  concluded?: string;
  categories: LicenseCategory[];
  card?: ModelCard;
  findings: LicenseFinding[];
}

export function detectLicense(
  path: string,
  sources: readonly LicenseSource[],
  matcher: () => LicenseTextMatcher,
): LicenseReport {
  const report: LicenseReport = { path, detections: [], categories: [], findings: [] };
  const finding = (rule: RuleKey, file: string, message: string) =>
    report.findings.push({ ...makeFinding(rule, message, undefined), path: file });
  const pendingOther: LicenseDetection[] = [];

  for (const source of sources) {
    if (source.kind === 'unreadable') {
      finding('licenseSourceUnreadable', source.file, source.reason);
    } else if (source.kind === 'card') {
      const parsed = parseModelCard(source.text, source.truncated);
      if (parsed.kind === 'malformed') {
        const at = parsed.line === undefined ? '' : ` (line ${parsed.line})`;
        finding(
          'licenseSourceUnreadable',
          source.file,
          `model card front matter is not valid YAML${at}: ${parsed.message}; its licence was not read`,
        );
      } else if (parsed.kind === 'card') {
        report.card = parsed.card;
        for (const detection of cardDetections(source.file, parsed.card)) {
          if (detection.expression === undefined && detection.value === 'other') pendingOther.push(detection);
          else add(detection);
        }
      }
    } else if (source.kind === 'license-file') {
      const match = matcher().match(source.text);
      if (!match.id && source.optional) continue;
      const firstLine =
        source.text
          .split(/\r?\n/)
          .find((line) => line.trim() !== '')
          ?.trim() ?? '';
      const detection = build('license-file', source.file, 'text', firstLine.slice(0, 80), match.id, {
        confidence: match.confidence,
        method: match.method,
      });
      add(detection);
      if (!match.id) {
        const near = match.nearest
          ? `; closest is ${match.nearest.id} at ${match.nearest.confidence.toFixed(2)}`
          : '';
        finding('licenseUnidentified', source.file, `licence text is not one mlsec recognises${near}`);
      }
    } else {
      const { metadata } = source;
      if (metadata.problem) {
        finding(
          'licenseSourceUnreadable',
          source.file,
          `${metadata.format} metadata not fully read: ${metadata.problem}`,
        );
      }
      const declared = metadata.fields.filter((f) => !/(link|url)$/i.test(f.key));
      const values = declared.some((f) => !/name$/i.test(f.key))
        ? declared.filter((f) => !/name$/i.test(f.key))
        : declared;
      for (const field of values) {
        const id = normalizeDeclared(field.value)?.expression ?? namedLicense(field.value)?.id;
        add(build('artifact-metadata', source.file, field.key, field.value, id));
      }
    }
  }

  // `license: other` with no name mlsec knows: fine when a licence file says what it is.
  const fileIdentified = report.detections.some((d) => d.source === 'license-file' && d.expression);
  for (const detection of pendingOther) {
    add(detection);
    if (!fileIdentified) {
      finding(
        'licenseUnidentified',
        detection.file,
        'model card says license: other without a license_name mlsec knows, and no licence file identifies it',
      );
    }
  }
  report.detections.sort((a, b) => sourceRank(a) - sourceRank(b));
  conclude(report, finding);
  if (report.card) checkBaseModels(report, report.card, finding);
  return report;

  function add(detection: LicenseDetection) {
    report.detections.push(detection);
    if (
      detection.expression === undefined &&
      detection.source !== 'license-file' &&
      detection.value !== 'other'
    ) {
      finding(
        'licenseUnidentified',
        detection.file,
        `${describe(detection)} is neither a Hugging Face licence id nor an SPDX expression`,
      );
    }
  }
}

function cardDetections(file: string, card: ModelCard): LicenseDetection[] {
  const line = card.licenseLine;
  return card.license.map((value) => {
    let detection: LicenseDetection;
    if (value.toLowerCase() === 'other') {
      const name = card.licenseName;
      const known = name ? namedLicense(name) : undefined;
      if (known) detection = build('card', file, 'license_name', name!, known.id);
      else if (name) detection = build('card', file, 'license_name', name, otherLicenseRef(name));
      else detection = build('card', file, 'license', 'other', undefined);
    } else if (value.toLowerCase() === 'unknown') {
      detection = build('card', file, 'license', value, undefined);
    } else {
      detection = build('card', file, 'license', value, normalizeDeclared(value)?.expression);
    }
    if (line !== undefined) detection.line = line;
    return detection;
  });
}

function build(
  source: LicenseDetection['source'],
  file: string,
  field: string,
  value: string,
  expression: string | undefined,
  match: { confidence: number; method: LicenseDetection['method'] } = { confidence: 1, method: 'declared' },
): LicenseDetection {
  const parsed: LicenseExpression | undefined = expression ? parseExpression(expression) : undefined;
  const detection: LicenseDetection = {
    source,
    file,
    field,
    value,
    ids: parsed?.ids ?? [],
    categories: parsed ? unique(parsed.ids.map(categoryOf)) : ['unknown'],
    confidence: parsed ? match.confidence : 0,
    method: parsed ? match.method : 'none',
  };
  if (parsed) detection.expression = parsed.expression;
  return detection;
}

export function describe(detection: LicenseDetection): string {
  const where = detection.source === 'card' ? `${detection.file} front matter` : detection.file;
  if (detection.source === 'license-file') return `licence text in ${detection.file}`;
  return `${where} ${detection.field}: ${JSON.stringify(detection.value)}`;
}

/** Agreement check and the concluded licence. Sources agree when they name at least one id in common. */
function conclude(report: LicenseReport, finding: (rule: RuleKey, file: string, message: string) => void) {
  const identified = report.detections.filter((d) => d.expression !== undefined);
  const groups: LicenseDetection[][] = [];
  for (const detection of identified) {
    const group = groups.find((g) => g.some((d) => d.ids.some((id) => detection.ids.includes(id))));
    if (group) group.push(detection);
    else groups.push([detection]);
  }
  const representative = (group: LicenseDetection[]) =>
    [...group].sort((a, b) => sourceRank(a) - sourceRank(b) || b.confidence - a.confidence)[0]!;
  const chosen = groups.map(representative).sort((a, b) => sourceRank(a) - sourceRank(b));
  if (chosen.length === 1) report.concluded = chosen[0]!.expression!;
  else if (chosen.length > 1) {
    const parts = [...new Set(chosen.map((d) => d.expression!))];
    report.concluded = parts.map((p) => (/ (AND|OR) /.test(p) ? `(${p})` : p)).join(' AND ');
    const said = chosen.map((d) => `${describe(d)} is ${d.expression}`).join('; ');
    finding('licenseConflict', chosen[1]!.file, `licence sources disagree: ${said}`);
  }
  report.categories = unique(
    report.concluded ? (parseExpression(report.concluded)?.ids ?? []).map(categoryOf) : [],
  );
}

/** The card is what the publisher declares; a licence file next, metadata last. */
function sourceRank(detection: LicenseDetection): number {
  return { card: 0, 'license-file': 1, 'artifact-metadata': 2 }[detection.source];
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}

/** Base models whose licence passes to derivatives, by their official Hub repositories. */
const baseModelLicenses: [RegExp, string][] = [
  [/^meta-llama\/.*llama-?3\.1/i, 'llama3.1'],
  [/^meta-llama\/.*llama-?3\.2/i, 'llama3.2'],
  [/^meta-llama\/.*llama-?3\.3/i, 'llama3.3'],
  [/^meta-llama\/.*llama-?4/i, 'llama4'],
  [/^meta-llama\/.*llama-?3/i, 'llama3'],
  [/^meta-llama\/.*llama-?2/i, 'llama2'],
  [/^google\/[\w-]*gemma/i, 'gemma'],
];

function checkBaseModels(
  report: LicenseReport,
  card: ModelCard,
  finding: (rule: RuleKey, file: string, message: string) => void,
) {
  const declared = new Set(report.detections.flatMap((d) => d.ids));
  const cardFile = report.detections.find((d) => d.source === 'card')?.file ?? report.path;
  for (const base of card.baseModels) {
    const hubId = baseModelLicenses.find(([pattern]) => pattern.test(base))?.[1];
    const inherited = hubId ? normalizeDeclared(hubId)?.expression : undefined;
    if (!inherited || declared.has(inherited)) continue;
    const says = report.concluded
      ? `the model declares ${report.concluded}`
      : 'the model declares no licence';
    finding(
      'licenseInherited',
      cardFile,
      `base model ${base} is under ${inherited}, whose terms bind derivatives; ${says}`,
    );
  }
}
