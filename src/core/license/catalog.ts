/**
 * What a licence lets a product do, in the terms a compliance review uses. `use-restricted` covers
 * licences that allow commercial use under conditions (RAIL use restrictions, Llama/Gemma acceptable
 * use policies and user thresholds, no-derivatives); `unknown` is anything mlsec cannot classify.
 */
export const licenseCategories = [
  'permissive',
  'copyleft',
  'non-commercial',
  'research-only',
  'use-restricted',
  'unknown',
] as const;
export type LicenseCategory = (typeof licenseCategories)[number];

export function isLicenseCategory(value: string): value is LicenseCategory {
  return (licenseCategories as readonly string[]).includes(value);
}

export interface CatalogEntry {
  /** SPDX id, or a `LicenseRef-` for licences SPDX lacks. */
  id: string;
  category: LicenseCategory;
}

const ref = (name: string) => `LicenseRef-${name}`;
/** Hugging Face Hub ids SPDX has no id for keep their Hub name: `LicenseRef-hf-<hub id>`. */
const hub = (name: string) => ref(`hf-${name}`);

/**
 * The licence ids the Hugging Face Hub accepts (hub-docs `repositories-licenses.md`, table as of
 * 2026-06, 84 ids), mapped to SPDX where SPDX has the same licence. `gpl-3.0` and `agpl-3.0` map to
 * `-only`: the Hub id does not say "or later", and a review must not assume the wider grant.
 */
const hubIds: Record<string, CatalogEntry> = {
  'apache-2.0': { id: 'Apache-2.0', category: 'permissive' },
  mit: { id: 'MIT', category: 'permissive' },
  openrail: { id: hub('openrail'), category: 'use-restricted' },
  'bigscience-openrail-m': { id: hub('bigscience-openrail-m'), category: 'use-restricted' },
  'creativeml-openrail-m': { id: hub('creativeml-openrail-m'), category: 'use-restricted' },
  'bigscience-bloom-rail-1.0': { id: hub('bigscience-bloom-rail-1.0'), category: 'use-restricted' },
  'bigcode-openrail-m': { id: hub('bigcode-openrail-m'), category: 'use-restricted' },
  'afl-3.0': { id: 'AFL-3.0', category: 'permissive' },
  'artistic-2.0': { id: 'Artistic-2.0', category: 'permissive' },
  'bsl-1.0': { id: 'BSL-1.0', category: 'permissive' },
  bsd: { id: hub('bsd'), category: 'permissive' },
  'bsd-2-clause': { id: 'BSD-2-Clause', category: 'permissive' },
  'bsd-3-clause': { id: 'BSD-3-Clause', category: 'permissive' },
  'bsd-3-clause-clear': { id: 'BSD-3-Clause-Clear', category: 'permissive' },
  // Computational Use of Data Agreement: results may be used, the data itself only computationally.
  'c-uda': { id: 'C-UDA-1.0', category: 'use-restricted' },
  // "Creative Commons" without a variant could be anything from CC0 to BY-NC-ND.
  cc: { id: hub('cc'), category: 'unknown' },
  'cc0-1.0': { id: 'CC0-1.0', category: 'permissive' },
  'cc-by-2.0': { id: 'CC-BY-2.0', category: 'permissive' },
  'cc-by-2.5': { id: 'CC-BY-2.5', category: 'permissive' },
  'cc-by-3.0': { id: 'CC-BY-3.0', category: 'permissive' },
  'cc-by-4.0': { id: 'CC-BY-4.0', category: 'permissive' },
  'cc-by-sa-3.0': { id: 'CC-BY-SA-3.0', category: 'copyleft' },
  'cc-by-sa-4.0': { id: 'CC-BY-SA-4.0', category: 'copyleft' },
  'cc-by-nc-2.0': { id: 'CC-BY-NC-2.0', category: 'non-commercial' },
  'cc-by-nc-3.0': { id: 'CC-BY-NC-3.0', category: 'non-commercial' },
  'cc-by-nc-4.0': { id: 'CC-BY-NC-4.0', category: 'non-commercial' },
  'cc-by-nd-4.0': { id: 'CC-BY-ND-4.0', category: 'use-restricted' },
  'cc-by-nc-nd-3.0': { id: 'CC-BY-NC-ND-3.0', category: 'non-commercial' },
  'cc-by-nc-nd-4.0': { id: 'CC-BY-NC-ND-4.0', category: 'non-commercial' },
  'cc-by-nc-sa-2.0': { id: 'CC-BY-NC-SA-2.0', category: 'non-commercial' },
  'cc-by-nc-sa-3.0': { id: 'CC-BY-NC-SA-3.0', category: 'non-commercial' },
  'cc-by-nc-sa-4.0': { id: 'CC-BY-NC-SA-4.0', category: 'non-commercial' },
  'cdla-sharing-1.0': { id: 'CDLA-Sharing-1.0', category: 'copyleft' },
  'cdla-permissive-1.0': { id: 'CDLA-Permissive-1.0', category: 'permissive' },
  'cdla-permissive-2.0': { id: 'CDLA-Permissive-2.0', category: 'permissive' },
  wtfpl: { id: 'WTFPL', category: 'permissive' },
  'ecl-2.0': { id: 'ECL-2.0', category: 'permissive' },
  'epl-1.0': { id: 'EPL-1.0', category: 'copyleft' },
  'epl-2.0': { id: 'EPL-2.0', category: 'copyleft' },
  'etalab-2.0': { id: 'etalab-2.0', category: 'permissive' },
  'eupl-1.1': { id: 'EUPL-1.1', category: 'copyleft' },
  'eupl-1.2': { id: 'EUPL-1.2', category: 'copyleft' },
  'agpl-3.0': { id: 'AGPL-3.0-only', category: 'copyleft' },
  gfdl: { id: hub('gfdl'), category: 'copyleft' },
  gpl: { id: hub('gpl'), category: 'copyleft' },
  'gpl-2.0': { id: 'GPL-2.0-only', category: 'copyleft' },
  'gpl-3.0': { id: 'GPL-3.0-only', category: 'copyleft' },
  lgpl: { id: hub('lgpl'), category: 'copyleft' },
  'lgpl-2.1': { id: 'LGPL-2.1-only', category: 'copyleft' },
  'lgpl-3.0': { id: 'LGPL-3.0-only', category: 'copyleft' },
  isc: { id: 'ISC', category: 'permissive' },
  'h-research': { id: hub('h-research'), category: 'research-only' },
  'intel-research': { id: hub('intel-research'), category: 'research-only' },
  'lppl-1.3c': { id: 'LPPL-1.3c', category: 'copyleft' },
  'ms-pl': { id: 'MS-PL', category: 'copyleft' },
  'apple-ascl': { id: hub('apple-ascl'), category: 'permissive' },
  'apple-amlr': { id: hub('apple-amlr'), category: 'research-only' },
  'mpl-2.0': { id: 'MPL-2.0', category: 'copyleft' },
  'odc-by': { id: 'ODC-By-1.0', category: 'permissive' },
  odbl: { id: 'ODbL-1.0', category: 'copyleft' },
  'openmdw-1.0': { id: 'OpenMDW-1.0', category: 'permissive' },
  'openmdw-1.1': { id: hub('openmdw-1.1'), category: 'permissive' },
  // `+` is not allowed in an SPDX idstring.
  'openrail++': { id: hub('openrail-pp'), category: 'use-restricted' },
  'osl-3.0': { id: 'OSL-3.0', category: 'copyleft' },
  postgresql: { id: 'PostgreSQL', category: 'permissive' },
  'ofl-1.1': { id: 'OFL-1.1', category: 'copyleft' },
  ncsa: { id: 'NCSA', category: 'permissive' },
  unlicense: { id: 'Unlicense', category: 'permissive' },
  zlib: { id: 'Zlib', category: 'permissive' },
  pddl: { id: 'PDDL-1.0', category: 'permissive' },
  'lgpl-lr': { id: hub('lgpl-lr'), category: 'copyleft' },
  'deepfloyd-if-license': { id: hub('deepfloyd-if-license'), category: 'non-commercial' },
  'fair-noncommercial-research-license': {
    id: hub('fair-noncommercial-research-license'),
    category: 'non-commercial',
  },
  llama2: { id: hub('llama2'), category: 'use-restricted' },
  llama3: { id: hub('llama3'), category: 'use-restricted' },
  'llama3.1': { id: hub('llama3.1'), category: 'use-restricted' },
  'llama3.2': { id: hub('llama3.2'), category: 'use-restricted' },
  'llama3.3': { id: hub('llama3.3'), category: 'use-restricted' },
  llama4: { id: hub('llama4'), category: 'use-restricted' },
  'grok2-community': { id: hub('grok2-community'), category: 'use-restricted' },
  gemma: { id: hub('gemma'), category: 'use-restricted' },
};

/**
 * Model licences with no Hub id, which arrive as `license: other` with a `license_name`; keyed by
 * the names model cards use for them.
 */
const otherNames: Record<string, CatalogEntry> = {
  mrl: { id: ref('mistral-research'), category: 'research-only' },
  'mistral-research': { id: ref('mistral-research'), category: 'research-only' },
  'mistral-research-license': { id: ref('mistral-research'), category: 'research-only' },
  deepseek: { id: ref('deepseek'), category: 'use-restricted' },
  'deepseek-license': { id: ref('deepseek'), category: 'use-restricted' },
  qwen: { id: ref('qwen'), category: 'use-restricted' },
  'tongyi-qianwen': { id: ref('qwen'), category: 'use-restricted' },
  'qwen-research': { id: ref('qwen-research'), category: 'research-only' },
  'yi-license': { id: ref('yi'), category: 'use-restricted' },
};

/** Categories of SPDX ids outside the Hub table, by family. */
const spdxFamilies: [RegExp, LicenseCategory][] = [
  [/-NC(-|$)/, 'non-commercial'],
  [/-ND(-|$)/, 'use-restricted'],
  [
    /^(A|L)?GPL-|^GFDL-|^MPL-|^EPL-|^EUPL-|^CDDL-|^OSL-|^CC-BY-SA-|^ODbL-|^CECILL-|^MS-RL$|^APSL-|^CPL-/,
    'copyleft',
  ],
  [
    /^(MIT(-0)?|X11|ISC|0BSD|BSD-[1-4]-Clause.*|Apache-[12]\.\d|Zlib|Unlicense|CC0-1\.0|CC-BY-\d\.\d|PSF-2\.0|Python-2\.0.*|BlueOak-1\.0\.0|UPL-1\.0|NCSA|PostgreSQL|BSL-1\.0)$/,
    'permissive',
  ],
];

const byId = new Map<string, CatalogEntry>();
for (const entry of [...Object.values(hubIds), ...Object.values(otherNames)])
  byId.set(entry.id.toLowerCase(), entry);

/** The entry for a Hub id (`llama3.1`), case-insensitively. */
export function hubLicense(hubId: string): CatalogEntry | undefined {
  const key = hubId.trim().toLowerCase();
  return Object.hasOwn(hubIds, key) ? hubIds[key] : undefined;
}

/** The entry for a `license_name` of a `license: other` card (`mrl`, `deepseek`), or a Hub id given there. */
export function namedLicense(name: string): CatalogEntry | undefined {
  const key = name
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, '-');
  return (Object.hasOwn(otherNames, key) ? otherNames[key] : undefined) ?? hubLicense(key);
}

/** The category of an SPDX id or `LicenseRef-` (`unknown` when mlsec has no entry for it). */
export function categoryOf(id: string): LicenseCategory {
  const known = byId.get(id.toLowerCase());
  if (known) return known.category;
  for (const [pattern, category] of spdxFamilies) if (pattern.test(id)) return category;
  return 'unknown';
}

/** A `LicenseRef-` for a licence only known by a free-text name. */
export function otherLicenseRef(name: string): string {
  const slug = name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64);
  return ref(`other-${slug || 'unnamed'}`);
}
