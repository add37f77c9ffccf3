import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { mlsec, root, tempDir } from '../helpers/cli.js';

async function model(dir: string, order: 'forward' | 'reverse' = 'forward') {
  const files: [string, string][] = [
    ['model/config.json', '{"a": 1}\n'],
    ['model/tokenizer.json', 'tok'],
    ['model/tokenizer/vocab.txt', 'v'],
    ['model/weights with space.bin', 'w'.repeat(1000)],
    ['model/empty.bin', ''],
  ];
  if (order === 'reverse') files.reverse();
  for (const [path, content] of files) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
}

describe('mlsec hash', () => {
  it('writes lines that sha256sum -c accepts', async () => {
    const dir = await tempDir();
    await model(dir);
    const { exitCode, stdout } = await mlsec(['hash', 'model'], { cwd: dir });
    expect(exitCode).toBe(0);
    // printf '{"a": 1}\n' | sha256sum
    expect(stdout.split('\n')[0]).toBe(
      'e8c628edc9968ef0c668f54e0ba2636b35503357eb1aca0ddc828aeace432f67  model/config.json',
    );
    await writeFile(join(dir, 'SUMS'), `${stdout}\n`);
    const check = await execa('sha256sum', ['-c', '--strict', 'SUMS'], { cwd: dir, reject: false });
    expect(check.exitCode).toBe(0);
    expect(check.stdout.split('\n')).toHaveLength(5);
  });

  it('--check reports OK, FAILED, MISSING and EXTRA, and exits 1', async () => {
    const dir = await tempDir();
    await model(dir);
    const sums = await mlsec(['hash', 'model', '--output', 'SUMS'], { cwd: dir });
    expect(sums.exitCode).toBe(0);
    const clean = await mlsec(['hash', '--check', 'SUMS', 'model'], { cwd: dir });
    expect(clean).toMatchObject({ exitCode: 0 });
    expect(clean.stdout.split('\n').at(-1)).toBe('5 OK, 0 FAILED, 0 MISSING, 0 EXTRA');
    await writeFile(join(dir, 'model', 'config.json'), '{"a": 2}\n');
    await writeFile(join(dir, 'model', 'added.pkl'), 'x');
    await execa('rm', [join(dir, 'model', 'tokenizer.json')]);
    const tampered = await mlsec(['hash', '--check', 'SUMS', 'model'], { cwd: dir });
    expect(tampered.exitCode).toBe(1);
    expect(tampered.stdout.split('\n')).toEqual([
      'model/config.json: FAILED',
      'model/empty.bin: OK',
      'model/tokenizer/vocab.txt: OK',
      'model/tokenizer.json: MISSING',
      'model/weights with space.bin: OK',
      'model/added.pkl: EXTRA',
      '3 OK, 1 FAILED, 1 MISSING, 1 EXTRA',
    ]);
  });

  it('--check of a model manifest names files from the model root and honours its ignore paths', async () => {
    const dir = await tempDir();
    await model(dir);
    await mkdir(join(dir, 'model', '.git'));
    await writeFile(join(dir, 'model', '.git', 'HEAD'), 'ref: main\n');
    const made = await mlsec(['hash', '--manifest', 'model', '--output', 'manifest.json'], { cwd: dir });
    expect(made.exitCode).toBe(0);
    const clean = await mlsec(['hash', '--check', 'manifest.json', 'model'], { cwd: dir });
    expect(clean.stdout.split('\n')).toEqual([
      'config.json: OK',
      'empty.bin: OK',
      'tokenizer/vocab.txt: OK',
      'tokenizer.json: OK',
      'weights with space.bin: OK',
      '5 OK, 0 FAILED, 0 MISSING, 0 EXTRA',
    ]);
    expect(clean.exitCode).toBe(0);
    // Kept beside the model, the manifest finds the model from its own directory.
    await execa('mv', ['manifest.json', 'model/manifest.json'], { cwd: dir });
    await writeFile(join(dir, 'model', 'model.sig'), '{}');
    await writeFile(join(dir, 'model', 'tokenizer', 'added.txt'), 'x');
    const beside = await mlsec(['hash', '--check', 'model/manifest.json'], { cwd: dir });
    expect(beside.exitCode).toBe(1);
    expect(beside.stdout.split('\n').slice(-2)).toEqual([
      'tokenizer/added.txt: EXTRA',
      '5 OK, 0 FAILED, 0 MISSING, 1 EXTRA',
    ]);
  });

  it('a malformed checksum file exits 2 with its line number', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'SUMS'), `${'0'.repeat(64)}  a\nnot a checksum line\n`);
    const { exitCode, stderr } = await mlsec(['hash', '--check', 'SUMS'], { cwd: dir });
    expect(exitCode).toBe(2);
    expect(stderr).toMatch(/^mlsec: SUMS:2: /);
  });

  it('manifests are the same bytes whatever order the files were created in', async () => {
    const a = await tempDir();
    const b = await tempDir();
    await model(a, 'forward');
    await model(b, 'reverse');
    const first = await mlsec(['hash', '--manifest', 'model'], { cwd: a });
    const second = await mlsec(['hash', '--manifest', 'model'], { cwd: b });
    expect(first.exitCode).toBe(0);
    expect(first.stdout).toBe(second.stdout);
    const manifest = JSON.parse(first.stdout);
    // model_signing order: path components compared one by one, so tokenizer/ sorts before tokenizer.json.
    expect(manifest.resources.map((r: { name: string }) => r.name)).toEqual([
      'config.json',
      'empty.bin',
      'tokenizer/vocab.txt',
      'tokenizer.json',
      'weights with space.bin',
    ]);
    const shards = JSON.parse(
      (
        await mlsec(['hash', '--manifest', 'model', '--serialization', 'shards', '--shard-size', '400'], {
          cwd: a,
        })
      ).stdout,
    );
    expect(shards.resources.map((r: { name: string }) => r.name)).toEqual([
      'config.json:0:9',
      'tokenizer/vocab.txt:0:1',
      'tokenizer.json:0:3',
      'weights with space.bin:0:400',
      'weights with space.bin:400:800',
      'weights with space.bin:800:1000',
    ]);
    expect(shards.resources[0].algorithm).toBe('sha256-sharded-400');
  });

  it('refuses a symbolic link inside a model', async () => {
    const dir = await tempDir();
    await model(dir);
    await symlink(join(dir, 'model', 'config.json'), join(dir, 'model', 'link.json'));
    const { exitCode, stderr } = await mlsec(['hash', '--manifest', 'model'], { cwd: dir });
    expect(exitCode).toBe(2);
    expect(stderr).toContain('link.json is a symbolic link');
  });

  const vector = join(root, '..', 'shared', 'oms-vectors', 'v1.1.0-elliptic-key');
  it.skipIf(!existsSync(vector))('gives the model digest model_signing signed', async () => {
    const { stdout } = await mlsec(['hash', '--manifest', vector, '--ignore-path', 'ignore-me']);
    const signed = JSON.parse(await readFile(join(vector, 'model.sig'), 'utf8'));
    const statement = JSON.parse(Buffer.from(signed.dsseEnvelope.payload, 'base64').toString('utf8'));
    expect(JSON.parse(stdout).modelDigest).toEqual(statement.subject[0].digest);
  });
});

describe('mlsec hash --manifest against an independently computed manifest', () => {
  const fixtureDir = join(root, 'fixtures', 'hash');

  async function copyModel() {
    const dir = await tempDir();
    await execa('cp', ['-r', join(fixtureDir, 'model'), join(dir, 'model')]);
    await mkdir(join(dir, 'model', 'empty-dir', 'nested'), { recursive: true });
    return dir;
  }

  it('gives the digests fixtures/hash/generate.py computed with Python (files and shards)', async () => {
    const expected = JSON.parse(await readFile(join(fixtureDir, 'expected.json'), 'utf8'));
    const dir = await copyModel();
    const files = JSON.parse((await mlsec(['hash', '--manifest', 'model'], { cwd: dir })).stdout);
    expect(files.resources).toEqual(expected.files.resources);
    expect(files.modelDigest).toEqual({ sha256: expected.files.modelDigest });
    const shards = JSON.parse(
      (
        await mlsec(['hash', '--manifest', 'model', '--serialization', 'shards', '--shard-size', '1000'], {
          cwd: dir,
        })
      ).stdout,
    );
    expect(shards.resources).toEqual(expected.shards.resources);
    expect(shards.modelDigest).toEqual({ sha256: expected.shards.modelDigest });
  });

  it('refuses a symbolic link out of a hashed directory', async () => {
    const dir = await copyModel();
    await writeFile(join(dir, 'outside.bin'), 'x');
    await symlink(join(dir, 'outside.bin'), join(dir, 'model', 'link.bin'));
    const { exitCode, stderr, stdout } = await mlsec(['hash', 'model'], { cwd: dir });
    expect(exitCode).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(
      /^mlsec: model\/link\.bin is a symbolic link out of the directory \(to .*outside\.bin\); refused$/,
    );
  });
});
