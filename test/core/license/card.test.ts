import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseModelCard } from '../../../src/core/license/card.js';
import { categoryOf, hubLicense } from '../../../src/core/license/catalog.js';
import { normalizeDeclared } from '../../../src/core/license/expression.js';

const cards = join(import.meta.dirname, '../../../fixtures/license/cards');
const card = (name: string) => parseModelCard(readFileSync(join(cards, name), 'utf8'));

describe('model card front matter', () => {
  it('reads the licence and the model card fields of a Hub card', () => {
    expect(card('apache.md')).toEqual({
      kind: 'card',
      card: {
        license: ['apache-2.0'],
        licenseLine: 4,
        baseModels: [],
        datasets: ['tiiuae/falcon-refinedweb'],
        pipelineTag: 'text-generation',
        libraryName: 'transformers',
        tags: ['causal-lm'],
        languages: ['en'],
      },
    });
  });

  it('reads a gated Llama 3.1 card with its base model', () => {
    const parsed = card('llama31.md');
    expect(parsed.kind === 'card' && parsed.card).toMatchObject({
      license: ['llama3.1'],
      licenseLine: 5,
      baseModels: ['meta-llama/Llama-3.1-8B-Instruct'],
      languages: ['en', 'de'],
    });
  });

  it('license: other with license_name and license_link, and the license_url spelling', () => {
    const mrl = card('mistral-research.md');
    expect(mrl.kind === 'card' && mrl.card).toMatchObject({
      license: ['other'],
      licenseName: 'mrl',
      licenseLink: 'https://mistral.ai/licenses/MRL-0.1.md',
    });
    const yi = card('license-url-alias.md');
    expect(yi.kind === 'card' && yi.card).toMatchObject({
      licenseName: 'yi-license',
      licenseLink: 'LICENSE',
    });
  });

  it('a list of licences, an empty licence and a dataset card', () => {
    expect(card('list.md')).toMatchObject({ card: { license: ['apache-2.0', 'cc-by-4.0'] } });
    expect(card('empty-license.md')).toMatchObject({ card: { license: [], tags: ['test'] } });
    expect(card('dataset.md')).toMatchObject({ card: { license: ['cc-by-nc-4.0'], languages: ['en'] } });
  });

  it('no front matter, malformed YAML with its line, unclosed front matter, duplicate keys', () => {
    expect(card('no-front-matter.md')).toEqual({ kind: 'no-front-matter' });
    expect(card('malformed.md')).toEqual({
      kind: 'malformed',
      message: 'Flow sequence in block collection must be sufficiently indented and end with a ]',
      line: 4,
    });
    expect(card('unclosed.md')).toEqual({
      kind: 'malformed',
      message: 'front matter has no closing --- line',
      line: 1,
    });
    expect(parseModelCard(readFileSync(join(cards, 'unclosed.md'), 'utf8'), true)).toEqual({
      kind: 'malformed',
      message: 'front matter does not end within the part of the file read',
      line: 1,
    });
    expect(card('duplicate-key.md')).toEqual({
      kind: 'malformed',
      message: 'Map keys must be unique',
      line: 3,
    });
  });

  it('a byte-order mark and CRLF line ends are accepted', () => {
    expect(parseModelCard('\uFEFF---\r\nlicense: mit\r\n---\r\n# x\r\n')).toMatchObject({
      kind: 'card',
      card: { license: ['mit'], licenseLine: 2 },
    });
  });
});

describe('Hub licence ids', () => {
  // Every id of the Hub's licence table (hub-docs repositories-licenses.md), with its SPDX or LicenseRef.
  const expected: Record<string, [string, string]> = {
    'apache-2.0': ['Apache-2.0', 'permissive'],
    mit: ['MIT', 'permissive'],
    openrail: ['LicenseRef-hf-openrail', 'use-restricted'],
    'bigscience-openrail-m': ['LicenseRef-hf-bigscience-openrail-m', 'use-restricted'],
    'creativeml-openrail-m': ['LicenseRef-hf-creativeml-openrail-m', 'use-restricted'],
    'bigscience-bloom-rail-1.0': ['LicenseRef-hf-bigscience-bloom-rail-1.0', 'use-restricted'],
    'bigcode-openrail-m': ['LicenseRef-hf-bigcode-openrail-m', 'use-restricted'],
    'afl-3.0': ['AFL-3.0', 'permissive'],
    'artistic-2.0': ['Artistic-2.0', 'permissive'],
    'bsl-1.0': ['BSL-1.0', 'permissive'],
    bsd: ['LicenseRef-hf-bsd', 'permissive'],
    'bsd-2-clause': ['BSD-2-Clause', 'permissive'],
    'bsd-3-clause': ['BSD-3-Clause', 'permissive'],
    'bsd-3-clause-clear': ['BSD-3-Clause-Clear', 'permissive'],
    'c-uda': ['C-UDA-1.0', 'use-restricted'],
    cc: ['LicenseRef-hf-cc', 'unknown'],
    'cc0-1.0': ['CC0-1.0', 'permissive'],
    'cc-by-2.0': ['CC-BY-2.0', 'permissive'],
    'cc-by-2.5': ['CC-BY-2.5', 'permissive'],
    'cc-by-3.0': ['CC-BY-3.0', 'permissive'],
    'cc-by-4.0': ['CC-BY-4.0', 'permissive'],
    'cc-by-sa-3.0': ['CC-BY-SA-3.0', 'copyleft'],
    'cc-by-sa-4.0': ['CC-BY-SA-4.0', 'copyleft'],
    'cc-by-nc-2.0': ['CC-BY-NC-2.0', 'non-commercial'],
    'cc-by-nc-3.0': ['CC-BY-NC-3.0', 'non-commercial'],
    'cc-by-nc-4.0': ['CC-BY-NC-4.0', 'non-commercial'],
    'cc-by-nd-4.0': ['CC-BY-ND-4.0', 'use-restricted'],
    'cc-by-nc-nd-3.0': ['CC-BY-NC-ND-3.0', 'non-commercial'],
    'cc-by-nc-nd-4.0': ['CC-BY-NC-ND-4.0', 'non-commercial'],
    'cc-by-nc-sa-2.0': ['CC-BY-NC-SA-2.0', 'non-commercial'],
    'cc-by-nc-sa-3.0': ['CC-BY-NC-SA-3.0', 'non-commercial'],
    'cc-by-nc-sa-4.0': ['CC-BY-NC-SA-4.0', 'non-commercial'],
    'cdla-sharing-1.0': ['CDLA-Sharing-1.0', 'copyleft'],
    'cdla-permissive-1.0': ['CDLA-Permissive-1.0', 'permissive'],
    'cdla-permissive-2.0': ['CDLA-Permissive-2.0', 'permissive'],
    wtfpl: ['WTFPL', 'permissive'],
    'ecl-2.0': ['ECL-2.0', 'permissive'],
    'epl-1.0': ['EPL-1.0', 'copyleft'],
    'epl-2.0': ['EPL-2.0', 'copyleft'],
    'etalab-2.0': ['etalab-2.0', 'permissive'],
    'eupl-1.1': ['EUPL-1.1', 'copyleft'],
    'eupl-1.2': ['EUPL-1.2', 'copyleft'],
    'agpl-3.0': ['AGPL-3.0-only', 'copyleft'],
    gfdl: ['LicenseRef-hf-gfdl', 'copyleft'],
    gpl: ['LicenseRef-hf-gpl', 'copyleft'],
    'gpl-2.0': ['GPL-2.0-only', 'copyleft'],
    'gpl-3.0': ['GPL-3.0-only', 'copyleft'],
    lgpl: ['LicenseRef-hf-lgpl', 'copyleft'],
    'lgpl-2.1': ['LGPL-2.1-only', 'copyleft'],
    'lgpl-3.0': ['LGPL-3.0-only', 'copyleft'],
    isc: ['ISC', 'permissive'],
    'h-research': ['LicenseRef-hf-h-research', 'research-only'],
    'intel-research': ['LicenseRef-hf-intel-research', 'research-only'],
    'lppl-1.3c': ['LPPL-1.3c', 'copyleft'],
    'ms-pl': ['MS-PL', 'copyleft'],
    'apple-ascl': ['LicenseRef-hf-apple-ascl', 'permissive'],
    'apple-amlr': ['LicenseRef-hf-apple-amlr', 'research-only'],
    'mpl-2.0': ['MPL-2.0', 'copyleft'],
    'odc-by': ['ODC-By-1.0', 'permissive'],
    odbl: ['ODbL-1.0', 'copyleft'],
    'openmdw-1.0': ['OpenMDW-1.0', 'permissive'],
    'openmdw-1.1': ['LicenseRef-hf-openmdw-1.1', 'permissive'],
    'openrail++': ['LicenseRef-hf-openrail-pp', 'use-restricted'],
    'osl-3.0': ['OSL-3.0', 'copyleft'],
    postgresql: ['PostgreSQL', 'permissive'],
    'ofl-1.1': ['OFL-1.1', 'copyleft'],
    ncsa: ['NCSA', 'permissive'],
    unlicense: ['Unlicense', 'permissive'],
    zlib: ['Zlib', 'permissive'],
    pddl: ['PDDL-1.0', 'permissive'],
    'lgpl-lr': ['LicenseRef-hf-lgpl-lr', 'copyleft'],
    'deepfloyd-if-license': ['LicenseRef-hf-deepfloyd-if-license', 'non-commercial'],
    'fair-noncommercial-research-license': [
      'LicenseRef-hf-fair-noncommercial-research-license',
      'non-commercial',
    ],
    llama2: ['LicenseRef-hf-llama2', 'use-restricted'],
    llama3: ['LicenseRef-hf-llama3', 'use-restricted'],
    'llama3.1': ['LicenseRef-hf-llama3.1', 'use-restricted'],
    'llama3.2': ['LicenseRef-hf-llama3.2', 'use-restricted'],
    'llama3.3': ['LicenseRef-hf-llama3.3', 'use-restricted'],
    llama4: ['LicenseRef-hf-llama4', 'use-restricted'],
    'grok2-community': ['LicenseRef-hf-grok2-community', 'use-restricted'],
    gemma: ['LicenseRef-hf-gemma', 'use-restricted'],
  };

  it('maps all 81 licence ids of the table (83 with unknown and other) to a valid SPDX expression and its category', () => {
    expect(Object.keys(expected)).toHaveLength(81);
    for (const [hubId, [id, category]] of Object.entries(expected)) {
      expect([hubId, hubLicense(hubId)]).toEqual([hubId, { id, category }]);
      expect([hubId, normalizeDeclared(hubId)?.expression]).toEqual([hubId, id]);
      expect([hubId, categoryOf(id)]).toEqual([hubId, category]);
    }
    expect(hubLicense('unknown')).toBeUndefined();
    expect(hubLicense('other')).toBeUndefined();
  });

  it('parses SPDX expressions with the SPDX parser, Hub ids inside them included', () => {
    expect(normalizeDeclared('Apache-2.0 OR MIT')).toMatchObject({
      expression: 'Apache-2.0 OR MIT',
      ids: ['Apache-2.0', 'MIT'],
    });
    expect(normalizeDeclared('apache-2.0 or mit')?.expression).toBe('Apache-2.0 OR MIT');
    expect(normalizeDeclared('GPL-2.0-only WITH Classpath-exception-2.0')?.expression).toBe(
      'GPL-2.0-only WITH Classpath-exception-2.0',
    );
    expect(normalizeDeclared('MIT AND (Apache-2.0 OR BSD-3-Clause)')?.expression).toBe(
      'MIT AND (Apache-2.0 OR BSD-3-Clause)',
    );
    expect(normalizeDeclared('LicenseRef-acme-1')?.ids).toEqual(['LicenseRef-acme-1']);
    expect(normalizeDeclared('free-for-everyone')).toBeUndefined();
    expect(normalizeDeclared('MIT OR')).toBeUndefined();
  });
});
