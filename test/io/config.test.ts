import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MlsecError } from '../../src/core/errors.js';
import { parseConfig } from '../../src/io/config.js';
import { root } from '../helpers/cli.js';

describe('config', () => {
  it('parses the shipped example with every key', async () => {
    const path = join(root, 'examples', 'mlsec.example.yaml');
    const config = await parseConfig(readFileSync(path, 'utf8'), path);
    expect(config.scan).toEqual({
      failOn: 'high',
      exclude: ['**/.git/**', 'datasets/**'],
      allowGlobals: ['mycompany.models.*', 'omegaconf.dictconfig.DictConfig'],
      denyGlobals: ['mycompany.internal.admin.*'],
    });
  });

  it('refuses bad values with the key and exit code 2', async () => {
    const attempt = (text: string) => parseConfig(text, '.mlsec.yaml');
    await expect(attempt('scan:\n  fail-on: severe\n')).rejects.toThrow(
      '.mlsec.yaml:2: scan.fail-on: expected info, low, medium, high, critical or never',
    );
    await expect(attempt('scan:\n  allow-globals: [ "os system" ]\n')).rejects.toThrow(
      /scan\.allow-globals\[0\]: expected a dotted name/,
    );
    await expect(attempt('- 1\n')).rejects.toThrow('.mlsec.yaml: expected a mapping at the top level');
    await expect(attempt('scan: [\n')).rejects.toThrow(MlsecError);
    expect(new MlsecError('CONFIG_INVALID', 'x').exitCode).toBe(2);
  });

  it('keys the lines cannot place (empty, null, aliased, collections) still fail at once', async () => {
    const attempt = (text: string) => parseConfig(text, '.mlsec.yaml');
    const expected = 'unknown key scan. (expected one of: fail-on, exclude, allow-globals, deny-globals)';
    await expect(attempt('scan:\n  ~: 1\n')).rejects.toThrow(`.mlsec.yaml: ${expected}`);
    await expect(attempt('scan:\n  "": 1\n')).rejects.toThrow(`.mlsec.yaml:2: ${expected}`);
    await expect(attempt('scan:\n  exclude: [&a foo]\n*a : 1\n')).rejects.toThrow(
      '.mlsec.yaml: unknown key foo (expected one of: scan, license)',
    );
    await expect(attempt('? []\n: 1\n')).rejects.toThrow(
      '.mlsec.yaml: unknown key [] (expected one of: scan, license)',
    );
  });

  it('an empty file is an empty config', async () => {
    expect((await parseConfig('', 'x')).scan).toEqual({ exclude: [], allowGlobals: [], denyGlobals: [] });
  });

  it('refuses deep nesting before the parser recurses, naming the file and line', async () => {
    const attempt = (text: string) => parseConfig(text, '.mlsec.yaml');
    const started = Date.now();
    await expect(attempt(`scan: ${'['.repeat(1 << 20)}`)).rejects.toThrow(
      '.mlsec.yaml:1: nested deeper than 64 levels; refused',
    );
    await expect(attempt(`scan:\n${'- '.repeat(200_000)}x\n`)).rejects.toThrow(
      '.mlsec.yaml:2: nested deeper than 64 levels; refused',
    );
    const indented = Array.from({ length: 100 }, (_, i) => `${' '.repeat(i + 1)}k:`).join('\n');
    await expect(attempt(`scan:\n${indented} 1\n`)).rejects.toThrow(
      '.mlsec.yaml:65: nested deeper than 64 levels; refused',
    );
    expect(Date.now() - started).toBeLessThan(1000);
    // Brackets inside quoted and block scalars are text, not nesting.
    const quoted = `scan:\n  exclude: ["${'['.repeat(500)}", '${'{'.repeat(500)}']\n`;
    expect((await attempt(quoted)).scan.exclude).toHaveLength(2);
  });

  it('refuses an alias bomb with the line of the first alias', async () => {
    let text = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i < 10; i += 1) {
      text += `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(', ')}]\n`;
    }
    await expect(parseConfig(text, '.mlsec.yaml')).rejects.toThrow(
      '.mlsec.yaml:2: aliases expand too far (over 100 nodes per alias); refused',
    );
  });
});
