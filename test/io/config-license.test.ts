import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/io/config.js';

const parse = (text: string) => parseConfig(text, '.mlsec.yaml');

describe('config: license section', () => {
  it('reads allow, deny, categories, require and exceptions', async () => {
    const config = await parse(`license:
  require: true
  allow: [Apache-2.0, mit, llama3.1]
  deny: [AGPL-3.0-only]
  categories:
    non-commercial: deny
    research-only: deny
    use-restricted: review
  exceptions:
    - path: models/internal-eval/**
      license: cc-by-nc-4.0
      reason: evaluation only, approved by legal (LEGAL-42)
      expires: 2027-01-31
`);
    expect(config.license).toEqual({
      require: true,
      allow: ['Apache-2.0', 'mit', 'llama3.1'],
      deny: ['AGPL-3.0-only'],
      categories: { 'non-commercial': 'deny', 'research-only': 'deny', 'use-restricted': 'review' },
      exceptions: [
        {
          path: 'models/internal-eval/**',
          license: 'cc-by-nc-4.0',
          reason: 'evaluation only, approved by legal (LEGAL-42)',
          expires: '2027-01-31',
        },
      ],
    });
  });

  it('no license section means no licence policy; an empty one is a policy with no rules', async () => {
    expect((await parse('scan:\n  exclude: []\n')).license).toBeUndefined();
    expect((await parse('license: {}\n')).license).toEqual({
      require: false,
      allow: [],
      deny: [],
      categories: {},
      exceptions: [],
    });
  });

  it('refuses unknown keys, categories and values, and exceptions without a reason or expiry', async () => {
    await expect(parse('license:\n  alow: [MIT]\n')).rejects.toThrow(
      '.mlsec.yaml:2: unknown key license.alow (expected one of: require, allow, deny, categories, exceptions)',
    );
    await expect(parse('license:\n  categories:\n    commercial: deny\n')).rejects.toThrow(
      '.mlsec.yaml:3: unknown key license.categories.commercial (expected one of: permissive, copyleft, non-commercial, research-only, use-restricted, unknown)',
    );
    await expect(parse('license:\n  categories:\n    unknown: block\n')).rejects.toThrow(
      '.mlsec.yaml:3: license.categories.unknown: expected allow, deny or review',
    );
    await expect(parse('license:\n  require: yes please\n')).rejects.toThrow(
      '.mlsec.yaml:2: license.require: expected true or false',
    );
    await expect(
      parse('license:\n  exceptions:\n    - path: a/**\n      expires: 2027-01-01\n'),
    ).rejects.toThrow('.mlsec.yaml:3: license.exceptions[0].reason: required (why the exception is granted)');
    await expect(parse('license:\n  exceptions:\n    - path: a/**\n      reason: ok\n')).rejects.toThrow(
      '.mlsec.yaml:3: license.exceptions[0].expires: required, a date such as 2027-01-31',
    );
    await expect(
      parse('license:\n  exceptions:\n    - path: a/**\n      reason: ok\n      expires: next year\n'),
    ).rejects.toThrow('.mlsec.yaml:5: license.exceptions[0].expires: required, a date such as 2027-01-31');
    await expect(parse('license:\n  allow: MIT\n')).rejects.toThrow(
      '.mlsec.yaml:2: license.allow: expected a list of strings',
    );
  });

  it('records the line of every key and list item, for messages about them', async () => {
    const config = await parse(
      '# policy\nlicense:\n  deny:\n    - mit\n    - not a licence\n  exceptions:\n    - path: a/**\n      reason: ok\n      expires: 2027-01-01\n',
    );
    expect(config.lines).toEqual({
      license: 2,
      'license.deny': 3,
      'license.deny[0]': 4,
      'license.deny[1]': 5,
      'license.exceptions': 6,
      'license.exceptions[0]': 7,
      'license.exceptions[0].path': 7,
      'license.exceptions[0].reason': 8,
      'license.exceptions[0].expires': 9,
    });
  });
});
