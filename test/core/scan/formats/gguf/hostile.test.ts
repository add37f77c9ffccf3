import { mkdtempSync, openSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyseTemplate } from '../../../../../src/core/scan/formats/jinja/template-analysis.js';
import { scanArtifact } from '../../../../../src/core/scan/scan-artifact.js';
import { openFileArtifact } from '../../../../../src/io/file-source.js';
import { scanBytes } from '../../../../helpers/scan.js';

const dir = mkdtempSync(join(tmpdir(), 'mlsec-gguf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function u32(v: number) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}
function u64(v: bigint | number) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}
const str = (s: string) => Buffer.concat([u64(Buffer.byteLength(s)), Buffer.from(s)]);

/** A GGUF header with one template and one F32 tensor of `elements` elements at offset 0. */
function header(template: string, elements: bigint): Buffer {
  const parts = [
    Buffer.from('GGUF'),
    u32(3),
    u64(1),
    u64(2),
    str('general.architecture'),
    u32(8),
    str('llama'),
    str('tokenizer.chat_template'),
    u32(8),
    str(template),
    str('token_embd.weight'),
    u32(2),
    u64(4096),
    u64(elements / 4096n),
    u32(0),
    u64(0),
  ];
  const bytes = Buffer.concat(parts);
  return Buffer.concat([bytes, Buffer.alloc((32 - (bytes.length % 32)) % 32)]);
}

describe('GGUF: a multi-GB file is scanned by reading its header only', () => {
  it('reads under 200 KiB of a 6 GiB file', async () => {
    const elements = 1536n * 2n ** 20n; // 6 GiB of F32
    const head = header('{{ messages[0].content }}', elements);
    const path = join(dir, 'big.gguf');
    const fd = openSync(path, 'w');
    writeSync(fd, head);
    const size = head.length + Number(elements * 4n);
    truncateSync(path, size); // sparse: no disk used
    const report = await scanArtifact({ path: 'big.gguf', size, open: () => openFileArtifact(path) });
    expect(report.format).toBe('gguf');
    expect(report.findings).toEqual([]);
    expect(report.bytesRead).toBeLessThan(200 * 1024);
  });
});

describe('GGUF: hostile headers are bounded', () => {
  it('a string array that claims 2^40 items in a small file is malformed, at once', async () => {
    const bytes = Buffer.concat([
      Buffer.from('GGUF'),
      u32(3),
      u64(0),
      u64(1),
      str('tokenizer.ggml.tokens'),
      u32(9),
      u32(8),
      u64(2n ** 40n),
      Buffer.alloc(64),
    ]);
    const { findings } = await scanBytes(bytes, { name: 'x.gguf' });
    expect(findings).toEqual([
      {
        rule: 'MLSEC-GGUF-001',
        severity: 'medium',
        message: 'array length 1099511627776 at offset 61 needs more bytes than the file holds (64 left)',
      },
    ]);
  });

  it('a million tiny string items are walked within the limits', async () => {
    const items = 1_000_000;
    const body = Buffer.alloc(items * 9);
    for (let i = 0; i < items; i++) {
      body.writeBigUInt64LE(1n, i * 9);
      body[i * 9 + 8] = 0x61;
    }
    const bytes = Buffer.concat([
      Buffer.from('GGUF'),
      u32(3),
      u64(0),
      u64(1),
      str('tokenizer.ggml.tokens'),
      u32(9),
      u32(8),
      u64(items),
      body,
    ]);
    const started = Date.now();
    const { findings } = await scanBytes(bytes, { name: 'x.gguf' });
    expect(findings).toEqual([]);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('chat templates: huge and deeply nested input is bounded', () => {
  it('100,000 nested parentheses: medium, no crash', () => {
    const template = `{{ ${'('.repeat(100_000)}1${')'.repeat(100_000)} }}`;
    expect(analyseTemplate(template)).toEqual([
      { rule: 'templateUnparsable', message: 'template expressions nested too deeply to parse' },
    ]);
  });

  it('a template over 1 MiB is not parsed', () => {
    const template = `{{ '${'a'.repeat(1 << 20)}' }}`;
    expect(analyseTemplate(template)).toEqual([
      {
        rule: 'templateUnparsable',
        message: `template of ${template.length} characters exceeds the analysis limit of 1048576`,
      },
    ]);
  });

  it('a long chain of concatenations folds within the limits', () => {
    const template = `{{ x[${Array.from({ length: 20_000 }, () => "'_'").join(' ~ ')}] }}`;
    const issues = analyseTemplate(template);
    expect(issues.map((i) => i.rule)).toContain('templateUnparsable');
  });

  it('nested loops over huge ranges are never rendered', () => {
    const template =
      '{% for a in range(100000) %}{% for b in range(100000) %}{{ a ~ b }}{% endfor %}{% endfor %}';
    expect(analyseTemplate(template)).toEqual([]);
  });
});
