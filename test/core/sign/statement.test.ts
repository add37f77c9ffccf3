import { describe, expect, it } from 'vitest';
import { buildOmsPredicate, buildOmsStatement } from '../../../src/core/hash/manifest.js';
import { diffManifests } from '../../../src/core/sign/compare.js';
import { pae, paeCompat, pythonBytesRepr } from '../../../src/core/sign/dsse.js';
import { VerificationFailure } from '../../../src/core/sign/failure.js';
import { parseSignedManifest } from '../../../src/core/sign/statement.js';

const hex = (c: string) => c.repeat(64);
const statement = () =>
  buildOmsStatement(
    'm',
    buildOmsPredicate({
      method: 'files',
      files: [
        { path: 'a.bin', size: 1, digestHex: hex('a') },
        { path: 'b/c.bin', size: 1, digestHex: hex('b') },
      ],
    }),
  );
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

function failure(payload: unknown): { kind: string; message: string } {
  try {
    parseSignedManifest(bytes(payload));
  } catch (error) {
    if (error instanceof VerificationFailure) return { kind: error.kind, message: error.message };
    throw error;
  }
  throw new Error('parsed');
}

describe('DSSE encodings', () => {
  it('PAE counts bytes, not characters', () => {
    expect(pae('t', Buffer.from('h\u00e9')).toString('utf8')).toBe('DSSEv1 1 t 3 h\u00e9');
  });

  it("reproduces Python's repr(bytes) for model_signing v0.2's encoding", () => {
    expect(pythonBytesRepr(Buffer.from("a'b\\c\n\t\r\x00\x7f\xff", 'latin1'))).toBe(
      `b"a'b\\\\c\\n\\t\\r\\x00\\x7f\\xff"`,
    );
    expect(pythonBytesRepr(Buffer.from(`'"`))).toBe(`b'\\'"'`);
    expect(paeCompat('t', Buffer.from('{}')).toString()).toBe("DSSEV1 1 t 2 b'{}'");
  });
});

describe('parseSignedManifest', () => {
  it('reads a v1.0 statement and keeps the signer order', () => {
    const manifest = parseSignedManifest(bytes(statement()));
    expect(manifest.format).toBe('v1.0');
    expect(manifest.resources.map((r) => r.name)).toEqual(['a.bin', 'b/c.bin']);
    expect(manifest.serialization).toEqual({
      method: 'files',
      hash_type: 'sha256',
      allow_symlinks: false,
      ignore_paths: [],
    });
  });

  it('rejects an inconsistent subject digest, a second subject and unknown types', () => {
    const s = statement();
    expect(failure({ ...s, subject: [{ name: 'm', digest: { sha256: hex('0') } }] })).toEqual({
      kind: 'manifest',
      message: 'the manifest is inconsistent: the subject digest does not match the resources',
    });
    expect(failure({ ...s, subject: [...s.subject, ...s.subject] }).message).toBe(
      'the statement must have exactly one subject',
    );
    expect(failure({ ...s, predicateType: 'https://example.test/x' }).message).toBe(
      'unknown predicate type "https://example.test/x"',
    );
    expect(failure({ ...s, _type: 'x' }).message).toBe(
      'the signed statement is not an in-toto Statement v1 (_type "x")',
    );
  });

  it('rejects duplicates, unsupported hashes and malformed digests', () => {
    const s = statement();
    const resources = [s.predicate.resources[0]!, s.predicate.resources[0]!];
    expect(failure({ ...s, predicate: { ...s.predicate, resources } }).message).toBe(
      'resource "a.bin" is listed twice',
    );
    const blake3 = { ...s.predicate.serialization, hash_type: 'blake3' };
    expect(failure({ ...s, predicate: { ...s.predicate, serialization: blake3 } }).message).toBe(
      'unsupported hash_type "blake3" (mlsec verifies sha256 and blake2b)',
    );
    const short = [{ name: 'a.bin', algorithm: 'sha256', digest: 'abc' }];
    expect(failure({ ...s, predicate: { ...s.predicate, resources: short } }).message).toBe(
      'resource "a.bin" has a malformed sha256 digest',
    );
  });

  it('accepts shard_size written as a double, both shard algorithm spellings, and refuses bad shard names', () => {
    const predicate = buildOmsPredicate({
      method: 'shards',
      shardSize: 8,
      shards: [{ path: 'w:1.bin', start: 0, end: 8, digestHex: hex('c') }],
    });
    expect(parseSignedManifest(bytes(buildOmsStatement('m', predicate))).resources[0]!.algorithm).toBe(
      'sha256-sharded-8',
    );
    const specStyle = { ...predicate, resources: [{ ...predicate.resources[0]!, algorithm: 'sha256' }] };
    expect(parseSignedManifest(bytes(buildOmsStatement('m', specStyle))).serialization.method).toBe('shards');
    const bad = { ...predicate, resources: [{ ...predicate.resources[0]!, name: '../w.bin:0:8' }] };
    expect(failure(buildOmsStatement('m', bad)).message).toBe(
      'unsafe resource name "../w.bin:0:8": ".." path segment',
    );
  });
});

describe('diffManifests', () => {
  const r = (name: string, c: string) => ({ name, algorithm: 'sha256', digest: hex(c) });
  it('names modified, added, removed and renamed files', () => {
    const diff = diffManifests(
      [r('keep', 'a'), r('edit', 'b'), r('gone', 'c'), r('old', 'd')],
      [r('keep', 'a'), r('edit', 'e'), r('new', 'd'), r('extra', 'f')],
      'files',
    );
    expect(diff).toEqual({
      modified: ['edit'],
      added: ['extra'],
      removed: ['gone'],
      renamed: [{ from: 'old', to: 'new' }],
    });
  });

  it('compares shards by file', () => {
    const diff = diffManifests(
      [r('w:0:8', 'a'), r('w:8:9', 'b')],
      [r('w:0:8', 'a'), r('w:8:9', 'c')],
      'shards',
    );
    expect(diff.modified).toEqual(['w']);
  });
});
