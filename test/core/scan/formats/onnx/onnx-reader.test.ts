import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { afterAll, describe, expect, it } from 'vitest';
import { unsafeLocation } from '../../../../../src/core/scan/formats/onnx/onnx-reader.js';
import { scanArtifact } from '../../../../../src/core/scan/scan-artifact.js';
import { openFileArtifact } from '../../../../../src/io/file-source.js';
import { root } from '../../../../helpers/cli.js';
import { scanBytes } from '../../../../helpers/scan.js';

const folder = join(root, 'fixtures', 'onnx');

async function scanFile(path: string) {
  return scanArtifact({ path, size: statSync(path).size, open: () => openFileArtifact(path) });
}

const brief = (findings: readonly { rule: string; severity: string; message: string }[]) =>
  findings.map((f) => [f.rule, f.severity, f.message]);

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.onnx'))
    .sort();
}

/** Protobuf writers for hand-made hostile models. */
const len = (no: number, bytes: Uint8Array) => new BinaryWriter().tag(no, 2).bytes(bytes).finish();
const str = (no: number, text: string) => new BinaryWriter().tag(no, 2).string(text).finish();
function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
const irVersion = new BinaryWriter().tag(1, 0).uint64(8).finish();
const opsetDefault = len(8, cat(str(1, ''), new BinaryWriter().tag(2, 0).uint64(13).finish()));
const model = (graph: Uint8Array) => cat(irVersion, str(2, 'pytorch'), len(7, graph), opsetDefault);
const node = (op: string, ...rest: Uint8Array[]) => len(1, cat(str(4, op), ...rest));
const externalTensor = (name: string, location: string) =>
  cat(
    str(8, name),
    len(13, cat(str(1, 'location'), str(2, location))),
    new BinaryWriter().tag(14, 0).uint64(1).finish(),
  );

describe('ONNX reader', () => {
  it('passes realistic models: inline and external data, contrib and ai.onnx.ml operators, subgraphs', async () => {
    for (const name of files(join(folder, 'benign'))) {
      const report = await scanFile(join(folder, 'benign', name));
      const expected =
        name === 'local-function.onnx'
          ? [['MLSEC-ONNX-003', 'info', 'model-local function "pkg.custom.LayerNormGelu" (2 nodes)']]
          : [];
      expect([name, report.format, brief(report.findings)]).toEqual([name, 'onnx', expected]);
    }
  });

  it('blocks every external-data location that leaves the model folder', async () => {
    const leak = (tensor: string, location: string, why: string) => [
      'MLSEC-ONNX-001',
      'high',
      `tensor "${tensor}" keeps its data at ${JSON.stringify(location)}, which ${why}: loading reads a file outside the model folder`,
    ];
    const expected: Record<string, unknown[]> = {
      'external-absolute.onnx': [leak('embed.weight', '/etc/passwd', 'is an absolute path')],
      'external-in-subgraph.onnx': [
        leak('secret', '../../.ssh/id_rsa', 'climbs out of the model folder with ..'),
      ],
      'external-traversal.onnx': [
        leak('embed.weight', '../../../../../../etc/passwd', 'climbs out of the model folder with ..'),
      ],
      'external-unc.onnx': [
        leak('embed.weight', '\\\\attacker.example\\share\\w.bin', 'is an absolute path'),
      ],
      'external-url.onnx': [leak('embed.weight', 'file:///etc/passwd', 'has a URL scheme')],
      'external-windows-drive.onnx': [leak('embed.weight', 'C:\\Windows\\win.ini', 'names a drive')],
    };
    expect(files(join(folder, 'malicious'))).toEqual(Object.keys(expected));
    for (const [name, findings] of Object.entries(expected)) {
      const report = await scanFile(join(folder, 'malicious', name));
      expect([name, brief(report.findings)]).toEqual([name, findings]);
    }
  });

  it('names custom operator domains (low) and Python operators (medium)', async () => {
    expect(brief((await scanFile(join(folder, 'review', 'custom-domain.onnx'))).findings)).toEqual([
      [
        'MLSEC-ONNX-002',
        'low',
        'custom operator domain "com.example.customops" is used by 1 node ("FastGelu"): its operators come from a library the loader must register',
      ],
    ]);
    expect(brief((await scanFile(join(folder, 'review', 'python-op.onnx'))).findings)).toEqual([
      [
        'MLSEC-ONNX-004',
        'medium',
        'node "py_hook" is a ai.onnx.contrib.PyOp operator, which calls a Python function the loading process looks up by name',
      ],
      [
        'MLSEC-ONNX-002',
        'low',
        'custom operator domain "ai.onnx.contrib" is used by 1 node ("PyOp"): its operators come from a library the loader must register',
      ],
    ]);
  });

  describe('symbolic links', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlsec-onnx-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('follows a plain external-data location through links, as the loader opens it', async () => {
      const modelDir = join(dir, 'model');
      mkdirSync(join(modelDir, 'weights'), { recursive: true });
      mkdirSync(join(dir, 'secrets'));
      copyFileSync(join(folder, 'benign', 'external-data', 'model.onnx'), join(modelDir, 'model.onnx'));
      copyFileSync(
        join(folder, 'benign', 'external-data', 'subdir-model.onnx'),
        join(modelDir, 'subdir-model.onnx'),
      );
      copyFileSync(join(folder, 'benign', 'external-data', 'model.onnx.data'), join(dir, 'secrets', 'key'));
      symlinkSync(join(dir, 'secrets', 'key'), join(modelDir, 'model.onnx.data'));
      // weights/x leaves the folder by an absolute path, but what the location reaches through it is inside.
      copyFileSync(
        join(folder, 'benign', 'external-data', 'weights', 'model.onnx.data'),
        join(modelDir, 'real.bin'),
      );
      symlinkSync(modelDir, join(modelDir, 'weights', 'x'));
      symlinkSync('x/real.bin', join(modelDir, 'weights', 'model.onnx.data'));
      const target = join(dir, 'secrets', 'key');
      const report = await scanFile(join(modelDir, 'model.onnx'));
      expect(report.findings.map((f) => [f.rule, f.severity])).toEqual(
        Array(3).fill(['MLSEC-ONNX-001', 'high']),
      );
      expect(report.findings[0]!.message).toBe(
        `tensor "fc1.weight" keeps its data at "model.onnx.data", which resolves through a symbolic link to ${target}: loading reads a file outside the model folder`,
      );
      const sub = await scanFile(join(modelDir, 'subdir-model.onnx'));
      expect(sub.findings).toEqual([]);
    });

    it('does not resolve locations of a model inside an archive or a buffer', async () => {
      const bytes = readFileSync(join(folder, 'benign', 'external-data', 'model.onnx'));
      expect((await scanBytes(bytes, { name: 'model.onnx' })).findings).toEqual([]);
    });
  });

  it('reads a model that only streams (inside gzip) from a bounded buffer', async () => {
    const bytes = readFileSync(join(folder, 'malicious', 'external-absolute.onnx'));
    const result = await scanBytes(gzipSync(bytes), { name: 'model.onnx.gz' });
    expect(result.findings.map((f) => [f.rule, f.member])).toEqual([['MLSEC-ONNX-001', 'model.onnx']]);
  });

  it('judges locations by text as onnx and onnxruntime join them', () => {
    expect(
      [
        'model.onnx.data',
        'weights/a.bin',
        'a..b',
        '',
        'x\0',
        'D:a',
        'https://x/y',
        '/a',
        '\\a',
        'a/../../b',
        'a\\..\\b',
      ].map(unsafeLocation),
    ).toEqual([
      undefined,
      undefined,
      undefined,
      'is empty',
      'contains a NUL character',
      'names a drive',
      'has a URL scheme',
      'is an absolute path',
      'is an absolute path',
      'climbs out of the model folder with ..',
      'climbs out of the model folder with ..',
    ]);
  });

  it('finds external data in attribute tensors, sparse initializers and training graphs', async () => {
    const constant = node(
      'Constant',
      len(5, cat(str(1, 'value'), len(5, externalTensor('c', '/proc/self/environ')))),
    );
    const sparse = len(15, len(1, externalTensor('sparse.values', '../v.bin')));
    const training = len(20, len(1, len(5, externalTensor('init', '/dev/zero'))));
    const result = await scanBytes(cat(model(cat(constant, sparse)), training), { name: 'model.onnx' });
    expect(result.format).toBe('onnx');
    expect(result.findings.map((f) => f.message.split(',')[0])).toEqual([
      'tensor "c" keeps its data at "/proc/self/environ"',
      'tensor "sparse.values" keeps its data at "../v.bin"',
      'tensor "init" keeps its data at "/dev/zero"',
    ]);
  });

  describe('hostile input', () => {
    const graph = cat(node('Relu'), len(5, cat(str(8, 'w'), len(9, new Uint8Array(1000)))));
    const good = model(graph);

    it('reports a truncated model and keeps what it read', async () => {
      const result = await scanBytes(good.subarray(0, good.length - 600), { name: 'model.onnx' });
      expect(brief(result.findings)).toEqual([
        [
          'MLSEC-ONNX-005',
          'medium',
          'ONNX protobuf cannot be fully decoded: field 7 at offset 11 claims 1017 bytes, past the end of its message; what follows was not inspected',
        ],
      ]);
    });

    it('never reads or allocates a length that claims gigabytes', async () => {
      const huge = cat(
        irVersion,
        str(2, 'x'),
        new BinaryWriter()
          .tag(7, 2)
          .uint64(2n ** 40n)
          .finish(),
        graph,
      );
      const result = await scanBytes(huge, { name: 'model.onnx' });
      expect(result.findings.map((f) => f.message)).toEqual([
        'ONNX protobuf cannot be fully decoded: field 7 at offset 5 claims 1099511627776 bytes, past the end of its message; what follows was not inspected',
      ]);
      const inner = model(
        cat(
          new BinaryWriter()
            .tag(1, 2)
            .uint64(2n ** 40n)
            .finish(),
          graph,
        ),
      );
      const scanned = await scanBytes(inner, { name: 'model.onnx' });
      expect(scanned.findings.map((f) => f.message)).toEqual([
        'ONNX protobuf cannot be fully decoded: field 1 at offset 14 claims 1099511627776 bytes, past the end of its message; what follows was not inspected',
      ]);
    });

    it('stops graphs nested in attributes past the depth limit', async () => {
      let inner = node('Relu');
      for (let i = 0; i < 200; i++) inner = node('If', len(5, cat(str(1, 'then_branch'), len(6, inner))));
      const result = await scanBytes(model(inner), { name: 'model.onnx' });
      expect(result.findings.map((f) => f.message)).toEqual([
        'ONNX protobuf cannot be fully decoded: graphs nested more than 32 deep; what follows was not inspected',
      ]);
    });

    it('refuses wire types ONNX never writes', async () => {
      const result = await scanBytes(model(cat(node('Relu'), new BinaryWriter().tag(3, 3).finish())), {
        name: 'model.onnx',
      });
      expect(result.findings.map((f) => f.message)).toEqual([
        'ONNX protobuf cannot be fully decoded: field 3 at offset 21 uses wire type 3, which ONNX never writes; what follows was not inspected',
      ]);
    });

    it('walks 200,000 nodes in bounded time and reports a custom domain once', async () => {
      const custom = node('Op', str(7, 'evil.ops'));
      const nodes = new Uint8Array(custom.length * 200_000);
      for (let i = 0; i < 200_000; i++) nodes.set(custom, i * custom.length);
      const started = Date.now();
      const result = await scanBytes(model(nodes), { name: 'model.onnx' });
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(result.findings.map((f) => f.message)).toEqual([
        'custom operator domain "evil.ops" is used by 200000 nodes ("Op"): its operators come from a library the loader must register',
      ]);
    });
  });
});
