import { describe, expect, it } from 'vitest';
import type { ImageManifest } from '../../../src/core/registry/model-pack.js';
import { planPull, TargetTree } from '../../../src/core/registry/pull-plan.js';
import { safeRelativePath } from '../../../src/core/registry/unpack-policy.js';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const raw = 'application/vnd.cncf.model.weight.v1.raw';

function manifest(layers: { name?: string; n: number; size?: number; mediaType?: string }[]): ImageManifest {
  return {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.cncf.model.config.v1+json', digest: digest(0), size: 2 },
    layers: layers.map((l) => ({
      mediaType: l.mediaType ?? raw,
      digest: digest(l.n),
      size: l.size ?? 1,
      ...(l.name ? { annotations: { 'org.opencontainers.image.title': l.name } } : {}),
    })),
  };
}

describe('planPull', () => {
  it('plans files, tars and skipped layers, each blob once', () => {
    const plan = planPull(
      manifest([
        { name: 'a/w.bin', n: 1 },
        { name: 'copy.bin', n: 1 },
        { n: 2, mediaType: 'application/vnd.cncf.model.code.v1.tar' },
        { n: 3, mediaType: 'application/vnd.cncf.model.code.v1.tar+zstd' },
      ]),
      { maxEntries: 10 },
      20,
    );
    expect(plan.layers.map((l) => [l.action, 'path' in l ? l.path : undefined])).toEqual([
      ['file', 'a/w.bin'],
      ['file', 'copy.bin'],
      ['untar', undefined],
      ['skip', undefined],
    ]);
    expect(plan.blobs.map((b) => b.digest)).toEqual([digest(0), digest(1), digest(2), digest(3)]);
    expect(plan.tree.size).toBe(3);
  });

  it('refuses a digest with two sizes, and too many entries, directories included', () => {
    expect(() =>
      planPull(
        manifest([
          { name: 'x', n: 1, size: 1 },
          { name: 'y', n: 1, size: 2 },
        ]),
        { maxEntries: 9 },
        0,
      ),
    ).toThrow(`the manifest gives blob ${digest(1)} two sizes, 1 and 2`);
    expect(() => planPull(manifest([{ name: 'a/b/c', n: 1 }]), { maxEntries: 2 }, 0)).toThrow(
      `layer ${digest(1)} names file "a/b/c": more than 2 files and directories`,
    );
  });
});

describe('TargetTree', () => {
  it('allows a directory twice, refuses a file twice and a file where a directory is', () => {
    const tree = new TargetTree({ maxEntries: 100 });
    expect(tree.addDirectory('d', 'one')).toBeUndefined();
    expect(tree.addDirectory('d', 'two')).toBeUndefined();
    expect(tree.addFile('d/f', 'one')).toBeUndefined();
    expect(tree.addFile('d/f', 'one')).toBe('"d/f" is written twice by this layer');
    expect(tree.addFile('d', 'two')).toBe('"d" is a file here but a directory in one');
    expect(tree.addDirectory('d/f/g', 'two')).toBe(
      '"d/f/g" needs "d/f" to be a directory, but it is a file in one',
    );
  });
});

describe('safeRelativePath limits', () => {
  it('counts bytes, not characters: 255 per name, 4095 per path', () => {
    expect(safeRelativePath('é'.repeat(127))).toEqual({ path: 'é'.repeat(127) });
    expect(safeRelativePath('é'.repeat(128))).toEqual({
      problem: 'a name in the path is longer than 255 bytes',
    });
    expect(safeRelativePath(`${'a/'.repeat(2047)}b`)).toEqual({ path: `${'a/'.repeat(2047)}b` });
    expect(safeRelativePath(`${'a/'.repeat(2047)}bc`)).toEqual({ problem: 'path longer than 4095 bytes' });
  });
});
