import { hubLicense, namedLicense } from './catalog.js';

/**
 * Model licences SPDX has no text for, recognised by fingerprints: phrases that each licence text
 * contains and its relatives do not (titles, version dates, defined terms). mlsec does not ship these
 * licence texts, which are long, revised by their owners and not in any corpus it can verify, so a
 * text counts as one of them when its `title` phrase and at least `minSupport` of the `support`
 * phrases occur in the normalized text. Confidence is the share of phrases found.
 */
export interface ModelLicenseFingerprint {
  id: string;
  title: string[];
  support: string[];
  minSupport: number;
}

const llamaSupport = [
  'llama materials',
  'acceptable use policy',
  '700 million monthly active users',
  'licensee or you',
  'meta platforms',
];

const railSupport = [
  'use-based restrictions',
  'attachment a',
  'derivatives of the model',
  'you agree not to use the model or derivatives of the model',
  'responsible ai license',
];

function fingerprint(key: string, title: string[], support: string[], minSupport: number) {
  const entry = hubLicense(key) ?? namedLicense(key);
  if (!entry) throw new Error(`no catalog entry for ${key}`);
  return { id: entry.id, title, support, minSupport };
}

export const modelLicenseFingerprints: readonly ModelLicenseFingerprint[] = [
  fingerprint(
    'llama2',
    ['llama 2 community license agreement', 'llama 2 version release date july 18 2023'],
    llamaSupport,
    3,
  ),
  fingerprint(
    'llama3',
    ['meta llama 3 community license agreement', 'meta llama 3 version release date april 18 2024'],
    [...llamaSupport, 'built with meta llama 3'],
    3,
  ),
  fingerprint(
    'llama3.1',
    ['llama 3.1 community license agreement', 'llama 3.1 version release date july 23 2024'],
    [...llamaSupport, 'built with llama'],
    3,
  ),
  fingerprint(
    'llama3.2',
    ['llama 3.2 community license agreement', 'llama 3.2 version release date september 25 2024'],
    [...llamaSupport, 'built with llama'],
    3,
  ),
  fingerprint(
    'llama3.3',
    ['llama 3.3 community license agreement', 'llama 3.3 version release date december 6 2024'],
    [...llamaSupport, 'built with llama'],
    3,
  ),
  fingerprint(
    'llama4',
    ['llama 4 community license agreement', 'llama 4 version effective date april 5 2025'],
    [...llamaSupport, 'built with llama'],
    3,
  ),
  fingerprint(
    'gemma',
    ['gemma terms of use'],
    [
      'gemma prohibited use policy',
      'model derivatives',
      'google',
      'hosted service',
      'ai.google.dev/gemma/terms',
    ],
    2,
  ),
  fingerprint(
    'creativeml-openrail-m',
    ['creativeml open rail-m'],
    [...railSupport, 'stable diffusion', 'dated august 22 2022'],
    3,
  ),
  fingerprint(
    'bigscience-bloom-rail-1.0',
    ['bigscience rail license v1.0'],
    [...railSupport, 'bloom', 'dated may 19 2022'],
    3,
  ),
  fingerprint(
    'bigcode-openrail-m',
    ['bigcode open rail-m'],
    [...railSupport, 'bigcode', 'code generation'],
    3,
  ),
  fingerprint(
    'bigscience-openrail-m',
    ['bigscience open rail-m license'],
    [...railSupport, 'dated august 18 2022'],
    3,
  ),
  // The generic Open RAIL-M template last: the specific RAIL licences above contain its phrases too.
  fingerprint('openrail', ['open rail-m license', 'open rail license'], railSupport, 3),
  fingerprint(
    'mrl',
    ['mistral ai research license'],
    ['research purposes', 'mistral models', 'derivatives', 'mistral ai', 'non-production'],
    2,
  ),
  fingerprint(
    'deepseek',
    ['deepseek license agreement'],
    ['deepseek', 'use-based restrictions', 'attachment a', 'complementary material'],
    2,
  ),
  fingerprint(
    'qwen-research',
    ['qwen research license agreement'],
    ['alibaba cloud', 'non-commercial', 'research purposes', 'qwen'],
    2,
  ),
  fingerprint(
    'qwen',
    ['qwen license agreement', 'tongyi qianwen license agreement'],
    ['alibaba cloud', '100 million monthly active users', 'materials', 'qwen'],
    2,
  ),
];
