import { describe, expect, it } from 'vitest';
import { scanBytes } from '../../../../helpers/scan.js';

const utf8 = (text: string) => new TextEncoder().encode(text);
const rows = (findings: readonly { rule: string; severity: string; message: string; global?: string }[]) =>
  findings.map((f) => [f.rule, f.severity, f.message, f.global]);

describe('Hydra/NeMo config reader', () => {
  it('judges every _target_ and _call_ with the global policy', async () => {
    const yaml = [
      'model:',
      '  encoder: {_target_: nemo.collections.asr.modules.ConformerEncoder, d_model: 256}',
      '  act: {_target_: torch.nn.GELU}',
      '  hook: {_target_: posix.system, command: echo mlsec-fixture}',
      '  mine: {_target_: acme.Thing}',
      'jobs:',
      '  - _call_: importlib.import_module',
      '    name: os',
      '  - _target_: 42',
    ].join('\n');
    const result = await scanBytes(utf8(yaml), { name: 'model_config.yaml' });
    expect(result.format).toBe('hydra-config');
    expect(rows(result.findings)).toEqual([
      [
        'MLSEC-HYDRA-001',
        'high',
        'model.hook._target_ instantiates posix.system (runs commands and touches files)',
        'posix.system',
      ],
      [
        'MLSEC-HYDRA-002',
        'medium',
        'model.mine._target_ instantiates acme.Thing, which is not on the allowlist (no rule names it: a user class, or a module not yet reviewed)',
        'acme.Thing',
      ],
      [
        'MLSEC-HYDRA-001',
        'high',
        expect.stringMatching(/^jobs\[0\]\._call_ instantiates importlib\.import_module \(/),
        'importlib.import_module',
      ],
      [
        'MLSEC-HYDRA-002',
        'medium',
        'jobs[1]._target_ is not a name (number); what it instantiates cannot be judged',
        undefined,
      ],
    ]);
  });

  it('finds a target after 100 KiB of comments, and leaves other text alone', async () => {
    const padded = await scanBytes(utf8(`${'# padding\n'.repeat(10_000)}step: {_target_: os.system}\n`));
    expect(padded.findings.map((f) => f.rule)).toEqual(['MLSEC-HYDRA-001']);
    const plain = await scanBytes(utf8('just: text\nwith: [no, targets]\n'));
    expect([plain.format, plain.findings]).toEqual(['unknown', []]);
  });

  it('honours allow and deny patterns', async () => {
    const yaml = utf8('a: {_target_: acme.Thing}\nb: {_target_: torch.nn.Linear}\n');
    expect((await scanBytes(yaml, { policy: { allow: ['acme.*'] } })).findings).toEqual([]);
    const denied = await scanBytes(yaml, { policy: { deny: ['torch.nn.Linear'] } });
    expect(denied.findings.map((f) => [f.rule, f.global])).toEqual([
      ['MLSEC-HYDRA-002', 'acme.Thing'],
      ['MLSEC-HYDRA-001', 'torch.nn.Linear'],
    ]);
  });

  it('reads targets from the lines of a config it cannot parse', async () => {
    const result = await scanBytes(utf8('a: [unclosed\n  _target_: os.system\n b: c: d\n'));
    expect(rows(result.findings)).toEqual([
      [
        'MLSEC-HYDRA-003',
        'medium',
        'config is not valid YAML or JSON; targets were read from its lines',
        undefined,
      ],
      [
        'MLSEC-HYDRA-001',
        'high',
        '_target_ (line text) instantiates os.system (runs commands and touches files)',
        'os.system',
      ],
    ]);
  });

  it('stays bounded on alias bombs and deep nesting', async () => {
    const bomb = ['a: &a [_target_, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++) {
      const prev = String.fromCharCode(96 + i);
      const next = String.fromCharCode(97 + i);
      bomb.push(
        `${next}: &${next} [*${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}]`,
      );
    }
    bomb.push('t: {_target_: subprocess.Popen}');
    let started = Date.now();
    const laughs = await scanBytes(utf8(bomb.join('\n')));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(laughs.findings.map((f) => f.rule)).toEqual(['MLSEC-HYDRA-003', 'MLSEC-HYDRA-001']);

    const depth = 100_000;
    started = Date.now();
    const deep = await scanBytes(
      utf8(`x: ${'['.repeat(depth)}${']'.repeat(depth)}\ny: {_target_: os.system}\n`),
    );
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(deep.findings.map((f) => f.rule)).toContain('MLSEC-HYDRA-001');
  });
});
