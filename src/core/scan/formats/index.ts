import type { FormatReader } from '../format-reader.js';
import { compressedReaders, joblibZfileReader, zlibReader } from './compressed/compressed-reader.js';
import { configTextReader } from './config/config-text-reader.js';
import { ggufReader } from './gguf/gguf-reader.js';
import { headerOnlyReaders } from './headers/header-formats.js';
import { hfAutoMapReader } from './hf-config/auto-map.js';
import { chatTemplateReader } from './jinja/chat-template-reader.js';
import { hdf5Reader } from './keras/hdf5-reader.js';
import { npyReader } from './numpy/npy-reader.js';
import { onnxReader } from './onnx/onnx-reader.js';
import { pickleReader } from './pickle/pickle-reader.js';
import { safetensorsReader } from './safetensors/safetensors-reader.js';
import { sevenZipReader } from './sevenzip/sevenzip-reader.js';
import { tarReader } from './tar/tar-reader.js';
import { tensorflowReader } from './tensorflow/tensorflow-reader.js';
import { unsupportedReaders } from './unsupported.js';
import { zipReader } from './zip/zip-reader.js';

/**
 * The format table, tried in order. Magic-number formats come first; the pickle probe,
 * which parses, comes after them, and zlib, whose header is weak, last; zip is also tried on every file by its trailing directory
 * (see scan-source), because prepended data does not stop zip readers.
 */
export const formatReaders: readonly FormatReader[] = [
  ...unsupportedReaders,
  sevenZipReader,
  zipReader,
  ...compressedReaders,
  joblibZfileReader,
  tarReader,
  npyReader,
  ggufReader,
  safetensorsReader,
  onnxReader,
  hdf5Reader,
  chatTemplateReader,
  ...headerOnlyReaders,
  tensorflowReader,
  pickleReader,
  zlibReader,
  hfAutoMapReader,
  configTextReader,
];

export { zipReader };
