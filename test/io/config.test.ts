import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MlsecError } from '../../src/core/errors.js';
import { parseConfig } from '../../src/io/config.js';
import { root } from '../helpers/cli.js';

describe('config', () => {
  it('parses the shipped example with every key', () => {
    const path = join(root, 'examples', 'mlsec.example.yaml');
    const config = parseConfig(readFileSync(path, 'utf8'), path);
    expect(config.scan).toEqual({
      failOn: 'high',
      exclude: ['**/.git/**', 'datasets/**'],
      allowGlobals: ['mycompany.models.*', 'omegaconf.dictconfig.DictConfig'],
      denyGlobals: ['mycompany.internal.admin.*'],
    });
  });

  it('refuses bad values with the key and exit code 2', () => {
    const attempt = (text: string) => () => parseConfig(text, '.mlsec.yaml');
    expect(attempt('scan:\n  fail-on: severe\n')).toThrow(
      '.mlsec.yaml: scan.fail-on: expected info, low, medium, high, critical or never',
    );
    expect(attempt('scan:\n  allow-globals: [ "os system" ]\n')).toThrow(
      /scan\.allow-globals\[0\]: expected a dotted name/,
    );
    expect(attempt('- 1\n')).toThrow('.mlsec.yaml: expected a mapping at the top level');
    expect(attempt('scan: [\n')).toThrow(MlsecError);
    expect(new MlsecError('CONFIG_INVALID', 'x').exitCode).toBe(2);
  });

  it('an empty file is an empty config', () => {
    expect(parseConfig('', 'x').scan).toEqual({ exclude: [], allowGlobals: [], denyGlobals: [] });
  });
});
