import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultLimits } from '../../../../../src/core/scan/limits.js';
import { GlobalPolicy } from '../../../../../src/core/scan/policy/global-policy.js';
import { scanSource } from '../../../../../src/core/scan/scan-source.js';
import { bufferAccess, randomAccessSource } from '../../../../../src/core/source.js';
import { fixture } from '../../../../helpers/cli.js';
import { scanBytes } from '../../../../helpers/scan.js';

const base = fixture('../tensorflow');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : name.endsWith('.pb') ? [path] : [];
  });
}

async function scanFixture(path: string) {
  const result = await scanBytes(readFileSync(join(base, path)), { name: path });
  return { ...result, brief: result.findings.map((f) => [f.rule, f.severity, f.message]) };
}

const H = 'high';
/** Exact findings of every fixture fixtures/tensorflow/generate.py writes. */
const expected: Record<string, [string, string, string][]> = {
  'benign/frozen_graph.pb': [],
  'benign/tf1-estimator/saved_model.pb': [],
  'benign/tf2-keras-dense/keras_metadata.pb': [],
  'benign/tf2-keras-dense/saved_model.pb': [],
  'benign/tf2-text-vocab/saved_model.pb': [
    [
      'MLSEC-TF-003',
      'low',
      'op InitializeTableFromTextFileV2 initialises a lookup table from a file: node "InitializeTableFromTextFileV2" of function "__inference__initializer_900"',
    ],
  ],
  'malicious/debugidentity-url/saved_model.pb': [
    [
      'MLSEC-TF-001',
      H,
      'op DebugIdentityV2 sends tensors to "file:///srv/mlsec-fixture-dump": node "DebugIdentityV2" of function "__inference_call_1100"',
    ],
  ],
  'malicious/eagerpyfunc-in-serving/saved_model.pb': [
    [
      'MLSEC-TF-001',
      H,
      'op EagerPyFunc calls a Python function of the loading process: node "EagerPyFunc" of function "__inference_signature_wrapper_1180"',
    ],
  ],
  'malicious/frozen-readfile.pb': [
    ['MLSEC-TF-001', H, 'op ReadFile reads files ("/etc/passwd"): node "secret/ReadFile"'],
  ],
  'malicious/graph-library-writefile.pb': [
    [
      'MLSEC-TF-001',
      H,
      'op WriteFile writes files ("/srv/mlsec-fixture"): node "WriteFile" of function "exfiltrate"',
    ],
  ],
  'malicious/immutableconst/saved_model.pb': [
    [
      'MLSEC-TF-001',
      H,
      'op ImmutableConst memory-maps a file named by the graph: node "ImmutableConst" of function "__inference_call_1100"',
    ],
  ],
  'malicious/keras-lambda-bytecode/keras_metadata.pb': [
    [
      'MLSEC-TF-005',
      H,
      'Lambda layer "lambda" holds marshalled Python bytecode that runs when the model is loaded (layer "root")',
    ],
    [
      'MLSEC-TF-005',
      H,
      'Lambda layer "lambda" holds marshalled Python bytecode that runs when the model is loaded (layer "root.layer-1")',
    ],
  ],
  'malicious/keras-lambda-os-system/keras_metadata.pb': [
    ['MLSEC-TF-005', H, 'Lambda layer "run" calls os.system when the model is loaded (layer "root.layer-1")'],
  ],
  'malicious/matchingfiles-in-model-call/saved_model.pb': [
    [
      'MLSEC-TF-001',
      H,
      'op MatchingFiles reads files ("/home/*/.ssh/*"): node "secret/MatchingFiles" of function "__inference_call_1100"',
    ],
  ],
  'malicious/printv2-to-file/saved_model.pb': [
    [
      'MLSEC-TF-001',
      H,
      'op PrintV2 appends to the file "file:///srv/mlsec-fixture.log": node "PrintV2" of function "__inference_call_1100"',
    ],
  ],
  'malicious/pyfunc-top-level/saved_model.pb': [
    ['MLSEC-TF-001', H, 'op PyFunc calls a Python function of the loading process: node "PyFunc"'],
  ],
  'malicious/readfile-in-if-branch/saved_model.pb': [
    [
      'MLSEC-TF-001',
      H,
      'op ReadFile reads files ("/proc/self/environ"): node "secret/ReadFile" of function "__inference_cond_true_700"',
    ],
  ],
  'malicious/readfile-in-serving/saved_model.pb': [
    [
      'MLSEC-TF-001',
      H,
      'op ReadFile reads files ("/etc/passwd"): node "secret/ReadFile" of function "__inference__wrapped_model_1120"',
    ],
  ],
  'malicious/restorev2-outside-saver/saved_model.pb': [
    [
      'MLSEC-TF-002',
      H,
      'checkpoint op RestoreV2 reads files ("/etc/ssl/private/key") and is outside the functions the SaverDef names: node "RestoreV2" of function "__inference_restore_secrets_800"',
    ],
  ],
  'malicious/restorev2-fixed-path-in-saver/saved_model.pb': [
    [
      'MLSEC-TF-002',
      H,
      'checkpoint op RestoreV2 reads files ("/etc/ssl/private/key") and uses a fixed path instead of the checkpoint the loader names: node "RestoreV2" of function "__inference__traced_restore_1262"',
    ],
  ],
  'malicious/savev2-in-serving/saved_model.pb': [
    [
      'MLSEC-TF-002',
      H,
      'checkpoint op SaveV2 writes files ("/srv/mlsec-fixture") and runs when a serving signature is called: node "evil/SaveV2" of function "__inference__wrapped_model_1120"',
    ],
  ],
  'malicious/table-from-absolute-path/saved_model.pb': [
    [
      'MLSEC-TF-001',
      H,
      'op InitializeTableFromTextFileV2 reads files ("/etc/passwd"): node "InitializeTableFromTextFileV2" of function "__inference__initializer_901"',
    ],
  ],
  'malicious/tf1-savev2-in-serving/saved_model.pb': [
    [
      'MLSEC-TF-002',
      H,
      'checkpoint op SaveV2 writes files ("/srv/mlsec-fixture") and runs when a serving signature is called: node "exfil/SaveV2"',
    ],
  ],
  'malicious/writefile-in-function/saved_model.pb': [
    [
      'MLSEC-TF-001',
      H,
      'op WriteFile writes files ("/srv/mlsec-fixture"): node "WriteFile" of function "__inference_helper_500"',
    ],
  ],
};

describe('TensorFlow fixtures', () => {
  it('the expectations cover every generated fixture', () => {
    expect(
      files(base)
        .map((f) => relative(base, f))
        .sort(),
    ).toEqual(Object.keys(expected).sort());
  });
  for (const [path, findings] of Object.entries(expected)) {
    it(path, async () => {
      const result = await scanFixture(path);
      expect(result.format).toBe(
        path.endsWith('keras_metadata.pb')
          ? 'keras-metadata'
          : path.endsWith('saved_model.pb')
            ? 'tf-saved-model'
            : 'tf-graph-def',
      );
      expect(result.brief).toEqual(findings);
      expect(result.partial).toBe(false);
      if (path.startsWith('malicious/')) expect(findings.some((f) => f[1] === H)).toBe(true);
    });
  }
});

// Hand-encoded protobuf, as the generator writes it.
function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}
const ld = (field: number, payload: Uint8Array | number[] | string): number[] => {
  const bytes = typeof payload === 'string' ? [...new TextEncoder().encode(payload)] : [...payload];
  return [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
};
const node = (name: string, op: string, ...rest: number[][]) =>
  ld(1, [...ld(1, name), ...ld(2, op), ...rest.flat()]);

describe('keras_metadata.pb Lambda functions are judged by the global policy', () => {
  const metadata = (module: string, fn: string) => {
    const layer = {
      class_name: 'Lambda',
      config: { name: 'l', function: fn, function_type: 'function', module },
    };
    const object = [
      ...[0x10, 0x01],
      ...ld(3, 'root.layer-1'),
      ...ld(4, '_tf_keras_layer'),
      ...ld(5, JSON.stringify(layer)),
    ];
    return new Uint8Array(ld(1, object));
  };

  it('reports an unknown function as medium, allowlistable like a pickle global', async () => {
    const bytes = metadata('mypkg.layers', 'scale');
    const result = await scanBytes(bytes, { name: 'keras_metadata.pb' });
    expect(result.findings.map((f) => [f.rule, f.severity, f.global, f.message])).toEqual([
      [
        'MLSEC-PICKLE-003',
        'medium',
        'mypkg.layers.scale',
        'Lambda layer "l" calls mypkg.layers.scale when the model is loaded, a function that is not on the allowlist (layer "root.layer-1")',
      ],
    ]);
    const allowed = await scanBytes(bytes, {
      name: 'keras_metadata.pb',
      policy: { allow: ['mypkg.layers.*'] },
    });
    expect(allowed.findings).toEqual([]);
  });

  it('reports a dangerous function as high, and nothing for Keras functions', async () => {
    const result = await scanBytes(metadata('subprocess', 'Popen'), { name: 'keras_metadata.pb' });
    expect(result.findings.map((f) => [f.rule, f.severity, f.global])).toEqual([
      ['MLSEC-TF-005', 'high', 'subprocess.Popen'],
    ]);
    expect((await scanBytes(metadata('keras.activations', 'relu'))).findings).toEqual([]);
  });
});

describe('hostile TensorFlow protobuf', () => {
  const model = readFileSync(join(base, 'malicious/readfile-in-serving/saved_model.pb'));

  it('reports a truncated SavedModel as malformed and still reports what it read', async () => {
    for (const cut of [40, Math.floor(model.length / 2), model.length - 3]) {
      const result = await scanBytes(model.subarray(0, cut), { name: 'saved_model.pb' });
      expect(result.format).toBe('tf-saved-model');
      expect(result.findings.map((f) => [f.rule, f.severity])).toContainEqual(['MLSEC-TF-004', 'medium']);
      expect(result.partial).toBe(true);
    }
  });

  it('reports lengths that claim gigabytes without allocating them', async () => {
    const bytes = new Uint8Array([
      0x08,
      0x01,
      0x12,
      ...varint(2 ** 40),
      0x12,
      0x05,
      0x0a,
      0x03,
      0x61,
      0x62,
      0x63,
    ]);
    const result = await scanBytes(bytes, { name: 'saved_model.pb' });
    expect(result.findings.map((f) => [f.rule, f.message, f.offset])).toEqual([
      [
        'MLSEC-TF-004',
        `TensorFlow protobuf cannot be fully read: field 2 at offset 2 claims ${2 ** 40} bytes, past the end of its message at 16`,
        2,
      ],
    ]);
  });

  for (const depth of [20_000, 200_000]) {
    it(`survives ${depth} nested groups inside an attribute (a recursive message)`, async () => {
      const nested = [...new Array(depth).fill(0x0b), ...new Array(depth).fill(0x0c)]; // field 1 start/end group
      const bytes = new Uint8Array(node('x', 'ReadFile', ld(5, [...ld(1, 'evil'), ...ld(2, nested)])));
      const result = await scanBytes(bytes, { name: 'graph.pb' });
      expect(result.format).toBe('tf-graph-def');
      expect(result.findings.map((f) => [f.rule, f.message])).toEqual([
        ['MLSEC-TF-004', 'an attribute of node "x" cannot be decoded'],
        ['MLSEC-TF-001', 'op ReadFile reads files: node "x"'],
      ]);
    });
  }

  it('follows function attributes nested in lists and calls through functions that call themselves', async () => {
    // A function that calls itself and, through a list attribute, one that writes a file.
    const selfCall = [
      ...ld(1, 'loop'),
      ...ld(2, 'recursive'),
      ...ld(5, [...ld(1, 'branches'), ...ld(2, ld(1, ld(9, ld(1, 'writer'))))]),
    ];
    const writer = [...ld(1, 'w'), ...ld(2, 'WriteFile')];
    const library = ld(2, [
      ...ld(1, [...ld(1, ld(1, 'recursive')), ...ld(3, selfCall)]),
      ...ld(1, [...ld(1, ld(1, 'writer')), ...ld(3, writer)]),
    ]);
    const bytes = new Uint8Array([...node('call', 'recursive'), ...library]);
    const result = await scanBytes(bytes, { name: 'graph.pb' });
    expect(result.findings.map((f) => [f.rule, f.message])).toEqual([
      ['MLSEC-TF-001', 'op WriteFile writes files: node "w" of function "writer"'],
    ]);
  });

  it('reads only the graph structure of a frozen graph with large weights', async () => {
    const weights = new Uint8Array(64 * 2 ** 20);
    // Const node whose value attribute holds a 64 MiB tensor_content (TensorProto field 4).
    const tensorProto = [0x08, 0x01, ...varint((4 << 3) | 2), ...varint(weights.length)];
    const attrValue = [...varint((8 << 3) | 2), ...varint(tensorProto.length + weights.length)];
    const entryHead = [
      ...ld(1, 'value'),
      ...varint((2 << 3) | 2),
      ...varint(attrValue.length + tensorProto.length + weights.length),
    ];
    const nodeBody = [
      ...ld(1, 'w'),
      ...ld(2, 'Const'),
      ...varint((5 << 3) | 2),
      ...varint(entryHead.length + attrValue.length + tensorProto.length + weights.length),
    ];
    const prefix = new Uint8Array([
      0x0a,
      ...varint(nodeBody.length + entryHead.length + attrValue.length + tensorProto.length + weights.length),
      ...nodeBody,
      ...entryHead,
      ...attrValue,
      ...tensorProto,
    ]);
    const tail = new Uint8Array(node('r', 'ReadFile'));
    const file = new Uint8Array(prefix.length + weights.length + tail.length);
    file.set(prefix);
    file.set(tail, prefix.length + weights.length);
    let read = 0;
    const access = bufferAccess(file);
    const counting = {
      size: access.size,
      read: (offset: number, length: number) => {
        read += Math.min(length, Math.max(0, access.size - offset));
        return access.read(offset, length);
      },
    };
    const result = await scanSource(randomAccessSource(counting), 'frozen.pb', {
      policy: new GlobalPolicy(),
      limits: defaultLimits,
    });
    expect(result.format).toBe('tf-graph-def');
    expect(result.findings.map((f) => f.message)).toEqual(['op ReadFile reads files: node "r"']);
    // The 64 KiB head every detector sees, and blocks of the structure: not the weights.
    expect(read).toBeLessThan(512 * 1024);
  });
});

/**
 * The fixtures are hand-encoded, so a complete protobuf decoder (protobufjs, with the whole
 * SavedModel → MetaGraphDef → GraphDef → NodeDef/FunctionDef chain of the public .proto files)
 * must read them as TensorFlow would: every node named, with an op, in the right place.
 */
describe('fixtures decode with a full protobuf decoder', async () => {
  const { default: protobuf } = await import('protobufjs');
  const descriptor = {
    nested: {
      SavedModel: {
        fields: {
          version: { type: 'int64', id: 1 },
          metaGraphs: { rule: 'repeated', type: 'MetaGraphDef', id: 2 },
        },
      },
      MetaGraphDef: {
        fields: {
          graphDef: { type: 'GraphDef', id: 2 },
          saverDef: { type: 'SaverDef', id: 3 },
          signatureDef: { keyType: 'string', type: 'SignatureDef', id: 5 },
        },
      },
      SaverDef: {
        fields: {
          filenameTensorName: { type: 'string', id: 1 },
          saveTensorName: { type: 'string', id: 2 },
          restoreOpName: { type: 'string', id: 3 },
        },
      },
      SignatureDef: { fields: { outputs: { keyType: 'string', type: 'TensorInfo', id: 2 } } },
      TensorInfo: { fields: { name: { type: 'string', id: 1 }, dtype: { type: 'int32', id: 2 } } },
      GraphDef: {
        fields: { node: { rule: 'repeated', type: 'NodeDef', id: 1 }, library: { type: 'Library', id: 2 } },
      },
      Library: { fields: { function: { rule: 'repeated', type: 'FunctionDef', id: 1 } } },
      FunctionDef: {
        fields: {
          signature: { type: 'OpDef', id: 1 },
          nodeDef: { rule: 'repeated', type: 'NodeDef', id: 3 },
        },
      },
      OpDef: { fields: { name: { type: 'string', id: 1 } } },
      NodeDef: {
        fields: {
          name: { type: 'string', id: 1 },
          op: { type: 'string', id: 2 },
          input: { rule: 'repeated', type: 'string', id: 3 },
          attr: { keyType: 'string', type: 'AttrValue', id: 5 },
        },
      },
      AttrValue: {
        fields: { s: { type: 'bytes', id: 2 }, i: { type: 'int64', id: 3 }, type: { type: 'int32', id: 6 } },
      },
    },
  };
  const root = protobuf.Root.fromJSON(descriptor);
  const SavedModel = root.lookupType('SavedModel');
  const GraphDef = root.lookupType('GraphDef');
  type Node = { name: string; op: string };
  type Graph = {
    node?: Node[];
    library?: { function?: { signature: { name: string }; nodeDef?: Node[] }[] };
  };
  for (const path of Object.keys(expected).filter((p) => !p.endsWith('keras_metadata.pb'))) {
    it(path, () => {
      const bytes = readFileSync(join(base, path));
      const graph = (
        path.endsWith('saved_model.pb')
          ? (SavedModel.toObject(SavedModel.decode(bytes)) as { metaGraphs: { graphDef: Graph }[] })
              .metaGraphs[0]!.graphDef
          : GraphDef.toObject(GraphDef.decode(bytes))
      ) as Graph;
      const nodes = [
        ...(graph.node ?? []),
        ...(graph.library?.function ?? []).flatMap((f) => f.nodeDef ?? []),
      ];
      expect(nodes.length).toBeGreaterThan(0);
      for (const node of nodes) expect(node.op).toMatch(/^[A-Z][A-Za-z0-9]*$/);
      for (const [, , message] of expected[path]!) {
        const op = /op (\w+)/.exec(message)![1];
        expect(nodes.map((n) => n.op)).toContain(op);
      }
    });
  }
});
