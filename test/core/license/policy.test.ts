import { describe, expect, it } from 'vitest';
import { detectLicense, type LicenseSource } from '../../../src/core/license/detect.js';
import {
  compileLicensePolicy,
  evaluateLicensePolicy,
  type LicensePolicyConfig,
} from '../../../src/core/license/policy.js';
import { LicenseTextMatcher } from '../../../src/core/license/text-match.js';

const matcher = new LicenseTextMatcher([{ id: 'MIT', text: 'permission is hereby granted free of charge' }]);
const now = new Date('2026-06-01T12:00:00Z');
const cardOf = (license: string, file = 'models/m/README.md'): Extract<LicenseSource, { kind: 'card' }> => ({
  kind: 'card',
  file,
  text: `---\nlicense: ${license}\n---\n`,
  truncated: false,
});

function evaluate(sources: LicenseSource[], config: Partial<LicensePolicyConfig>, path = 'models/m') {
  const policy = compileLicensePolicy(
    { require: false, allow: [], deny: [], categories: {}, exceptions: [], ...config },
    '.mlsec.yaml',
  );
  return evaluateLicensePolicy(
    detectLicense(path, sources, () => matcher),
    policy,
    now,
  ).map((f) => [f.rule, f.severity, f.message, f.path]);
}

describe('licence policy', () => {
  it('allow list: listed licences pass, others are not allowed', () => {
    expect(evaluate([cardOf('apache-2.0')], { allow: ['Apache-2.0', 'MIT'] })).toEqual([]);
    expect(evaluate([cardOf('llama3.1')], { allow: ['Apache-2.0', 'mit'] })).toEqual([
      [
        'MLSEC-LICENSE-002',
        'high',
        'LicenseRef-hf-llama3.1 (use-restricted) is not allowed: not on the allow list; declared by models/m/README.md front matter license: "llama3.1"',
        'models/m/README.md',
      ],
    ]);
  });

  it('deny list, with Hub ids in the config', () => {
    expect(evaluate([cardOf('agpl-3.0')], { deny: ['agpl-3.0'] })).toEqual([
      [
        'MLSEC-LICENSE-001',
        'high',
        'AGPL-3.0-only (copyleft) is denied: on the deny list; declared by models/m/README.md front matter license: "agpl-3.0"',
        'models/m/README.md',
      ],
    ]);
  });

  it('categories: no non-commercial, use restrictions need review', () => {
    const categories = { 'non-commercial': 'deny', 'use-restricted': 'review' } as const;
    expect(evaluate([cardOf('cc-by-nc-4.0')], { categories })).toEqual([
      [
        'MLSEC-LICENSE-001',
        'high',
        'CC-BY-NC-4.0 (non-commercial) is denied: category non-commercial is denied; declared by models/m/README.md front matter license: "cc-by-nc-4.0"',
        'models/m/README.md',
      ],
    ]);
    expect(evaluate([cardOf('gemma')], { categories })).toEqual([
      [
        'MLSEC-LICENSE-008',
        'low',
        'LicenseRef-hf-gemma (use-restricted) needs review: category use-restricted needs review; declared by models/m/README.md front matter license: "gemma"',
        'models/m/README.md',
      ],
    ]);
    expect(evaluate([cardOf('mit')], { categories })).toEqual([]);
  });

  it('an allowed category makes the policy an allow list', () => {
    expect(evaluate([cardOf('bsd-3-clause')], { categories: { permissive: 'allow' } })).toEqual([]);
    expect(evaluate([cardOf('gpl-3.0')], { categories: { permissive: 'allow' } })).toEqual([
      [
        'MLSEC-LICENSE-002',
        'high',
        'GPL-3.0-only (copyleft) is not allowed: not on the allow list; declared by models/m/README.md front matter license: "gpl-3.0"',
        'models/m/README.md',
      ],
    ]);
  });

  it('expressions: OR passes when one branch is allowed, AND fails when one part is denied', () => {
    const config = { allow: ['MIT'], deny: ['GPL-3.0-only'] };
    expect(evaluate([cardOf('GPL-3.0-only OR MIT')], config)).toEqual([]);
    expect(evaluate([cardOf('GPL-3.0-only AND MIT')], config)).toEqual([
      [
        'MLSEC-LICENSE-001',
        'high',
        'GPL-3.0-only in GPL-3.0-only AND MIT (copyleft) is denied: on the deny list; declared by models/m/README.md front matter license: "GPL-3.0-only AND MIT"',
        'models/m/README.md',
      ],
    ]);
  });

  it('unknown: unidentified licences are judged as the unknown category; require flags a missing one', () => {
    expect(evaluate([cardOf('free-for-everyone')], { categories: { unknown: 'deny' } })).toEqual([
      [
        'MLSEC-LICENSE-001',
        'high',
        'unidentified licence (unknown) is denied: category unknown is denied; declared by models/m/README.md front matter license: "free-for-everyone"',
        'models/m/README.md',
      ],
    ]);
    // A licence named in the card that mlsec has no entry for is in the unknown category too.
    expect(
      evaluate([{ ...cardOf('other'), text: '---\nlicense: other\nlicense_name: acme\n---\n' }], {
        categories: { unknown: 'deny' },
      }),
    ).toEqual([
      [
        'MLSEC-LICENSE-001',
        'high',
        'LicenseRef-other-acme (unknown) is denied: category unknown is denied; declared by models/m/README.md front matter license_name: "acme"',
        'models/m/README.md',
      ],
    ]);
    expect(evaluate([], { require: true })).toEqual([
      [
        'MLSEC-LICENSE-003',
        'high',
        'no licence found in a model card, licence file or artifact metadata',
        'models/m',
      ],
    ]);
    expect(evaluate([], { require: false })).toEqual([]);
  });

  it('an exception covers its path until it expires, and says so', () => {
    const exception = { path: 'models/**', license: 'llama3.1', reason: 'approved by legal (TICKET-12)' };
    expect(
      evaluate([cardOf('llama3.1')], {
        deny: ['llama3.1'],
        exceptions: [{ ...exception, expires: '2026-06-02' }],
      }),
    ).toEqual([
      [
        'MLSEC-LICENSE-009',
        'info',
        'LicenseRef-hf-llama3.1 (use-restricted) is denied: on the deny list; declared by models/m/README.md front matter license: "llama3.1"; excepted until 2026-06-02: approved by legal (TICKET-12)',
        'models/m/README.md',
      ],
    ]);
    // Expires at the start of its day (UTC): on 2026-06-01 an exception "expires: 2026-06-01" is over.
    expect(
      evaluate([cardOf('llama3.1')], {
        deny: ['llama3.1'],
        exceptions: [{ ...exception, expires: '2026-06-01' }],
      }),
    ).toEqual([
      [
        'MLSEC-LICENSE-007',
        'medium',
        'exception for models/** expired on 2026-06-01 (approved by legal (TICKET-12))',
        'models/m/README.md',
      ],
      [
        'MLSEC-LICENSE-001',
        'high',
        'LicenseRef-hf-llama3.1 (use-restricted) is denied: on the deny list; declared by models/m/README.md front matter license: "llama3.1"',
        'models/m/README.md',
      ],
    ]);
  });

  it('an exception for another path or another licence does not apply', () => {
    const base = { reason: 'r', expires: '2099-01-01' };
    expect(
      evaluate([cardOf('llama3.1')], { deny: ['llama3.1'], exceptions: [{ ...base, path: 'other/**' }] }).map(
        (f) => f[0],
      ),
    ).toEqual(['MLSEC-LICENSE-001']);
    expect(
      evaluate([cardOf('llama3.1')], {
        deny: ['llama3.1'],
        exceptions: [{ ...base, path: 'models/m', license: 'gemma' }],
      }).map((f) => f[0]),
    ).toEqual(['MLSEC-LICENSE-001']);
    expect(
      evaluate([cardOf('llama3.1')], { deny: ['llama3.1'], exceptions: [{ ...base, path: 'models/m' }] }).map(
        (f) => f[0],
      ),
    ).toEqual(['MLSEC-LICENSE-009']);
  });

  it('conflicting sources: each is judged, so a denied licence file is caught behind a harmless card', () => {
    const licenseText: LicenseSource = {
      kind: 'license-file',
      file: 'models/m/LICENSE',
      text: 'LLAMA 3.1 COMMUNITY LICENSE AGREEMENT Llama 3.1 Version Release Date: July 23, 2024 Llama Materials, Acceptable Use Policy, 700 million monthly active users, Built with Llama',
      truncated: false,
    };
    expect(evaluate([cardOf('mit'), licenseText], { categories: { 'use-restricted': 'deny' } })).toEqual([
      [
        'MLSEC-LICENSE-001',
        'high',
        'LicenseRef-hf-llama3.1 (use-restricted) is denied: category use-restricted is denied; declared by licence text in models/m/LICENSE',
        'models/m/LICENSE',
      ],
    ]);
  });

  it('an id in the config that is no licence is a config error', () => {
    expect(() =>
      compileLicensePolicy(
        { require: false, allow: ['Apache 2'], deny: [], categories: {}, exceptions: [] },
        'x.yaml',
      ),
    ).toThrow('x.yaml: license.allow: "Apache 2" is not a Hugging Face licence id, SPDX id or LicenseRef-');
    // With the lines of the file, the message points at the item itself.
    expect(() =>
      compileLicensePolicy(
        { require: false, allow: [], deny: ['mit', 'nope'], categories: {}, exceptions: [] },
        'x.yaml',
        { 'license.deny': 3, 'license.deny[0]': 4, 'license.deny[1]': 5 },
      ),
    ).toThrow('x.yaml:5: license.deny: "nope" is not a Hugging Face licence id, SPDX id or LicenseRef-');
  });
});
