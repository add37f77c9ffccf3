import { describe, expect, it } from 'vitest';
import { MlsecError } from '../../../src/core/errors.js';
import { planLayers } from '../../../src/core/registry/layer-plan.js';
import { classifyFile } from '../../../src/core/registry/media-types.js';
import { layerAction, parseImageManifest } from '../../../src/core/registry/model-pack.js';
import { parseReference } from '../../../src/core/registry/reference.js';
import { addReferrer, referrersTag } from '../../../src/core/registry/referrers.js';
import { safeRelativePath, tarEntryProblem } from '../../../src/core/registry/unpack-policy.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;

describe('parseReference', () => {
  it('reads host, port, nested repository, tag and digest', () => {
    expect(parseReference('127.0.0.1:5000/team/models/llm:v1.2')).toEqual({
      registry: '127.0.0.1:5000',
      repository: 'team/models/llm',
      tag: 'v1.2',
    });
    expect(parseReference(`ghcr.io/o/m@${d('a')}`)).toEqual({
      registry: 'ghcr.io',
      repository: 'o/m',
      digest: d('a'),
    });
    expect(parseReference('localhost/m')).toEqual({ registry: 'localhost', repository: 'm' });
  });

  it('refuses what a registry would misread', () => {
    const message = (text: string) => {
      try {
        parseReference(text);
        return 'accepted';
      } catch (error) {
        expect(error).toBeInstanceOf(MlsecError);
        return (error as Error).message;
      }
    };
    expect(message('model')).toBe('invalid reference "model": expected <registry>/<repository>[:tag]');
    expect(message('r.io/Bad_Repo')).toMatch(/the repository must be lowercase/);
    expect(message('r.io/m:-bad')).toBe('invalid reference "r.io/m:-bad": bad tag "-bad"');
    expect(message('r.io/m@sha256:abc')).toMatch(/the digest must be sha256:<64 lowercase hex digits>/);
  });
});

describe('planLayers', () => {
  it('gives weights and large files a layer each and groups small files per kind', () => {
    const layers = planLayers([
      { path: 'model-00002.safetensors', size: 10 },
      { path: 'model-00001.safetensors', size: 10 },
      { path: 'README.md', size: 100 },
      { path: 'LICENSE', size: 100 },
      { path: 'config.json', size: 50 },
      { path: 'big.csv', size: 2 << 20 },
    ]);
    expect(
      layers.map((l) => [l.mediaType, l.packing === 'raw' ? l.file.path : l.files.map((f) => f.path)]),
    ).toEqual([
      ['application/vnd.cncf.model.dataset.v1.raw', 'big.csv'],
      ['application/vnd.cncf.model.weight.v1.raw', 'model-00001.safetensors'],
      ['application/vnd.cncf.model.weight.v1.raw', 'model-00002.safetensors'],
      ['application/vnd.cncf.model.doc.v1.tar', ['LICENSE', 'README.md']],
      ['application/vnd.cncf.model.weight.config.v1.raw', 'config.json'],
    ]);
  });

  it('classifies by name and says when it guessed', () => {
    expect(classifyFile('tokenizer.json', 1)).toEqual({ kind: 'weight.config', guessed: false });
    expect(classifyFile('src/train.py', 1)).toEqual({ kind: 'code', guessed: false });
    expect(classifyFile('blob', 5 << 20)).toEqual({ kind: 'weight', guessed: true });
    expect(classifyFile('notes', 10)).toEqual({ kind: 'doc', guessed: true });
  });
});

describe('unpack policy', () => {
  it('normalizes safe paths and names the problem of unsafe ones', () => {
    expect(safeRelativePath('./a//b/c.bin')).toEqual({ path: 'a/b/c.bin' });
    expect(safeRelativePath('a/../../x')).toEqual({ problem: '".." in path' });
    expect(safeRelativePath('/etc/passwd')).toEqual({ problem: 'absolute path' });
    expect(safeRelativePath('C:/x')).toEqual({ problem: 'absolute path' });
    expect(safeRelativePath('a\\..\\x')).toEqual({ problem: 'backslash in path' });
    expect(safeRelativePath('./')).toEqual({ problem: 'empty path' });
  });

  it('allows files and directories only', () => {
    expect(tarEntryProblem({ path: './', type: 'directory' })).toBeUndefined();
    expect(tarEntryProblem({ path: 'a/b.txt', type: 'file' })).toBeUndefined();
    expect(tarEntryProblem({ path: 'a/l', type: 'symlink', linkpath: '../b' })).toBe(
      'tar entry "a/l": symbolic link to "../b" refused (pull writes regular files only)',
    );
    expect(tarEntryProblem({ path: 'l', type: 'symlink', linkpath: '../b' })).toBe(
      'tar entry "l": symbolic link to "../b" escapes the directory',
    );
    expect(tarEntryProblem({ path: 'fifo', type: 'other' })).toBe(
      'tar entry "fifo": not a regular file or directory',
    );
  });
});

describe('manifests and layers', () => {
  it('maps ModelPack, KitOps and ORAS layers to what pull does', () => {
    const at = (mediaType: string, annotations?: Record<string, string>) =>
      layerAction({ mediaType, digest: d('b'), size: 1, ...(annotations ? { annotations } : {}) });
    expect(at('application/vnd.cncf.model.weight.v1.raw', { 'org.cncf.model.filepath': 'w/a.bin' })).toEqual({
      action: 'file',
      path: 'w/a.bin',
    });
    expect(at('application/vnd.cncf.model.doc.v1.tar+gzip')).toEqual({ action: 'untar', gzip: true });
    expect(at('application/vnd.kitops.modelkit.model.v1.tar')).toEqual({ action: 'untar', gzip: false });
    expect(
      at('application/vnd.oci.image.layer.v1.tar', { 'org.opencontainers.image.title': 'a.gguf' }),
    ).toEqual({
      action: 'file',
      path: 'a.gguf',
    });
    expect(at('application/vnd.cncf.model.weight.v1.tar+zstd')).toEqual({
      action: 'skip',
      reason: 'zstd layers are not supported',
    });
  });

  it('refuses manifests that are not OCI image manifests or carry bad descriptors', () => {
    const parse = (value: unknown) => () =>
      parseImageManifest(new TextEncoder().encode(JSON.stringify(value)), 'm');
    expect(
      parse({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }),
    ).toThrow(
      'm: application/vnd.oci.image.index.v1+json is not an OCI image manifest (indexes are not pulled)',
    );
    const config = { mediaType: 'x', digest: d('c'), size: 2 };
    expect(
      parse({ schemaVersion: 2, config, layers: [{ mediaType: 'x', digest: 'md5:1', size: 1 }] }),
    ).toThrow('m layer 0: digest is not sha256:<hex>');
    expect(
      parse({ schemaVersion: 2, config, layers: [{ mediaType: 'x', digest: d('e'), size: -1 }] }),
    ).toThrow('m layer 0: bad size');
  });
});

describe('referrers tag schema', () => {
  it('names the tag after the digest and adds each referrer once', () => {
    expect(referrersTag(d('f'))).toBe(`sha256-${'f'.repeat(64)}`);
    const first = { mediaType: 'm', digest: d('1'), size: 3, artifactType: 'a' };
    const index = addReferrer(addReferrer(undefined, first), first);
    expect(index).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [first],
    });
  });
});
