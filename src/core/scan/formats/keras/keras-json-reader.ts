import { readAllBounded } from '../../../source.js';
import type { FormatReader } from '../../format-reader.js';
import { looksLikeText } from '../config/walk.js';
import { inspectKerasConfig } from './keras-config.js';

/** A Keras config is read whole; real ones are kilobytes to a few megabytes. */
export const maxConfigBytes = 64 * 2 ** 20;

/**
 * A JSON object that serializes a Keras object: `{"module": ..., "class_name": ..., "config": ...}`
 * (Keras 3 `config.json` inside a `.keras` zip) or `{"class_name": ..., "config": ...}` (Keras 2
 * `model.to_json()`), recognised by its first keys.
 */
export function looksLikeKerasJson(head: Uint8Array): boolean {
  const text = new TextDecoder().decode(head.subarray(0, 4096));
  const start = text.replace(/^\uFEFF?\s*/, '');
  if (!start.startsWith('{')) return false;
  return (
    /^\{\s*(?:"(?:module|registered_name)"\s*:\s*(?:"[^"]*"|null)\s*,\s*)*"class_name"\s*:/.test(start) &&
    looksLikeText(head)
  );
}

/** Keras model configs in JSON: `config.json` of a `.keras` archive and Keras 2 JSON models. */
export const kerasJsonReader: FormatReader = {
  id: 'keras-config',
  description: 'Keras model config',
  detect: (head) => looksLikeKerasJson(head),
  async scan(source, context) {
    const bytes = await readAllBounded(source, maxConfigBytes);
    if (!bytes) {
      context.report(
        'kerasUnreadable',
        `Keras config is larger than ${maxConfigBytes} bytes and was not inspected`,
      );
      context.partial();
      return undefined;
    }
    let config: unknown;
    try {
      config = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      context.report('kerasUnreadable', 'Keras config is not valid JSON and was not inspected');
      context.partial();
      return undefined;
    }
    inspectKerasConfig(config, context, 'Keras config');
    return undefined;
  },
};
