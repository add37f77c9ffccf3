import type { DigestAlgorithm } from '../hash/digest.js';
import type { LicenseDetection, LicenseReport } from '../license/detect.js';
import { parseExpression } from '../license/expression.js';

/** Files whose content is the model itself; the rest (config, tokenizer, card) are `file` components. */
const modelFileExtension =
  /\.(safetensors|gguf|ggml|onnx|bin|pt|pth|ckpt|h5|hdf5|keras|pb|tflite|mlmodel|npz|npy|pkl|pickle|joblib|msgpack|nemo|mar|pte|llamafile)$/i;

const cdxHashNames: Record<DigestAlgorithm, string> = {
  sha256: 'SHA-256',
  sha384: 'SHA-384',
  sha512: 'SHA-512',
  blake2b: 'BLAKE2b-512',
};

export interface BomFile {
  /** POSIX path relative to the model directory. */
  path: string;
  size: number;
  hex: string;
}

export interface BomInput {
  /** Model name (the directory's base name). */
  name: string;
  algorithm: DigestAlgorithm;
  files: BomFile[];
  license: LicenseReport;
  /** Paths of `license.detections[].file` relative to the model directory, by reported path. */
  relativePath: (reportedPath: string) => string;
  tool: { name: string; version: string };
  /** `urn:uuid:...`; passed in so the core holds no randomness. */
  serialNumber: string;
  timestamp: string;
}

type Json = Record<string, unknown>;

/**
 * A CycloneDX 1.6 ML-BOM: the model directory as the BOM's subject (`machine-learning-model`, with
 * its declared licences and model card data), one component per file with its digest.
 */
export function buildCycloneDxBom(input: BomInput): Json {
  const { license } = input;
  const card = license.card;
  const model: Json = {
    type: 'machine-learning-model',
    'bom-ref': 'model',
    name: input.name,
  };
  const licenses = licenseChoice(
    license.detections.filter((d) => d.source !== 'artifact-metadata'),
    'declared',
  );
  if (licenses) model.licenses = licenses;
  const properties: { name: string; value: string }[] = [];
  if (license.concluded) properties.push({ name: 'mlsec:license:concluded', value: license.concluded });
  for (const category of license.categories)
    properties.push({ name: 'mlsec:license:category', value: category });
  for (const d of license.detections) {
    properties.push({
      name: `mlsec:license:source`,
      value: `${input.relativePath(d.file)} ${d.field}=${d.value} -> ${d.expression ?? 'unidentified'} (${d.confidence})`,
    });
  }
  if (card) {
    const modelCard: Json = {};
    const parameters: Json = {};
    if (card.pipelineTag) parameters.task = card.pipelineTag;
    if (card.datasets.length > 0)
      parameters.datasets = card.datasets.map((name) => ({ type: 'dataset', name }));
    if (Object.keys(parameters).length > 0) modelCard.modelParameters = parameters;
    const cardProperties = [
      ...(card.libraryName ? [{ name: 'library_name', value: card.libraryName }] : []),
      ...card.languages.map((value) => ({ name: 'language', value })),
      ...card.tags.map((value) => ({ name: 'tag', value })),
    ];
    if (cardProperties.length > 0) modelCard.properties = cardProperties;
    if (Object.keys(modelCard).length > 0) model.modelCard = modelCard;
    if (card.baseModels.length > 0) {
      model.pedigree = {
        ancestors: card.baseModels.map((name) => ({ type: 'machine-learning-model', name })),
      };
    }
  }
  if (properties.length > 0) model.properties = properties;

  const metadataByFile = new Map<string, LicenseDetection[]>();
  for (const d of license.detections.filter((d) => d.source === 'artifact-metadata')) {
    const key = input.relativePath(d.file);
    metadataByFile.set(key, [...(metadataByFile.get(key) ?? []), d]);
  }
  const components = input.files.map((file) => {
    const component: Json = {
      type: modelFileExtension.test(file.path) ? 'machine-learning-model' : 'file',
      'bom-ref': `file:${file.path}`,
      name: file.path,
      hashes: [{ alg: cdxHashNames[input.algorithm], content: file.hex }],
      properties: [{ name: 'mlsec:file:size', value: String(file.size) }],
    };
    const declared = licenseChoice(metadataByFile.get(file.path) ?? [], 'declared');
    if (declared) component.licenses = declared;
    return component;
  });

  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: input.serialNumber,
    version: 1,
    metadata: {
      timestamp: input.timestamp,
      tools: { components: [{ type: 'application', name: input.tool.name, version: input.tool.version }] },
      component: model,
    },
    components,
    dependencies: [{ ref: 'model', dependsOn: components.map((c) => c['bom-ref'] as string) }],
  };
}

/**
 * CycloneDX takes either named/SPDX licences or exactly one expression: one distinct compound
 * expression becomes `expression`, otherwise every id is listed (`LicenseRef-` ones by name).
 */
function licenseChoice(
  detections: LicenseDetection[],
  acknowledgement: 'declared' | 'concluded',
): Json[] | undefined {
  const expressions = [...new Set(detections.map((d) => d.expression).filter((e): e is string => !!e))];
  if (expressions.length === 0) return undefined;
  if (expressions.length === 1 && !isSingleId(expressions[0]!)) {
    return [{ expression: expressions[0], acknowledgement }];
  }
  const ids = [...new Set(expressions.flatMap((e) => parseExpression(e)!.ids))];
  return ids.map((id) => ({
    license: id.startsWith('LicenseRef-') ? { name: id, acknowledgement } : { id, acknowledgement },
  }));
}

function isSingleId(expression: string): boolean {
  const parsed = parseExpression(expression);
  return parsed !== undefined && parsed.ids.length === 1 && parsed.ids[0] === expression;
}
