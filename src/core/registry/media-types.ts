/** OCI, CNCF ModelPack and ORAS names used in pushed and pulled manifests. */
export const ociManifestType = 'application/vnd.oci.image.manifest.v1+json';
export const ociIndexType = 'application/vnd.oci.image.index.v1+json';
export const ociEmptyType = 'application/vnd.oci.empty.v1+json';
/** The empty JSON object `{}`, the config of artifacts that have none. */
export const ociEmptyDigest = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
export const modelManifestArtifactType = 'application/vnd.cncf.model.manifest.v1+json';
export const modelConfigType = 'application/vnd.cncf.model.config.v1+json';
export const scanReportArtifactType = 'application/vnd.mlsec.scan-report.v1+json';
/** Sigstore bundles (the OpenSSF Model Signing format), as cosign attaches them. */
export const signatureArtifactType = 'application/vnd.dev.sigstore.bundle.v0.3+json';

export const modelLayerKinds = ['weight', 'weight.config', 'doc', 'code', 'dataset'] as const;
export type ModelLayerKind = (typeof modelLayerKinds)[number];
export type LayerPacking = 'raw' | 'tar' | 'tar+gzip';

export function modelLayerType(kind: ModelLayerKind, packing: LayerPacking): string {
  return `application/vnd.cncf.model.${kind}.v1.${packing}`;
}

export const annotations = {
  title: 'org.opencontainers.image.title',
  created: 'org.opencontainers.image.created',
  revision: 'org.opencontainers.image.revision',
  source: 'org.opencontainers.image.source',
  licenses: 'org.opencontainers.image.licenses',
  filepath: 'org.cncf.model.filepath',
  fileMetadata: 'org.cncf.model.file.metadata+json',
  untested: 'org.cncf.model.file.mediatype.untested',
  orasUnpack: 'io.deis.oras.content.unpack',
  /** The OpenSSF Model Signing digest of the model's files, as `mlsec hash --manifest` prints it. */
  modelDigest: 'dev.mlsec.model.digest',
} as const;

const weightExtensions = new Set([
  'safetensors',
  'bin',
  'pt',
  'pth',
  'ckpt',
  'gguf',
  'ggml',
  'onnx',
  'h5',
  'hdf5',
  'keras',
  'pb',
  'tflite',
  'pkl',
  'pickle',
  'npy',
  'npz',
  'msgpack',
  'mlmodel',
  'joblib',
  'params',
  'ot',
  'nemo',
  'llamafile',
]);
const configNames = new Set([
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'preprocessor_config.json',
  'merges.txt',
  'tokenizer.model',
  'chat_template.jinja',
]);
const docExtensions = new Set(['md', 'txt', 'rst', 'pdf', 'html', 'adoc']);
const docNames =
  /^(?:readme|license|licence|notice|copying|authors|changelog|model_card|modelcard)(?:\..*)?$/i;
const codeExtensions = new Set([
  'py',
  'ipynb',
  'sh',
  'js',
  'mjs',
  'ts',
  'c',
  'cc',
  'cpp',
  'h',
  'go',
  'rs',
  'java',
  'rb',
  'lua',
  'r',
  'jl',
]);
const datasetExtensions = new Set(['csv', 'tsv', 'parquet', 'jsonl', 'arrow', 'tfrecord', 'avro']);

/** Which ModelPack kind a file is, from its name; `guessed` when nothing in the name said so. */
export function classifyFile(path: string, size: number): { kind: ModelLayerKind; guessed: boolean } {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const lower = name.toLowerCase();
  const dot = lower.lastIndexOf('.');
  const extension = dot > 0 ? lower.slice(dot + 1) : '';
  if (configNames.has(lower) || /^vocab\./.test(lower) || extension === 'tiktoken') {
    return { kind: 'weight.config', guessed: false };
  }
  if (weightExtensions.has(extension)) return { kind: 'weight', guessed: false };
  if (docNames.test(lower) || docExtensions.has(extension)) return { kind: 'doc', guessed: false };
  if (codeExtensions.has(extension) || lower === 'requirements.txt') return { kind: 'code', guessed: false };
  if (datasetExtensions.has(extension)) return { kind: 'dataset', guessed: false };
  if (extension === 'json' || extension === 'yaml' || extension === 'yml') {
    return { kind: 'weight.config', guessed: false };
  }
  // An unknown large file is most likely weights; an unknown small one, documentation.
  return { kind: size >= 1 << 20 ? 'weight' : 'doc', guessed: true };
}

/** The `config.format` ModelPack records, when every weight file agrees on one. */
export function weightFormat(paths: readonly string[]): string | undefined {
  const formats = new Set<string>();
  for (const path of paths) {
    const extension = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
    const format =
      extension === 'safetensors' || extension === 'gguf' || extension === 'onnx'
        ? extension
        : extension === 'pt' || extension === 'pth' || extension === 'bin'
          ? 'pt'
          : undefined;
    if (format) formats.add(format);
  }
  return formats.size === 1 ? [...formats][0] : undefined;
}
