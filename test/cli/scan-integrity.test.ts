import { createHash } from 'node:crypto';
import { chmod, cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { mlsec, root, tempDir } from '../helpers/cli.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

interface Result {
  path: string;
  format: string;
  findings: { rule: string; severity: string }[];
}

const withRules =
  (prefix: string) =>
  (results: Result[]): [string, string[]][] =>
    results
      .map((r): [string, string[]] => [
        r.path,
        r.findings.filter((f) => f.rule.startsWith(prefix)).map((f) => `${f.rule} ${f.severity}`),
      ])
      .filter(([, findings]) => findings.length > 0);
const integrity = withRules('MLSEC-INTEGRITY');
const signature = withRules('MLSEC-SIGNATURE');

describe('mlsec scan: integrity checks', () => {
  it('checks SHA256SUMS and sidecars found in a scanned directory', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'model'));
    await writeFile(
      join(dir, 'model', 'SHA256SUMS'),
      `${sha256('a')}  a.bin\n${sha256('b')}  b.bin\n${sha256('gone')}  gone.bin\n`,
    );
    await writeFile(join(dir, 'model', 'a.bin'), 'a');
    await writeFile(join(dir, 'model', 'b.bin'), 'tampered');
    await writeFile(join(dir, 'model', 'added.bin'), 'new');
    await writeFile(join(dir, 'model', 'd.bin'), 'd');
    await writeFile(join(dir, 'model', 'd.bin.sha256'), `${sha256('not d')}\n`);
    const { exitCode, stdout } = await mlsec(['scan', 'model', '--format', 'json'], { cwd: dir });
    expect(exitCode).toBe(1);
    expect(integrity(JSON.parse(stdout).results)).toEqual([
      ['model/added.bin', ['MLSEC-INTEGRITY-003 medium']],
      ['model/b.bin', ['MLSEC-INTEGRITY-001 high']],
      ['model/d.bin', ['MLSEC-INTEGRITY-001 high', 'MLSEC-INTEGRITY-003 medium']],
      ['model/gone.bin', ['MLSEC-INTEGRITY-002 medium']],
    ]);
  });

  it('--checksums names a list whose names are relative to the working directory', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'model'));
    await writeFile(join(dir, 'model', 'w.bin'), 'w');
    await writeFile(join(dir, 'sums.txt'), `${sha256('w')}  model/w.bin\n`);
    const ok = await mlsec(['scan', 'model', '--checksums', 'sums.txt', '--format', 'json'], { cwd: dir });
    expect(ok.exitCode).toBe(0);
    expect(integrity(JSON.parse(ok.stdout).results)).toEqual([]);
    await writeFile(join(dir, 'model', 'w.bin'), 'W');
    const bad = await mlsec(['scan', 'model', '--checksums', 'sums.txt', '--format', 'json'], { cwd: dir });
    expect(bad.exitCode).toBe(1);
    expect(integrity(JSON.parse(bad.stdout).results)).toEqual([
      ['model/w.bin', ['MLSEC-INTEGRITY-001 high']],
    ]);
    const json = await mlsec(['hash', 'model', '--format', 'json', '--output', 'sums.json'], { cwd: dir });
    expect(json.exitCode).toBe(0);
    await writeFile(join(dir, 'model', 'w.bin'), 'w');
    const fromJson = await mlsec(['scan', 'model', '--checksums', 'sums.json', '--format', 'json'], {
      cwd: dir,
    });
    expect(fromJson.exitCode).toBe(1);
    expect(integrity(JSON.parse(fromJson.stdout).results)).toEqual([
      ['model/w.bin', ['MLSEC-INTEGRITY-001 high']],
    ]);
    const missing = await mlsec(['scan', 'model', '--checksums', 'nope.txt'], { cwd: dir });
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toBe('mlsec: no such checksum file: nope.txt');
  });

  it('checks an mlsec-manifest.json kept in the model directory, ignoring what the manifest ignores', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'model', '.git'), { recursive: true });
    await writeFile(join(dir, 'model', 'a.bin'), 'a');
    await writeFile(join(dir, 'model', 'b.bin'), 'b');
    await writeFile(join(dir, 'model', '.git', 'HEAD'), 'ref: main\n');
    const made = await mlsec(['hash', '--manifest', 'model', '--output', 'model/mlsec-manifest.json'], {
      cwd: dir,
    });
    expect(made.exitCode).toBe(0);
    const clean = await mlsec(['scan', 'model', '--format', 'json'], { cwd: dir });
    expect(integrity(JSON.parse(clean.stdout).results)).toEqual([]);
    expect(clean.exitCode).toBe(0);
    await writeFile(join(dir, 'model', 'b.bin'), 'B');
    await writeFile(join(dir, 'model', 'c.bin'), 'c');
    const bad = await mlsec(['scan', 'model', '--format', 'json'], { cwd: dir });
    expect(bad.exitCode).toBe(1);
    expect(integrity(JSON.parse(bad.stdout).results)).toEqual([
      ['model/b.bin', ['MLSEC-INTEGRITY-001 high']],
      ['model/c.bin', ['MLSEC-INTEGRITY-003 medium']],
    ]);
    // Named with --checksums from elsewhere, a manifest's names start at the scanned directory.
    await execa('mv', ['model/mlsec-manifest.json', 'm.json'], { cwd: dir });
    const named = await mlsec(['scan', 'model', '--checksums', 'm.json', '--format', 'json'], { cwd: dir });
    expect(integrity(JSON.parse(named.stdout).results)).toEqual([
      ['model/b.bin', ['MLSEC-INTEGRITY-001 high']],
      ['model/c.bin', ['MLSEC-INTEGRITY-003 medium']],
    ]);
  });

  it('checks the files beside a model.sig against the manifest it signs, without the key', async () => {
    const dir = await tempDir();
    await cp(join(root, 'fixtures', 'sign', 'model'), join(dir, 'model'), { recursive: true });
    const key = join(dir, 'p256.key');
    await cp(join(root, 'fixtures', 'sign', 'keys', 'p256.key'), key);
    await chmod(key, 0o600);
    expect((await mlsec(['sign', 'model', '--key', key], { cwd: dir })).exitCode).toBe(0);
    const clean = await mlsec(['scan', 'model', '--format', 'json'], { cwd: dir });
    expect(signature(JSON.parse(clean.stdout).results)).toEqual([]);
    expect(clean.exitCode).toBe(0);
    await writeFile(join(dir, 'model', 'config.json'), '{}');
    await writeFile(join(dir, 'model', 'added.bin'), 'x');
    await rm(join(dir, 'model', 'tokenizer.json'));
    const changed = await mlsec(['scan', 'model', '--format', 'json'], { cwd: dir });
    expect(signature(JSON.parse(changed.stdout).results)).toEqual([
      ['model/added.bin', ['MLSEC-SIGNATURE-003 medium']],
      ['model/config.json', ['MLSEC-SIGNATURE-001 high']],
      ['model/tokenizer.json', ['MLSEC-SIGNATURE-002 medium']],
    ]);
    expect(changed.exitCode).toBe(1);
    await writeFile(join(dir, 'model', 'model.sig'), '{"mediaType": "nope"}');
    const broken = await mlsec(['scan', 'model', '--format', 'json', '--fail-on', 'high'], { cwd: dir });
    const results = JSON.parse(broken.stdout).results as Result[];
    expect(signature(results)).toEqual([['model/model.sig', ['MLSEC-SIGNATURE-004 medium']]]);
    expect(results.find((r) => r.path === 'model/model.sig')?.findings[0]).toMatchObject({
      message: 'model/model.sig: not a Sigstore bundle (mediaType "nope")',
    });
    expect(broken.exitCode).toBe(0);
  });

  it('a forged model.sig asking for a shard per byte is reported, not obeyed', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'model'));
    await writeFile(join(dir, 'model', 'big.bin'), Buffer.alloc(2 << 20));
    const statement = {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'model', digest: { sha256: createHash('sha256').update('').digest('hex') } }],
      predicateType: 'https://model_signing/signature/v1.0',
      predicate: {
        serialization: { method: 'shards', hash_type: 'sha256', shard_size: 1, allow_symlinks: false },
        resources: [],
      },
    };
    const bundle = {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: { publicKey: { hint: 'x' }, tlogEntries: [] },
      dsseEnvelope: {
        payload: Buffer.from(JSON.stringify(statement)).toString('base64'),
        payloadType: 'application/vnd.in-toto+json',
        signatures: [{ sig: 'AAAA', keyid: '' }],
      },
    };
    await writeFile(join(dir, 'model', 'model.sig'), JSON.stringify(bundle));
    const result = await mlsec(['scan', 'model', '--format', 'json'], { cwd: dir });
    const report = (JSON.parse(result.stdout).results as Result[]).find((r) => r.path === 'model/model.sig');
    expect(report?.findings).toMatchObject([
      {
        rule: 'MLSEC-SIGNATURE-004',
        message:
          'model/model.sig: shard size 1 would split the model into 2097152 shards; refusing more than 100000',
      },
    ]);
  });
});
