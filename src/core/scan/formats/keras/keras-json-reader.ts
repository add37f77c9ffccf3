import type { ScanContext } from '../../context.js';
import { inspectKerasConfig } from './keras-config.js';

/**
 * A JSON object that serializes a Keras object (`{"module", "class_name", "config", ...}`):
 * Keras 3 `config.json` inside a `.keras` zip, Keras 2 `model.to_json()`. Returns the parsed
 * document, or undefined when it is not JSON (reported).
 */
export function inspectKerasText(text: string, context: ScanContext): unknown {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch {
    context.report('kerasUnreadable', 'Keras config is not valid JSON and was not inspected');
    context.partial();
    return undefined;
  }
  inspectKerasConfig(config, context, 'Keras config');
  return config;
}
