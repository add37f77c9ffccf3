import { describe, expect, it } from 'vitest';
import { asm, offsetOf, op, osSystemPickle, storageRef } from '../../../../helpers/pickle-asm.js';
import { brief, scanBytes } from '../../../../helpers/scan.js';

type Part = number[] | number;
const build = (...parts: Part[]) => ({ parts, bytes: asm(...parts) });

describe('pickle machine: how a callable is obtained', () => {
  it('GLOBAL + REDUCE reports the call at the REDUCE offset', async () => {
    const { parts, bytes } = build(
      op.proto(2),
      op.global('os', 'system'),
      op.str('echo'),
      op.tuple1(),
      op.reduce(),
      op.stop(),
    );
    const result = await scanBytes(bytes);
    expect(result.format).toBe('pickle');
    expect(brief(result.findings)).toEqual([
      { rule: 'MLSEC-PICKLE-001', severity: 'critical', global: 'os.system', offset: offsetOf(parts, 4) },
    ]);
  });

  it('STACK_GLOBAL with strings fetched from the memo', async () => {
    const { bytes } = build(
      op.proto(4),
      op.str('subprocess'),
      op.binput(0),
      op.pop(),
      op.str('check_output'),
      op.memoize(),
      op.pop(),
      op.binget(0),
      op.longBinget(1),
      op.stackGlobal(),
      op.str('true'),
      op.tuple1(),
      op.reduce(),
      op.stop(),
    );
    const result = await scanBytes(bytes);
    expect(brief(result.findings).map((f) => [f.rule, f.global])).toEqual([
      ['MLSEC-PICKLE-001', 'subprocess.check_output'],
    ]);
  });

  it('STACK_GLOBAL with strings placed far back on the stack', async () => {
    const { bytes } = build(
      op.proto(4),
      op.str('builtins'),
      op.none(),
      op.none(),
      op.pop(),
      op.pop(),
      op.str('eval'),
      op.stackGlobal(),
      op.str('1+1'),
      op.tuple1(),
      op.reduce(),
      op.stop(),
    );
    expect(brief((await scanBytes(bytes)).findings).map((f) => f.global)).toEqual(['builtins.eval']);
  });

  it('STACK_GLOBAL whose name is computed is a dynamic global', async () => {
    const { parts, bytes } = build(
      op.proto(4),
      op.str('os'),
      op.global('builtins', 'str'),
      op.str('system'),
      op.tuple1(),
      op.reduce(),
      op.stackGlobal(),
      op.str('echo'),
      op.tuple1(),
      op.reduce(),
      op.stop(),
    );
    const result = await scanBytes(bytes);
    expect(brief(result.findings)).toEqual([
      { rule: 'MLSEC-PICKLE-004', severity: 'high', offset: offsetOf(parts, 6) },
    ]);
  });

  it('a getattr chain is reported for each dangerous import and the indirect call', async () => {
    const { bytes } = build(
      op.proto(2),
      op.global('builtins', 'getattr'),
      op.global('builtins', '__import__'),
      op.str('os'),
      op.tuple1(),
      op.reduce(),
      op.str('system'),
      op.tuple2(),
      op.reduce(),
      op.str('echo'),
      op.tuple1(),
      op.reduce(),
      op.stop(),
    );
    expect(brief((await scanBytes(bytes)).findings).map((f) => [f.rule, f.severity, f.global])).toEqual([
      ['MLSEC-PICKLE-001', 'critical', 'builtins.__import__'],
      ['MLSEC-PICKLE-001', 'critical', 'builtins.getattr'],
      ['MLSEC-PICKLE-005', 'high', undefined],
    ]);
  });

  it('INST, OBJ, OBJ followed by POP, NEWOBJ and NEWOBJ_EX are all calls', async () => {
    const cases: Part[][] = [
      [op.mark(), op.string0('echo'), op.inst('os', 'system'), op.stop()],
      [op.proto(2), op.mark(), op.global('os', 'system'), op.str('echo'), op.obj(), op.stop()],
      [
        op.proto(2),
        op.mark(),
        op.global('os', 'system'),
        op.str('echo'),
        op.obj(),
        op.pop(),
        op.none(),
        op.stop(),
      ],
      [op.proto(2), op.global('os', 'system'), op.str('echo'), op.tuple1(), op.newobj(), op.stop()],
      [
        op.proto(4),
        op.global('os', 'system'),
        op.str('echo'),
        op.tuple1(),
        op.emptyDict(),
        op.newobjEx(),
        op.stop(),
      ],
    ];
    for (const parts of cases) {
      expect(brief((await scanBytes(asm(...parts))).findings).map((f) => [f.rule, f.global])).toEqual([
        ['MLSEC-PICKLE-001', 'os.system'],
      ]);
    }
  });

  it('a __setstate__ planted by BUILD makes the next BUILD a call', async () => {
    const { bytes } = build(
      op.proto(2),
      op.global('collections', 'OrderedDict'),
      op.emptyTuple(),
      op.reduce(),
      op.emptyDict(),
      op.str('__setstate__'),
      op.global('os', 'system'),
      op.setitem(),
      op.build(),
      op.str('echo'),
      op.build(),
      op.stop(),
    );
    expect(brief((await scanBytes(bytes)).findings).map((f) => [f.rule, f.global])).toEqual([
      ['MLSEC-PICKLE-001', 'os.system'],
      ['MLSEC-PICKLE-007', undefined],
    ]);
  });

  it('BUILD on an imported global mutates it', async () => {
    const { bytes } = build(
      op.proto(2),
      op.global('numpy', 'ndarray'),
      op.emptyDict(),
      op.build(),
      op.stop(),
    );
    expect(brief((await scanBytes(bytes)).findings).map((f) => [f.rule, f.global])).toEqual([
      ['MLSEC-PICKLE-008', 'numpy.ndarray'],
    ]);
  });

  it('EXT opcodes and persistent ids are not plain globals', async () => {
    const ext = asm(op.proto(2), op.ext1(1), op.str('echo'), op.tuple1(), op.reduce(), op.stop());
    expect(brief((await scanBytes(ext)).findings).map((f) => f.rule)).toEqual(['MLSEC-PICKLE-006']);
    const persid = asm(
      op.proto(2),
      op.str('x'),
      op.binpersid(),
      op.str('echo'),
      op.tuple1(),
      op.reduce(),
      op.stop(),
    );
    expect(brief((await scanBytes(persid)).findings).map((f) => f.rule)).toEqual(['MLSEC-PICKLE-005']);
  });

  it('maps Python 2 module names and walks dotted names', async () => {
    const py2 = asm(
      op.global('__builtin__', 'eval'),
      op.mark(),
      op.string0('1'),
      op.tuple(),
      op.reduce(),
      op.stop(),
    );
    expect(brief((await scanBytes(py2)).findings).map((f) => [f.rule, f.global])).toEqual([
      ['MLSEC-PICKLE-001', '__builtin__.eval'],
    ]);
    const walk = asm(op.proto(4), op.str('collections'), op.str('os.system'), op.stackGlobal(), op.stop());
    expect(brief((await scanBytes(walk)).findings).map((f) => [f.rule, f.global])).toEqual([
      ['MLSEC-PICKLE-002', 'collections.os.system'],
    ]);
  });

  it('reports a global that is neither safe nor dangerous as unknown', async () => {
    const bytes = asm(op.proto(2), op.global('mypkg.models', 'Net'), op.emptyTuple(), op.reduce(), op.stop());
    expect(brief((await scanBytes(bytes)).findings)).toEqual([
      { rule: 'MLSEC-PICKLE-003', severity: 'medium', global: 'mypkg.models.Net', offset: 2 },
    ]);
    const allowed = await scanBytes(bytes, { policy: { allow: ['mypkg.models.*'] } });
    expect(allowed.findings).toEqual([]);
    const denied = await scanBytes(bytes, { policy: { deny: ['mypkg.*'] } });
    expect(brief(denied.findings).map((f) => [f.rule, f.severity])).toEqual([
      ['MLSEC-PICKLE-001', 'critical'],
    ]);
  });
});

describe('pickle machine: streams', () => {
  it('finds a payload placed before a deliberate error', async () => {
    const { parts, bytes } = build(
      op.proto(2),
      op.global('os', 'system'),
      op.str('echo'),
      op.tuple1(),
      op.reduce(),
      0xff,
    );
    const result = await scanBytes(bytes);
    expect(brief(result.findings)).toEqual([
      { rule: 'MLSEC-PICKLE-001', severity: 'critical', global: 'os.system', offset: offsetOf(parts, 4) },
      { rule: 'MLSEC-PICKLE-009', severity: 'medium', offset: offsetOf(parts, 5) },
    ]);
    expect(result.partial).toBe(true);
  });

  it('reports a truncated stream after what it saw', async () => {
    const bytes = osSystemPickle().subarray(0, -1);
    expect(brief((await scanBytes(bytes)).findings).map((f) => f.rule)).toEqual([
      'MLSEC-PICKLE-001',
      'MLSEC-PICKLE-009',
    ]);
  });

  it('scans a second stream after a benign first one', async () => {
    const bytes = asm(op.proto(2), op.emptyDict(), op.stop(), ...[osSystemPickle()].map((b) => [...b]));
    expect(brief((await scanBytes(bytes)).findings).map((f) => [f.rule, f.global])).toEqual([
      ['MLSEC-PICKLE-001', 'os.system'],
    ]);
  });

  it('reports non-pickle bytes after STOP as trailing data', async () => {
    const bytes = asm(op.proto(2), op.emptyDict(), op.stop(), 0xff, 0xfe, 0xfd);
    expect(brief((await scanBytes(bytes)).findings)).toEqual([
      { rule: 'MLSEC-PICKLE-011', severity: 'low', offset: 4 },
    ]);
  });

  it('survives ten million MARKs with a resource-limit finding', async () => {
    const bytes = new Uint8Array(10_000_000).fill(0x28);
    const result = await scanBytes(bytes);
    expect(brief(result.findings).map((f) => f.rule)).toEqual(['MLSEC-PICKLE-009', 'MLSEC-PICKLE-010']);
  });
});

describe('pickle machine: nested pickles', () => {
  it('scans bytes passed to pickle.loads', async () => {
    const inner = osSystemPickle();
    const { parts, bytes } = build(
      op.proto(3),
      op.global('pickle', 'loads'),
      op.bytes(inner),
      op.tuple1(),
      op.reduce(),
      op.stop(),
    );
    const result = await scanBytes(bytes);
    expect(brief(result.findings)).toEqual([
      {
        rule: 'MLSEC-PICKLE-001',
        severity: 'critical',
        global: 'os.system',
        member: `pickle@${offsetOf(parts, 2)}`,
        offset: 26,
      },
      { rule: 'MLSEC-PICKLE-001', severity: 'critical', global: 'pickle.loads', offset: offsetOf(parts, 4) },
    ]);
  });

  it('trusts torch.storage._load_from_bytes only as far as its nested bytes', async () => {
    const benignInner = asm(op.proto(2), op.emptyDict(), op.stop());
    const wrap = (inner: Uint8Array) =>
      asm(
        op.proto(3),
        op.global('torch.storage', '_load_from_bytes'),
        op.bytes(inner),
        op.tuple1(),
        op.reduce(),
        op.stop(),
      );
    expect((await scanBytes(wrap(benignInner))).findings).toEqual([]);
    expect(
      brief((await scanBytes(wrap(osSystemPickle()))).findings).map((f) => [f.rule, f.global, f.member]),
    ).toEqual([['MLSEC-PICKLE-001', 'os.system', 'pickle@34']]);
  });

  it('reports a loader called on data it cannot see', async () => {
    const bytes = asm(
      op.proto(2),
      op.global('pickle', 'loads'),
      op.global('builtins', 'bytes'),
      op.emptyTuple(),
      op.reduce(),
      op.tuple1(),
      op.reduce(),
      op.stop(),
    );
    expect(brief((await scanBytes(bytes)).findings).map((f) => [f.rule, f.global])).toEqual([
      ['MLSEC-PICKLE-001', 'pickle.loads'],
      ['MLSEC-PICKLE-012', 'pickle.loads'],
    ]);
  });
});

describe('pickle machine: benign checkpoints', () => {
  it('a PyTorch-style state dict has no findings', async () => {
    const bytes = asm(
      op.proto(2),
      op.global('collections', 'OrderedDict'),
      op.emptyTuple(),
      op.reduce(),
      op.str('weight'),
      op.global('torch._utils', '_rebuild_tensor_v2'),
      op.mark(),
      ...storageRef('0', 4),
      op.int(0),
      op.mark(),
      op.int(4),
      op.tuple(),
      op.mark(),
      op.int(1),
      op.tuple(),
      op.newtrue(),
      op.global('collections', 'OrderedDict'),
      op.emptyTuple(),
      op.reduce(),
      op.tuple(),
      op.reduce(),
      op.setitem(),
      op.stop(),
    );
    const result = await scanBytes(bytes);
    expect(result.findings).toEqual([]);
    expect(result.partial).toBe(false);
  });
});

describe('pickle machine: persistent ids resolved as the loaders resolve them', () => {
  /** `('module', cls, source_file, source)`: legacy torch.save of a whole model; persistent_load returns cls. */
  const moduleId = (tag: number[], module: string, name: string): Part[] => [
    op.mark(),
    tag,
    op.global(module, name),
    op.none(),
    op.none(),
    op.tuple(),
    op.binpersid(),
  ];

  it('a torch.nn class inside a legacy module id, instantiated by NEWOBJ, is safe', async () => {
    const { bytes } = build(
      op.proto(2),
      ...moduleId(op.str('module'), 'torch.nn.modules.linear', 'Linear'),
      op.emptyTuple(),
      op.newobj(),
      op.emptyDict(),
      op.build(),
      op.stop(),
    );
    expect((await scanBytes(bytes)).findings).toEqual([]);
  });

  it('a user class inside a module id is an unknown global called, like anywhere else', async () => {
    const { parts, bytes } = build(
      op.proto(2),
      ...moduleId(op.str('module'), '__main__', 'Net'),
      op.emptyTuple(),
      op.newobj(),
      op.stop(),
    );
    expect(brief((await scanBytes(bytes)).findings)).toEqual([
      { rule: 'MLSEC-PICKLE-003', severity: 'medium', global: '__main__.Net', offset: offsetOf(parts, 3) },
    ]);
  });

  it('a dangerous callable inside a module id (text or bytes tag) is a dangerous call', async () => {
    for (const tag of [op.str('module'), op.bytes([...'module'].map((c) => c.charCodeAt(0)))]) {
      const { parts, bytes } = build(
        op.proto(2),
        ...moduleId(tag, 'os', 'system'),
        op.str('echo'),
        op.tuple1(),
        op.reduce(),
        op.stop(),
      );
      expect(brief((await scanBytes(bytes)).findings)).toEqual([
        { rule: 'MLSEC-PICKLE-001', severity: 'critical', global: 'os.system', offset: offsetOf(parts, 10) },
      ]);
    }
  });

  it('a list module id (the tuple check is an assert, gone under python -O) resolves too', async () => {
    const { parts, bytes } = build(
      op.proto(2),
      op.mark(),
      op.str('module'),
      op.global('os', 'system'),
      0x6c, // LIST
      op.binpersid(),
      op.str('echo'),
      op.tuple1(),
      op.reduce(),
      op.stop(),
    );
    expect(brief((await scanBytes(bytes)).findings)).toEqual([
      { rule: 'MLSEC-PICKLE-001', severity: 'critical', global: 'os.system', offset: offsetOf(parts, 8) },
    ]);
  });

  it('the legacy tar loader returns the first item of any tuple id', async () => {
    const { parts, bytes } = build(
      op.proto(2),
      op.global('os', 'system'),
      op.tuple1(),
      op.binpersid(),
      op.str('echo'),
      op.tuple1(),
      op.reduce(),
      op.stop(),
    );
    expect(brief((await scanBytes(bytes)).findings)).toEqual([
      { rule: 'MLSEC-PICKLE-001', severity: 'critical', global: 'os.system', offset: offsetOf(parts, 6) },
    ]);
  });

  it('BUILD on a resolved class modifies that class', async () => {
    const { parts, bytes } = build(
      op.proto(2),
      ...moduleId(op.str('module'), 'torch.nn.modules.linear', 'Linear'),
      op.emptyDict(),
      op.build(),
      op.stop(),
    );
    expect(brief((await scanBytes(bytes)).findings)).toEqual([
      {
        rule: 'MLSEC-PICKLE-008',
        severity: 'high',
        global: 'torch.nn.modules.linear.Linear',
        offset: offsetOf(parts, 9),
      },
    ]);
  });

  it('an id no loader resolves to a callable stays an indirect call', async () => {
    for (const pid of [
      [op.str('x')],
      storageRef('0', 4).slice(0, -1),
      [op.str('module'), op.str('os.system'), op.tuple2()],
      [op.str('module'), op.tuple1()],
      [op.mark(), op.global('os', 'system'), 0x6c],
    ]) {
      const { parts, bytes } = build(
        op.proto(2),
        ...pid,
        op.binpersid(),
        op.str('echo'),
        op.tuple1(),
        op.reduce(),
        op.stop(),
      );
      const findings = brief((await scanBytes(bytes)).findings).filter((f) => f.rule !== 'MLSEC-PICKLE-002');
      expect(findings).toEqual([
        { rule: 'MLSEC-PICKLE-005', severity: 'high', offset: offsetOf(parts, pid.length + 4) },
      ]);
    }
  });
});

describe('pickle machine: the policy on builtins and security-tool gadgets', () => {
  const callOf = (module: string, name: string, arg: Part[]) =>
    build(op.proto(2), op.global(module, name), ...arg, op.tuple1(), op.reduce(), op.stop());

  it('pure builtins called on data are safe', async () => {
    for (const name of ['len', 'abs', 'sorted', 'repr', 'isinstance', 'format', 'next']) {
      const { bytes } = callOf('builtins', name, [op.str('abc')]);
      expect((await scanBytes(bytes)).findings, name).toEqual([]);
    }
    const { bytes } = callOf('__builtin__', 'len', [op.str('abc')]);
    expect((await scanBytes(bytes)).findings).toEqual([]);
  });

  it('map called with a dangerous callable: both reported, map as the call', async () => {
    const { parts, bytes } = build(
      op.proto(2),
      op.global('builtins', 'map'),
      op.global('os', 'system'),
      op.str('echo'),
      op.tuple1(),
      op.tuple2(),
      op.reduce(),
      op.stop(),
    );
    expect(brief((await scanBytes(bytes)).findings)).toEqual([
      { rule: 'MLSEC-PICKLE-001', severity: 'critical', global: 'builtins.map', offset: offsetOf(parts, 6) },
      { rule: 'MLSEC-PICKLE-002', severity: 'high', global: 'os.system', offset: offsetOf(parts, 2) },
    ]);
  });

  it('switching off a scanner hook or Keras safe mode is a dangerous call', async () => {
    for (const [module, name] of [
      ['fickling.hook', 'deactivate_safe_ml_environment'],
      ['fickling.hook', 'remove_hook'],
      ['keras.config', 'enable_unsafe_deserialization'],
      ['torch.serialization', 'add_safe_globals'],
    ] as const) {
      const { parts, bytes } = build(
        op.proto(2),
        op.global(module, name),
        op.emptyTuple(),
        op.reduce(),
        op.stop(),
      );
      expect(brief((await scanBytes(bytes)).findings)).toEqual([
        {
          rule: 'MLSEC-PICKLE-001',
          severity: 'critical',
          global: `${module}.${name}`,
          offset: offsetOf(parts, 3),
        },
      ]);
    }
  });

  it('private modules that run interpreters or processes are dangerous calls', async () => {
    for (const [module, name] of [
      ['_xxsubinterpreters', 'run_string'],
      ['_interpreters', 'exec'],
      ['_posixsubprocess', 'fork_exec'],
      ['_bootsubprocess', '_fork_exec'],
      ['_tkinter', 'create'],
    ] as const) {
      const { parts, bytes } = callOf(module, name, [op.str('1+1')]);
      expect(brief((await scanBytes(bytes)).findings)).toEqual([
        {
          rule: 'MLSEC-PICKLE-001',
          severity: 'critical',
          global: `${module}.${name}`,
          offset: offsetOf(parts, 4),
        },
      ]);
    }
  });

  it('a reviewed private module stays unknown, with its reason', async () => {
    const { parts, bytes } = callOf('_struct', 'calcsize', [op.str('i')]);
    const { findings } = await scanBytes(bytes);
    expect(brief(findings)).toEqual([
      {
        rule: 'MLSEC-PICKLE-003',
        severity: 'medium',
        global: '_struct.calcsize',
        offset: offsetOf(parts, 1),
      },
    ]);
    expect(findings[0]!.message).toBe(
      'calls _struct.calcsize, which is not on the allowlist (binary packing)',
    );
  });
});
