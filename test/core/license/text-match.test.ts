import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spdxReferenceTexts } from '../../../src/core/license/spdx-texts.js';
import { LicenseTextMatcher, normalizeLicenseText } from '../../../src/core/license/text-match.js';

const texts = join(import.meta.dirname, '../../../fixtures/license/texts');
const read = (name: string) => readFileSync(join(texts, name), 'utf8');
const matcher = new LicenseTextMatcher(spdxReferenceTexts());

describe('licence text identification', () => {
  // [fixture, id, method, confidence of original, reflowed, edited]
  const cases: [string, string, string, number, number, number][] = [
    ['Apache-2.0', 'Apache-2.0', 'spdx-text', 1, 0.988, 1],
    ['MIT', 'MIT', 'spdx-text', 1, 1, 0.997],
    ['BSD-3-Clause', 'BSD-3-Clause', 'spdx-text', 1, 0.962, 0.998],
    ['CC-BY-4.0', 'CC-BY-4.0', 'spdx-text', 1, 0.99, 1],
    ['CC-BY-NC-4.0', 'CC-BY-NC-4.0', 'spdx-text', 1, 0.99, 1],
    ['openrail-m', 'LicenseRef-hf-openrail', 'model-license-fingerprint', 0.857, 0.857, 0.857],
    ['llama3.1', 'LicenseRef-hf-llama3.1', 'model-license-fingerprint', 1, 1, 1],
  ];
  for (const [name, id, method, original, reflowed, edited] of cases) {
    it(`${name}: the text, reflowed, and with another copyright holder and a changed word`, () => {
      expect(matcher.match(read(`${name}.txt`))).toEqual({ id, confidence: original, method });
      expect(matcher.match(read(`${name}.reflowed.txt`))).toEqual({ id, confidence: reflowed, method });
      expect(matcher.match(read(`${name}.edited.txt`))).toEqual({ id, confidence: edited, method });
    });
  }

  it('tells CC-BY-4.0 from its non-commercial variant although their words overlap', () => {
    const nc = matcher.match(read('CC-BY-NC-4.0.edited.txt'));
    expect(nc.id).toBe('CC-BY-NC-4.0');
    expect(matcher.match(read('CC-BY-4.0.reflowed.txt')).id).toBe('CC-BY-4.0');
  });

  it('a text that is no licence is not identified, and names its nearest licence', () => {
    expect(matcher.match(read('not-a-license.txt'))).toEqual({
      id: undefined,
      confidence: 0,
      method: 'none',
      nearest: { id: 'HIDAPI', confidence: 0.171 },
    });
  });

  it('MIT without its notice clause is MIT-0 (which drops exactly that), half of MIT is nothing', () => {
    const mit = read('MIT.txt');
    const shorter = mit.replace(/The above copyright notice[^.]*\./, '');
    expect(matcher.match(shorter).id).toBe('MIT-0');
    expect(matcher.match(mit.replace('free of charge', 'at no charge')).id).toBe('MIT');
    const half = mit.slice(0, Math.floor(mit.length / 2));
    expect(matcher.match(half).id).toBeUndefined();
  });

  it('a Llama 3 text is not taken for Llama 3.1', () => {
    const text = read('llama3.1.txt').replaceAll('3.1', '3.2').replace('July 23, 2024', 'September 25, 2024');
    expect(matcher.match(text)).toMatchObject({ id: 'LicenseRef-hf-llama3.2' });
  });

  it('normalization drops copyright lines and placeholders and folds punctuation and line breaks', () => {
    expect(
      normalizeLicenseText('MIT License\nCopyright (c) 2024 Acme\n\nPermission is hereby\ngranted, "free".'),
    ).toBe('mit license permission is hereby granted free');
    expect(normalizeLicenseText('Copyright <year> <copyright holders>\n<owner> rights')).toBe('rights');
  });
});
