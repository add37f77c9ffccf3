import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectLicense, type LicenseSource } from '../../../src/core/license/detect.js';
import { spdxReferenceTexts } from '../../../src/core/license/spdx-texts.js';
import { LicenseTextMatcher } from '../../../src/core/license/text-match.js';

const fixtures = join(import.meta.dirname, '../../../fixtures/license');
const text = (path: string) => readFileSync(join(fixtures, path), 'utf8');
const matcher = new LicenseTextMatcher(spdxReferenceTexts());
const detect = (sources: LicenseSource[]) => detectLicense('m', sources, () => matcher);
const card = (name: string): LicenseSource => ({
  kind: 'card',
  file: 'm/README.md',
  text: text(`cards/${name}`),
  truncated: false,
});
const licenseFile = (name: string): Extract<LicenseSource, { kind: 'license-file' }> => ({
  kind: 'license-file',
  file: 'm/LICENSE',
  text: text(`texts/${name}`),
  truncated: false,
});

describe('licence detection', () => {
  it('a card alone: the declared id, its SPDX form and category, with line and confidence', () => {
    const report = detect([card('llama31.md')]);
    expect(report.detections).toEqual([
      {
        source: 'card',
        file: 'm/README.md',
        field: 'license',
        value: 'llama3.1',
        expression: 'LicenseRef-hf-llama3.1',
        ids: ['LicenseRef-hf-llama3.1'],
        categories: ['use-restricted'],
        confidence: 1,
        method: 'declared',
        line: 5,
      },
    ]);
    expect(report.concluded).toBe('LicenseRef-hf-llama3.1');
    expect(report.categories).toEqual(['use-restricted']);
    expect(report.findings).toEqual([]);
  });

  it('each supported card shape resolves to its licence', () => {
    const concluded = (name: string) => detect([card(name)]).concluded;
    expect(concluded('apache.md')).toBe('Apache-2.0');
    expect(concluded('gemma.md')).toBe('LicenseRef-hf-gemma');
    expect(concluded('creativeml.md')).toBe('LicenseRef-hf-creativeml-openrail-m');
    expect(concluded('mistral-research.md')).toBe('LicenseRef-mistral-research');
    expect(concluded('license-url-alias.md')).toBe('LicenseRef-yi');
    expect(concluded('other-named-unknown.md')).toBe('LicenseRef-other-acme-model-license-2.0');
    expect(concluded('expression.md')).toBe('Apache-2.0 OR MIT');
    expect(concluded('dataset.md')).toBe('CC-BY-NC-4.0');
    // A list: both apply; they name different licences, so the sources disagree.
    expect(concluded('list.md')).toBe('Apache-2.0 AND CC-BY-4.0');
  });

  it('license: unknown, an unrecognised value and other without a name are unidentified', () => {
    expect(detect([card('unknown.md')]).findings).toEqual([
      {
        rule: 'MLSEC-LICENSE-004',
        severity: 'medium',
        message:
          'm/README.md front matter license: "unknown" is neither a Hugging Face licence id nor an SPDX expression',
        path: 'm/README.md',
      },
    ]);
    expect(detect([card('not-a-license.md')]).findings.map((f) => f.message)).toEqual([
      'm/README.md front matter license: "free-for-everyone" is neither a Hugging Face licence id nor an SPDX expression',
    ]);
    expect(detect([card('other-no-name.md')]).findings.map((f) => f.message)).toEqual([
      'model card says license: other without a license_name mlsec knows, and no licence file identifies it',
    ]);
  });

  it('license: other without a name is resolved by the licence file next to it', () => {
    const report = detect([card('other-no-name.md'), licenseFile('llama3.1.reflowed.txt')]);
    expect(report.findings).toEqual([]);
    expect(report.concluded).toBe('LicenseRef-hf-llama3.1');
  });

  it('card, licence file and metadata that agree give one licence and no finding', () => {
    const report = detect([
      card('apache.md'),
      licenseFile('Apache-2.0.edited.txt'),
      {
        kind: 'artifact-metadata',
        file: 'm/model.safetensors',
        metadata: { format: 'safetensors', fields: [{ key: 'license', value: 'apache-2.0' }] },
      },
    ]);
    expect(report.detections.map((d) => [d.source, d.expression, d.confidence])).toEqual([
      ['card', 'Apache-2.0', 1],
      ['license-file', 'Apache-2.0', 1],
      ['artifact-metadata', 'Apache-2.0', 1],
    ]);
    expect(report.concluded).toBe('Apache-2.0');
    expect(report.findings).toEqual([]);
  });

  it('a card saying MIT beside a Llama 3.1 licence file is a conflict, and both apply', () => {
    const report = detect([
      { kind: 'card', file: 'm/README.md', text: '---\nlicense: mit\n---\n', truncated: false },
      licenseFile('llama3.1.txt'),
    ]);
    expect(report.concluded).toBe('MIT AND LicenseRef-hf-llama3.1');
    expect(report.categories).toEqual(['permissive', 'use-restricted']);
    expect(report.findings).toEqual([
      {
        rule: 'MLSEC-LICENSE-005',
        severity: 'medium',
        message:
          'licence sources disagree: m/README.md front matter license: "mit" is MIT; licence text in m/LICENSE is LicenseRef-hf-llama3.1',
        path: 'm/LICENSE',
      },
    ]);
  });

  it('an OR expression in the card agrees with a licence file of one of its branches', () => {
    const report = detect([card('expression.md'), licenseFile('MIT.reflowed.txt')]);
    expect(report.findings).toEqual([]);
    expect(report.concluded).toBe('Apache-2.0 OR MIT');
  });

  it('malformed front matter and unreadable sources are findings with the line', () => {
    expect(detect([card('malformed.md')]).findings).toEqual([
      {
        rule: 'MLSEC-LICENSE-006',
        severity: 'medium',
        message:
          'model card front matter is not valid YAML (line 4): Flow sequence in block collection must be sufficiently indented and end with a ]; its licence was not read',
        path: 'm/README.md',
      },
    ]);
    expect(detect([card('no-front-matter.md')])).toEqual({
      path: 'm',
      detections: [],
      categories: [],
      findings: [],
    });
  });

  it('an unrecognised licence text names the closest licence; an unrecognised NOTICE is ignored', () => {
    expect(detect([licenseFile('not-a-license.txt')]).findings.map((f) => [f.rule, f.message])).toEqual([
      ['MLSEC-LICENSE-004', 'licence text is not one mlsec recognises; closest is HIDAPI at 0.17'],
    ]);
    const notice: LicenseSource = { ...licenseFile('not-a-license.txt'), file: 'm/NOTICE', optional: true };
    expect(detect([notice]).detections).toEqual([]);
  });

  it('a fine-tune of Llama 3.1 relicensed Apache-2.0 still carries the Llama terms', () => {
    const source = (license: string): LicenseSource => ({
      kind: 'card',
      file: 'm/README.md',
      text: `---\nlicense: ${license}\nbase_model:\n- meta-llama/Llama-3.1-8B-Instruct\n- google/gemma-2-9b\n- someone/llama-3-remix\n---\n`,
      truncated: false,
    });
    expect(detect([source('apache-2.0')]).findings).toEqual([
      {
        rule: 'MLSEC-LICENSE-010',
        severity: 'medium',
        message:
          'base model meta-llama/Llama-3.1-8B-Instruct is under LicenseRef-hf-llama3.1, whose terms bind derivatives; the model declares Apache-2.0',
        path: 'm/README.md',
      },
      {
        rule: 'MLSEC-LICENSE-010',
        severity: 'medium',
        message:
          'base model google/gemma-2-9b is under LicenseRef-hf-gemma, whose terms bind derivatives; the model declares Apache-2.0',
        path: 'm/README.md',
      },
    ]);
    expect(detect([source('LicenseRef-hf-llama3.1 AND LicenseRef-hf-gemma')]).findings).toEqual([]);
    expect(detect([card('llama31.md')]).findings).toEqual([]);
  });

  it('GGUF metadata with a Hub id, and damaged metadata', () => {
    const report = detect([
      {
        kind: 'artifact-metadata',
        file: 'm/model.gguf',
        metadata: {
          format: 'gguf',
          fields: [
            { key: 'general.license', value: 'llama3.1' },
            { key: 'general.license.link', value: 'https://example.org' },
          ],
          problem: 'key-value header is damaged: unexpected end of file',
        },
      },
    ]);
    expect(report.detections.map((d) => [d.field, d.expression])).toEqual([
      ['general.license', 'LicenseRef-hf-llama3.1'],
    ]);
    expect(report.findings.map((f) => [f.rule, f.message])).toEqual([
      [
        'MLSEC-LICENSE-006',
        'gguf metadata not fully read: key-value header is damaged: unexpected end of file',
      ],
    ]);
  });
});
