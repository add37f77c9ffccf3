import { createReadStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MlsecError } from '../../../src/core/errors.js';
import { digestBytes, digestStream } from '../../../src/core/hash/digest.js';
import {
  buildOmsPredicate,
  buildOmsStatement,
  compareCodePoints,
  comparePaths,
  compareShards,
  type FileDigestInput,
  normalizeIgnorePath,
  type OmsPredicate,
  type OmsStatement,
  omsModelDigest,
  parseShardName,
  planShards,
  resolveIgnorePaths,
  resourceAlgorithmMatches,
  resourcePathProblem,
  type ShardDigestInput,
  shardName,
  shardRanges,
  shouldIgnore,
} from '../../../src/core/hash/manifest.js';
import { root } from '../../helpers/cli.js';

// Upstream model_signing vectors live beside the project, not in it; user clones do not have them.
const vectors = join(root, '..', 'shared', 'oms-vectors');
const haveVectors = existsSync(vectors);

const text = (value: string) => new TextEncoder().encode(value);
const signme1 = 'f6310066c7320497ea554260c32c43660bff648cb2a61194832cc086077085e1'; // sha256('signme-1')
const signme1n = 'bc9a717db6064a32cbe9eae6fc40651dd6d36ef1757183f590eff2b1765d7ebc'; // sha256('signme-1\n')
const signme2 = '32dcb1f8e1ae52d5963e56a6ba06ab58b424c15ed2a6b70d2feca1d089370028'; // sha256('signme-2')
const emptySha256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('resource order', () => {
  it('sorts paths component-wise by code point, as PurePosixPath does', () => {
    // Expected: Python 3.11 `sorted(PurePosixPath(n) for n in names)`.
    const names = [
      'tokenizer.json',
      'tokenizer/x',
      'a b',
      'a/b',
      'a-b',
      'A',
      'a',
      '\uff01',
      '\u{1f600}',
      'x/\uff01',
      'x/\u{1f600}',
    ];
    expect([...names].sort(comparePaths)).toEqual([
      'A',
      'a',
      'a/b',
      'a b',
      'a-b',
      'tokenizer/x',
      'tokenizer.json',
      'x/\uff01',
      'x/\u{1f600}',
      '\uff01',
      '\u{1f600}',
    ]);
  });

  it('compares by code point where UTF-16 order differs', () => {
    expect('\u{1f600}' < '\uff01').toBe(true); // what plain JS does
    expect(compareCodePoints('\u{1f600}', '\uff01')).toBeGreaterThan(0);
    expect(compareCodePoints('\u{1f600}', '\u{1f601}')).toBeLessThan(0);
    expect(compareCodePoints('ab', 'a')).toBeGreaterThan(0);
    expect(compareCodePoints('same', 'same')).toBe(0);
  });

  it('sorts shards by path, then start and end as numbers', () => {
    const shards = ['f:10:20', 'f.b:0:1', 'f:2:10', 'f/g:0:1', 'f:0:2'].map((name) => parseShardName(name)!);
    // Expected: Python 3.11, sorted dataclass(order=True) of (PurePosixPath, int, int).
    expect(shards.sort(compareShards).map(shardName)).toEqual([
      'f:0:2',
      'f:2:10',
      'f:10:20',
      'f/g:0:1',
      'f.b:0:1',
    ]);
  });
});

describe('shards', () => {
  it('cuts [0,S) [S,2S) … and nothing for an empty file', () => {
    expect(shardRanges(0, 8)).toEqual([]);
    expect(shardRanges(5, 8)).toEqual([[0, 5]]);
    expect(shardRanges(16, 8)).toEqual([
      [0, 8],
      [8, 16],
    ]);
    expect(shardRanges(22, 8)).toEqual([
      [0, 8],
      [8, 16],
      [16, 22],
    ]);
    expect(() => shardRanges(10, 0)).toThrow(MlsecError);
    expect(() => shardRanges(10, 1.5)).toThrow(/positive integer/);
  });

  it('plans every shard in manifest order', () => {
    const plan = planShards(
      [
        { path: 'tokenizer.json', size: 3 },
        { path: 'empty', size: 0 },
        { path: 'tokenizer/x', size: 20 },
      ],
      8,
    );
    expect(plan.map(shardName)).toEqual([
      'tokenizer/x:0:8',
      'tokenizer/x:8:16',
      'tokenizer/x:16:20',
      'tokenizer.json:0:3',
    ]);
  });

  it('reads shard names by the last two colons, with canonical offsets', () => {
    expect(parseShardName('a:b/c:0:8')).toEqual({ path: 'a:b/c', start: 0, end: 8 });
    expect(parseShardName('.:16:22')).toEqual({ path: '.', start: 16, end: 22 });
    for (const bad of ['f:08:9', 'f:8:8', 'f:9:8', 'f:-1:8', ':0:8', 'f:0', 'f:+0:8', 'f:0:1e3']) {
      expect(parseShardName(bad), bad).toBeUndefined();
    }
  });

  it('accepts the Python and the spec shard algorithm labels', () => {
    const shards = { method: 'shards', hash_type: 'sha256', shard_size: 8, allow_symlinks: false } as const;
    expect(resourceAlgorithmMatches('sha256-sharded-8', shards)).toBe(true);
    expect(resourceAlgorithmMatches('sha256', shards)).toBe(true);
    expect(resourceAlgorithmMatches('sha256-sharded-9', shards)).toBe(false);
    expect(resourceAlgorithmMatches('blake2b', shards)).toBe(false);
    const files = { method: 'files', hash_type: 'sha256', allow_symlinks: false } as const;
    expect(resourceAlgorithmMatches('sha256-sharded-8', files)).toBe(false);
  });
});

describe('subject digest', () => {
  it('is sha256 over the raw resource digests in listed order (signing.md §1.4)', () => {
    expect(digestBytes(text('signme-1')).hex).toBe(signme1);
    expect(digestBytes(text('signme-2')).hex).toBe(signme2);
    expect(omsModelDigest([{ digest: signme1 }, { digest: signme2 }])).toBe(
      '61d4849d9d90076d6215f4d525f13d6574af8e3f67aef3e6f36fc40a14fdd226',
    );
    expect(omsModelDigest([{ digest: signme1n }])).toBe(
      'afa48c8674afe334b8a7dea34f7b46ab256e9255edf8da2132792341b667a45b',
    );
    expect(omsModelDigest([])).toBe(emptySha256);
    expect(omsModelDigest([{ digest: signme2 }, { digest: signme1 }])).not.toBe(
      omsModelDigest([{ digest: signme1 }, { digest: signme2 }]),
    );
  });

  it('is sha256 even over blake2b resources, and refuses non-hex', () => {
    const blake = digestBytes(text('x'), 'blake2b').hex;
    expect(omsModelDigest([{ digest: blake }])).toBe(digestBytes(Buffer.from(blake, 'hex')).hex);
    expect(() => omsModelDigest([{ digest: 'abc' }])).toThrow(/not hex/);
    expect(() => omsModelDigest([{ digest: `zz${signme1.slice(2)}` }])).toThrow(/not hex/);
  });
});

describe('predicate', () => {
  const files: FileDigestInput[] = [
    { path: 'tokenizer.json', size: 9, digestHex: signme1n },
    { path: 'tokenizer/x', size: 8, digestHex: signme2.toUpperCase() },
    { path: 'empty', size: 0, digestHex: emptySha256 },
  ];

  it('lists files in Python order with the files serialization', () => {
    const predicate = buildOmsPredicate({
      method: 'files',
      files,
      ignorePaths: resolveIgnorePaths({ paths: ['logs/'] }),
    });
    expect(predicate).toEqual({
      serialization: {
        method: 'files',
        hash_type: 'sha256',
        allow_symlinks: false,
        ignore_paths: ['.git', '.gitattributes', '.github', '.gitignore', 'logs', 'model.sig'],
      },
      resources: [
        { name: 'empty', algorithm: 'sha256', digest: emptySha256 },
        { name: 'tokenizer/x', algorithm: 'sha256', digest: signme2 },
        { name: 'tokenizer.json', algorithm: 'sha256', digest: signme1n },
      ],
    } satisfies OmsPredicate);
    expect(Object.keys(predicate.serialization)).toEqual([
      'method',
      'hash_type',
      'allow_symlinks',
      'ignore_paths',
    ]);
  });

  it('omits ignore_paths when there are none, and names a single-file model "."', () => {
    const predicate = buildOmsPredicate({
      method: 'files',
      files: [{ path: '.', size: 9, digestHex: signme1n }],
    });
    expect(predicate.serialization).toEqual({ method: 'files', hash_type: 'sha256', allow_symlinks: false });
    const statement = buildOmsStatement('signme-1', predicate);
    expect(statement.subject).toEqual([
      {
        name: 'signme-1',
        digest: { sha256: 'afa48c8674afe334b8a7dea34f7b46ab256e9255edf8da2132792341b667a45b' },
      },
    ]);
    expect(statement._type).toBe('https://in-toto.io/Statement/v1');
    expect(statement.predicateType).toBe('https://model_signing/signature/v1.0');
  });

  it('records blake2b as the hash type', () => {
    const digest = digestBytes(text('x'), 'blake2b').hex;
    const predicate = buildOmsPredicate({
      method: 'files',
      hashType: 'blake2b',
      files: [{ path: 'x', size: 1, digestHex: digest }],
    });
    expect(predicate.resources).toEqual([{ name: 'x', algorithm: 'blake2b', digest }]);
    expect(predicate.serialization.hash_type).toBe('blake2b');
    expect(() =>
      buildOmsPredicate({
        method: 'files',
        hashType: 'blake2b',
        files: [{ path: 'x', size: 1, digestHex: signme1 }],
      }),
    ).toThrow(/not a blake2b digest/);
  });

  it('writes shards with Python labels and checks they tile each file', () => {
    const shard = (path: string, start: number, end: number): ShardDigestInput => ({
      path,
      start,
      end,
      digestHex: signme1,
    });
    const predicate = buildOmsPredicate({
      method: 'shards',
      shardSize: 8,
      allowSymlinks: true,
      shards: [shard('f', 16, 22), shard('f', 0, 8), shard('f', 8, 16), shard('e', 0, 3)],
    });
    expect(predicate.serialization).toEqual({
      method: 'shards',
      hash_type: 'sha256',
      shard_size: 8,
      allow_symlinks: true,
    });
    expect(predicate.resources.map((r) => [r.name, r.algorithm])).toEqual([
      ['e:0:3', 'sha256-sharded-8'],
      ['f:0:8', 'sha256-sharded-8'],
      ['f:8:16', 'sha256-sharded-8'],
      ['f:16:22', 'sha256-sharded-8'],
    ]);
    const bad = (shards: ShardDigestInput[]) => () =>
      buildOmsPredicate({ method: 'shards', shardSize: 8, shards });
    expect(bad([shard('f', 0, 8), shard('f', 9, 12)])).toThrow(/does not fit shard size 8/);
    expect(bad([shard('f', 0, 4), shard('f', 4, 12)])).toThrow(/f:0:4 does not fit/);
    expect(bad([shard('f', 8, 12)])).toThrow(/does not fit/);
    expect(bad([shard('f', 0, 9)])).toThrow(/does not fit/);
    expect(bad([shard('f', 0, 8), shard('f', 0, 8)])).toThrow(/does not fit/);
    expect(
      buildOmsPredicate({ method: 'shards', shards: [shard('big', 0, 5)] }).resources[0]?.algorithm,
    ).toBe('sha256-sharded-1000000000');
  });

  it('refuses paths that cannot name a resource', () => {
    const one = (path: string) => () =>
      buildOmsPredicate({ method: 'files', files: [{ path, size: 0, digestHex: emptySha256 }] });
    for (const path of ['', '/etc/passwd', 'a//b', 'a/./b', '../x', 'a/..', 'x/', 'nul\0']) {
      expect(one(path), JSON.stringify(path)).toThrow(/bad resource path/);
    }
    expect(resourcePathProblem('a/b c/d.bin')).toBeUndefined();
    const twice = { path: 'a', size: 0, digestHex: emptySha256 };
    expect(() => buildOmsPredicate({ method: 'files', files: [twice, twice] })).toThrow(
      /duplicate resource a/,
    );
    expect(() => buildOmsPredicate({ method: 'files', files: [{ ...twice, path: '.' }, twice] })).toThrow(
      /single-file model/,
    );
  });
});

describe('ignore rules', () => {
  const defaults = resolveIgnorePaths();

  it('ignores git metadata at the root only, and the signature', () => {
    expect(defaults).toEqual(['.git', '.gitattributes', '.github', '.gitignore', 'model.sig']);
    for (const path of [
      '.git',
      '.git/config',
      '.git/objects/ab/cdef',
      '.github/workflows/ci.yml',
      '.gitignore',
      '.gitattributes',
      'model.sig',
    ]) {
      expect(shouldIgnore(path, defaults), path).toBe(true);
    }
    for (const path of [
      'sub/.git/config',
      'sub/.gitignore',
      '.gitignore2',
      '.git2/x',
      'sub/model.sig',
      'model.sig.bak',
      'Model.sig',
      '.',
    ]) {
      expect(shouldIgnore(path, defaults), path).toBe(false);
    }
  });

  it('ignores a directory subtree by whole path components', () => {
    const ignores = resolveIgnorePaths({
      ignoreGitPaths: false,
      signature: 'sigs/model.sig',
      paths: ['./logs/', 'cache//tmp'],
    });
    expect(ignores).toEqual(['cache/tmp', 'logs', 'sigs/model.sig']);
    expect(shouldIgnore('logs', ignores)).toBe(true);
    expect(shouldIgnore('logs/run/1.txt', ignores)).toBe(true);
    expect(shouldIgnore('logs2/1.txt', ignores)).toBe(false);
    expect(shouldIgnore('cache/tmp/x', ignores)).toBe(true);
    expect(shouldIgnore('cache/tmpx', ignores)).toBe(false);
    expect(shouldIgnore('sigs/model.sig', ignores)).toBe(true);
    expect(shouldIgnore('model.sig', ignores)).toBe(false);
    expect(shouldIgnore('.git/config', ignores)).toBe(false);
    // Unnormalized ignore paths given directly still match.
    expect(shouldIgnore('a/b/c', ['./a/b/'])).toBe(true);
  });

  it('drops ignore paths outside the model, and the root itself', () => {
    expect(normalizeIgnorePath('./a//b/')).toBe('a/b');
    expect(normalizeIgnorePath('a/../b')).toBe('b');
    for (const path of ['../x', 'a/../../x', '/abs/x', '.', '', './', 'a/..']) {
      expect(normalizeIgnorePath(path), path).toBeUndefined();
    }
    expect(
      resolveIgnorePaths({ ignoreGitPaths: false, signature: null, paths: ['../model.sig', '.', '/etc'] }),
    ).toEqual([]);
    expect(shouldIgnore('anything', ['.', '..', ''])).toBe(false);
  });
});

describe.skipIf(!haveVectors)('model_signing vectors (../shared/oms-vectors)', () => {
  const goldenPayloads = join(vectors, 'golden-payloads', 'TestPayload');

  it('rebuilds every golden statement from its resources, whatever order they come in', () => {
    const names = readdirSync(goldenPayloads);
    expect(names.length).toBeGreaterThan(20);
    for (const name of names) {
      const golden = JSON.parse(readFileSync(join(goldenPayloads, name), 'utf8')) as OmsStatement;
      const { serialization, resources } = golden.predicate;
      const shuffled = [...resources].reverse();
      const predicate =
        serialization.method === 'files'
          ? buildOmsPredicate({
              method: 'files',
              allowSymlinks: serialization.allow_symlinks,
              files: shuffled.map((r) => ({ path: r.name, size: 0, digestHex: r.digest })),
            })
          : buildOmsPredicate({
              method: 'shards',
              shardSize: serialization.shard_size,
              allowSymlinks: serialization.allow_symlinks,
              shards: shuffled.map((r) => ({ ...parseShardName(r.name)!, digestHex: r.digest })),
            });
      expect(buildOmsStatement(golden.subject[0].name, predicate), name).toEqual(golden);
    }
  });

  it('lists the golden manifests in our order', () => {
    for (const kind of ['file', 'file_shard']) {
      const dir = join(vectors, 'golden-manifests', kind, 'TestSerializer');
      for (const name of readdirSync(dir)) {
        const lines = readFileSync(join(dir, name), 'utf8').split('\n').filter(Boolean);
        const resourceNames = lines.map((line) => line.slice(0, line.lastIndexOf(':')));
        const sorted =
          kind === 'file'
            ? [...resourceNames].reverse().sort(comparePaths)
            : resourceNames
                .map((n) => parseShardName(n)!)
                .reverse()
                .sort(compareShards)
                .map(shardName);
        expect(sorted, `${kind}/${name}`).toEqual(resourceNames);
      }
    }
  });

  async function statementOf(dir: string, modelName: string, ignores: string[], singleFile?: string) {
    const entries = singleFile
      ? [{ path: '.', file: join(dir, singleFile) }]
      : readdirSync(dir)
          .filter((path) => !shouldIgnore(path, ignores))
          .map((path) => ({ path, file: join(dir, path) }));
    const files = await Promise.all(
      entries.map(async ({ path, file }) => {
        const digest = await digestStream(createReadStream(file));
        return { path, size: digest.size, digestHex: digest.hex };
      }),
    );
    const recorded = singleFile ? [] : ignores;
    return buildOmsStatement(modelName, buildOmsPredicate({ method: 'files', files, ignorePaths: recorded }));
  }

  function signedStatement(dir: string): OmsStatement {
    const bundle = JSON.parse(readFileSync(join(dir, 'model.sig'), 'utf8')) as {
      dsseEnvelope: { payload: string };
    };
    return JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8')) as OmsStatement;
  }

  // Python records ignore_paths from a frozenset, in no stable order.
  const sortedIgnores = (statement: OmsStatement) => {
    const { ignore_paths, ...rest } = statement.predicate.serialization;
    return {
      ...statement,
      predicate: {
        ...statement.predicate,
        serialization: { ...rest, ignore_paths: ignore_paths?.slice().sort() },
      },
    };
  };

  for (const name of ['v1.1.0-elliptic-key', 'v1.1.0-certificate', 'v1.1.0-sigstore']) {
    it(`hashes ${name} to the statement model_signing signed`, async () => {
      const dir = join(vectors, name);
      const ours = await statementOf(dir, name, resolveIgnorePaths({ paths: ['ignore-me'] }));
      expect(sortedIgnores(ours)).toEqual(sortedIgnores(signedStatement(dir)));
    });
  }

  it('hashes the single-file v1.0.0-elliptic-key model to its signed statement', async () => {
    const dir = join(vectors, 'v1.0.0-elliptic-key');
    const ours = await statementOf(dir, 'signme-1', [], 'signme-1');
    expect(ours).toEqual(signedStatement(dir));
    expect(ours.predicate.resources).toEqual([{ name: '.', algorithm: 'sha256', digest: signme1n }]);
  });
});
