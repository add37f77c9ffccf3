import { type ByteSource, concatBytes } from '../../../source.js';
import type { ScanContext } from '../../context.js';
import type { FormatReader } from '../../format-reader.js';
import { inspectHydraText } from '../hydra/hydra-reader.js';
import { inspectKerasText } from '../keras/keras-json-reader.js';
import { looksLikeText } from './walk.js';

/** Configs are parsed whole up to this size; real ones are kilobytes to a few megabytes. */
export const maxConfigBytes = 64 * 2 ** 20;

const kerasMarker = '"class_name"';
const targetMarkers = ['_target_', '_call_'];

interface Marked {
  keras: boolean;
  targets: boolean;
  /** The whole text, when it is within maxConfigBytes. */
  bytes: Uint8Array | undefined;
}

/**
 * Reads at most maxConfigBytes of a text file: keeps them for parsing, and looks for the keys that
 * make it a Keras config or an instantiation config anywhere in them (a loader ignores key order
 * and padding, so the first 64 KiB prove nothing). A longer file is not read on: text of that
 * size is data (a dataset, a tokenizer), not a model config.
 */
async function readMarked(source: ByteSource): Promise<Marked> {
  const kept: Uint8Array[] = [];
  let total = 0;
  let complete = true;
  for await (const chunk of source.stream()) {
    if (total + chunk.length > maxConfigBytes) {
      kept.push(chunk.subarray(0, maxConfigBytes - total));
      total = maxConfigBytes;
      complete = false;
      break;
    }
    kept.push(chunk);
    total += chunk.length;
  }
  const bytes = concatBytes(kept, total);
  const text = new TextDecoder('latin1').decode(bytes);
  return {
    keras: text.includes(kerasMarker),
    targets: targetMarkers.some((m) => text.includes(m)),
    bytes: complete ? bytes : undefined,
  };
}

/**
 * Text files that no other reader claimed: JSON Keras configs (`config.json` of a `.keras`
 * archive, Keras 2 `model.to_json()`) and Hydra/NeMo YAML or JSON configs (`model_config.yaml`
 * of a `.nemo` archive, configs beside a model). Last in the table, so binary formats and
 * protocol-0 pickles are recognised first.
 */
export const configTextReader: FormatReader = {
  id: 'text',
  description: 'text file',
  detect: (head) => looksLikeText(head),
  async scan(source, context) {
    const marked = await readMarked(source);
    if (!marked.keras && !marked.targets) return { format: 'unknown' };
    if (!marked.bytes) {
      report(context, marked.keras, `config is larger than ${maxConfigBytes} bytes and was not inspected`);
      return { format: marked.keras ? 'keras-config' : 'hydra-config' };
    }
    const text = new TextDecoder().decode(marked.bytes);
    if (marked.keras && /^\uFEFF?\s*\{/.test(text)) {
      const parsed = inspectKerasText(text, context);
      if (marked.targets && parsed !== undefined) await inspectHydraText(text, context, parsed);
      return { format: 'keras-config' };
    }
    if (marked.targets) {
      await inspectHydraText(text, context);
      return { format: 'hydra-config' };
    }
    return { format: 'unknown' };
  },
};

function report(context: ScanContext, keras: boolean, message: string): void {
  context.report(
    keras ? 'kerasUnreadable' : 'hydraUnreadable',
    `${keras ? 'Keras' : 'Hydra/NeMo'} ${message}`,
  );
  context.partial();
}
