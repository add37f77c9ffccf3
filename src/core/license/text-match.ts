import { type ModelLicenseFingerprint, modelLicenseFingerprints } from './model-license-texts.js';

/** A licence text and its SPDX id: the corpus texts are matched against. */
export interface ReferenceText {
  id: string;
  text: string;
}

export interface TextMatch {
  /** The licence identified, when the similarity reaches the threshold. */
  id: string | undefined;
  /** 0..1: word-multiset similarity for SPDX texts, share of fingerprint phrases for model licences. */
  confidence: number;
  /** How the text was matched. */
  method: 'spdx-text' | 'model-license-fingerprint' | 'none';
  /** The closest licence when none reached the threshold. */
  nearest?: { id: string; confidence: number };
}

/** Below this, a text is "similar to", not "is", a licence: one changed clause in MIT is about 0.93. */
export const textMatchThreshold = 0.9;

/**
 * Canonical form for comparison: lower case, copyright lines and template placeholders gone,
 * punctuation and line breaks folded into single spaces, so reflowed or re-attributed copies of a
 * licence compare equal to the original.
 */
export function normalizeLicenseText(text: string): string {
  return text
    .toLowerCase()
    .split(/\r?\n/)
    .filter((line) => !/^\W*(copyright\b|\(c\)|©)/.test(line))
    .join(' ')
    .replace(/<[^<>\n]{1,80}>/g, ' ')
    .replace(/[‘’`´]/g, "'")
    .replace(/[“”]/g, '"')
    .replace(/[^a-z0-9.\-/]+/g, ' ')
    .replace(/(^| )[.\-/]+|[.\-/]+(?= |$)/g, '$1')
    .replace(/ +/g, ' ')
    .trim();
}

type Bag = Map<string, number>;

function bagOf(normalized: string): { bag: Bag; total: number } {
  const bag: Bag = new Map();
  let total = 0;
  for (const word of normalized.split(' ')) {
    if (word === '') continue;
    bag.set(word, (bag.get(word) ?? 0) + 1);
    total += 1;
  }
  return { bag, total };
}

/** Sørensen–Dice over word multisets: word order (and so reflowing) does not matter, word counts do. */
function dice(a: { bag: Bag; total: number }, b: { bag: Bag; total: number }): number {
  if (a.total === 0 || b.total === 0) return 0;
  let shared = 0;
  for (const [word, count] of a.bag) shared += Math.min(count, b.bag.get(word) ?? 0);
  return (2 * shared) / (a.total + b.total);
}

/**
 * Identifies licence texts. Built once per run; a reference text is normalized only when a text
 * of similar length is matched against it, so a run with one LICENSE does not prepare all 5 MB.
 */
export class LicenseTextMatcher {
  private readonly corpus: { id: string; text: string; prepared?: { bag: Bag; total: number } }[];
  private readonly fingerprints: readonly ModelLicenseFingerprint[];

  constructor(references: readonly ReferenceText[], fingerprints = modelLicenseFingerprints) {
    // Equal scores go to the first id in code-point order: GPL-2.0-only before GPL-2.0-or-later.
    this.corpus = [...references]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((ref) => ({ id: ref.id, text: ref.text }));
    this.fingerprints = fingerprints;
  }

  match(text: string): TextMatch {
    const normalized = normalizeLicenseText(text);
    const model = this.matchFingerprint(normalized);
    if (model) return model;
    const subject = bagOf(normalized);
    let best: { id: string; confidence: number } | undefined;
    for (const ref of this.corpus) {
      // Dice cannot exceed 2·min/(a+b): texts of a very different length cannot match.
      const ratio = ref.text.length / Math.max(1, text.length);
      if (ratio < 0.5 || ratio > 2) continue;
      ref.prepared ??= bagOf(normalizeLicenseText(ref.text));
      const bound = (2 * Math.min(ref.prepared.total, subject.total)) / (ref.prepared.total + subject.total);
      if (bound < (best?.confidence ?? 0.5)) continue;
      const score = dice(subject, ref.prepared);
      if (!best || score > best.confidence) best = { id: ref.id, confidence: score };
    }
    if (best && best.confidence >= textMatchThreshold) {
      return { id: best.id, confidence: round(best.confidence), method: 'spdx-text' };
    }
    const result: TextMatch = { id: undefined, confidence: 0, method: 'none' };
    if (best) result.nearest = { id: best.id, confidence: round(best.confidence) };
    return result;
  }

  private matchFingerprint(normalized: string): TextMatch | undefined {
    const padded = ` ${normalized} `;
    const has = (phrase: string) => padded.includes(` ${phrase} `);
    for (const print of this.fingerprints) {
      if (!print.title.some(has)) continue;
      const support = print.support.filter(has).length;
      if (support < print.minSupport) continue;
      const titles = print.title.filter(has).length;
      const confidence = (titles + support) / (print.title.length + print.support.length);
      return { id: print.id, confidence: round(confidence), method: 'model-license-fingerprint' };
    }
    return undefined;
  }
}

const round = (value: number) => Math.round(value * 1000) / 1000;
