import { readAllBounded } from '../../../source.js';
import type { ScanContext } from '../../context.js';
import type { FormatReader } from '../../format-reader.js';

/** Hugging Face configs are small; larger JSON is not read whole. */
const maxConfigBytes = 16 * 2 ** 20;

/**
 * The code files an `auto_map` (config.json, tokenizer_config.json) makes transformers import
 * with trust_remote_code: `module.Class` is `module.py` of this repository, `repo--module.Class`
 * the file of another repository. Values are strings, or lists (slow and fast tokenizer) with nulls.
 */
export function autoMapFiles(autoMap: unknown): string[] {
  if (typeof autoMap !== 'object' || autoMap === null) return [];
  const files = new Set<string>();
  const add = (reference: unknown) => {
    if (typeof reference !== 'string' || !reference.includes('.')) return;
    const [repo, path] = reference.includes('--') ? reference.split('--', 2) : [undefined, reference];
    const module = path!.slice(0, path!.lastIndexOf('.'));
    const file = `${module.replaceAll('.', '/')}.py`;
    files.add(repo ? `${file} of the repository ${repo}` : file);
  };
  for (const value of Object.values(autoMap)) {
    if (Array.isArray(value)) value.forEach(add);
    else add(value);
  }
  return [...files].sort();
}

/** Reports the `auto_map` of a parsed Hugging Face config. Other readers of JSON configs call it too. */
export function checkAutoMap(config: unknown, context: ScanContext): void {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return;
  const files = autoMapFiles((config as Record<string, unknown>).auto_map);
  if (files.length === 0) return;
  const shown = files.slice(0, 10).join(', ');
  const more = files.length > 10 ? ` and ${files.length - 10} more` : '';
  context.report(
    'remoteCode',
    `auto_map runs the repository's own code with trust_remote_code: ${shown}${more}`,
  );
}

/**
 * JSON objects that carry an `auto_map` key in their first bytes (transformers writes
 * config.json with sorted keys, so it comes early): Hugging Face model and tokenizer configs.
 */
export const hfAutoMapReader: FormatReader = {
  id: 'hf-config',
  description: 'Hugging Face config',
  detect(head, source) {
    if (source.size !== undefined && source.size > maxConfigBytes) return false;
    const text = new TextDecoder().decode(head.subarray(0, 64 * 1024));
    return /^\uFEFF?\s*\{\s*"/.test(text) && text.includes('"auto_map"');
  },
  async scan(source, context) {
    const bytes = await readAllBounded(source, maxConfigBytes);
    if (!bytes) return undefined;
    let config: unknown;
    try {
      config = JSON.parse(new TextDecoder().decode(bytes).replace(/^\uFEFF/, ''));
    } catch {
      return undefined; // not JSON after all; transformers would refuse it too
    }
    checkAutoMap(config, context);
    return undefined;
  },
};
