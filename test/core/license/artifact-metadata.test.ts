import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  readGgufLicense,
  readOnnxLicense,
  readSafetensorsLicense,
} from '../../../src/core/license/artifact-metadata.js';
import { bufferAccess } from '../../../src/core/source.js';

const artifact = (name: string) =>
  bufferAccess(readFileSync(join(import.meta.dirname, '../../../fixtures/license/artifacts', name)));

describe('licence metadata inside model files', () => {
  it('safetensors __metadata__ licence keys, modelspec included', async () => {
    expect(await readSafetensorsLicense(artifact('licensed.safetensors'))).toEqual({
      format: 'safetensors',
      fields: [{ key: 'license', value: 'apache-2.0' }],
    });
    expect(await readSafetensorsLicense(artifact('modelspec.safetensors'))).toEqual({
      format: 'safetensors',
      fields: [{ key: 'modelspec.license', value: 'creativeml-openrail-m' }],
    });
    expect(await readSafetensorsLicense(artifact('plain.safetensors'))).toEqual({
      format: 'safetensors',
      fields: [],
    });
  });

  it('a safetensors header longer than the file is a problem, not a crash', async () => {
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setBigUint64(0, 1000n, true);
    expect(await readSafetensorsLicense(bufferAccess(bytes))).toEqual({
      format: 'safetensors',
      fields: [],
      problem: 'header length 1000 is larger than the file or 16 MiB',
    });
  });

  it('GGUF general.license keys after a vocabulary that is skipped', async () => {
    expect(await readGgufLicense(artifact('licensed.gguf'))).toEqual({
      format: 'gguf',
      fields: [
        { key: 'general.license', value: 'llama3.1' },
        { key: 'general.license.link', value: 'https://llama.meta.com/llama3_1/license/' },
      ],
    });
  });

  it('a truncated GGUF keeps what was read and says where it broke', async () => {
    expect(await readGgufLicense(artifact('truncated.gguf'))).toEqual({
      format: 'gguf',
      fields: [],
      problem: 'key-value header is damaged: unexpected end of file',
    });
    expect(await readGgufLicense(bufferAccess(new TextEncoder().encode('not gguf at all')))).toBeUndefined();
  });

  it('GGUF arrays nested without end are refused, not followed', async () => {
    const header = [
      ...new TextEncoder().encode('GGUF'),
      3,
      0,
      0,
      0,
      ...new Array(8).fill(0),
      1,
      ...new Array(7).fill(0),
    ];
    const key = [1, 0, 0, 0, 0, 0, 0, 0, 0x6b];
    // Value type array; then, 200 times: an array of arrays with 1 item.
    const nested = Array.from({ length: 200 }, () => [9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]).flat();
    const bytes = new Uint8Array([...header, ...key, 9, 0, 0, 0, ...nested]);
    expect(await readGgufLicense(bufferAccess(bytes))).toEqual({
      format: 'gguf',
      fields: [],
      problem: 'key-value header is damaged: arrays nested too deep',
    });
  });

  it('ONNX metadata_props, with the graph skipped by length', async () => {
    expect(await readOnnxLicense(artifact('licensed.onnx'))).toEqual({
      format: 'onnx',
      fields: [{ key: 'license', value: 'MIT' }],
    });
    expect(await readOnnxLicense(artifact('spdx-expression.onnx'))).toEqual({
      format: 'onnx',
      fields: [{ key: 'license', value: 'Apache-2.0 WITH LLVM-exception' }],
    });
  });

  it('bytes that are not protobuf are a problem', async () => {
    expect(await readOnnxLicense(bufferAccess(new Uint8Array([0x0f, 1, 2])))).toEqual({
      format: 'onnx',
      fields: [],
      problem: 'not a readable ONNX model: wire type 7 is not valid in a ModelProto',
    });
  });
});
