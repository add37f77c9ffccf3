import { readAllBounded } from '../../../source.js';
import type { FindingDetails, ScanContext } from '../../context.js';
import type { FormatReader } from '../../format-reader.js';
import { checkAutoMap } from '../hf-config/auto-map.js';
import { analyseTemplate } from './template-analysis.js';

/** Analyses one template and reports what it finds, each message prefixed with where it sits. */
export function reportTemplate(context: ScanContext, label: string, template: string, offset?: number): void {
  const details: FindingDetails = offset === undefined ? {} : { offset };
  for (const issue of analyseTemplate(template))
    context.report(issue.rule, `${label}: ${issue.message}`, details);
}

/** Hugging Face files that carry chat templates; they have no magic, so their names are the signal. */
const jsonNames = new Set(['tokenizer_config.json', 'chat_template.json', 'processor_config.json']);
const maxJsonBytes = 64 * 2 ** 20;

function baseName(name: string): string {
  const last = name.split('!').at(-1) ?? name;
  return last.slice(Math.max(last.lastIndexOf('/'), last.lastIndexOf('\\')) + 1);
}

function firstCharacter(head: Uint8Array): number | undefined {
  let at = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
  while (
    at < head.length &&
    (head[at] === 0x20 || head[at] === 0x0a || head[at] === 0x0d || head[at] === 0x09)
  )
    at++;
  return head[at];
}

function isText(head: Uint8Array): boolean {
  if (head.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, Math.max(0, head.length - 3)));
    return true;
  } catch {
    return false;
  }
}

/**
 * Chat templates in `tokenizer_config.json` (`chat_template` as a string or a list of
 * `{name, template}`), `chat_template.json`, `processor_config.json`, and `*.jinja` files
 * (`chat_template.jinja`, `additional_chat_templates/<name>.jinja`). Detected by name plus
 * content: a JSON object, or UTF-8 text.
 */
export const chatTemplateReader: FormatReader = {
  id: 'chat-template',
  description: 'chat template',
  detect(head, _source, name) {
    if (name === undefined) return false;
    const base = baseName(name).toLowerCase();
    if (jsonNames.has(base)) return firstCharacter(head) === 0x7b;
    return base.endsWith('.jinja') && isText(head);
  },
  async scan(source, context) {
    const base = baseName(context.name).toLowerCase();
    const bytes = await readAllBounded(source, maxJsonBytes);
    if (bytes === undefined) {
      context.report(
        'templateUnparsable',
        `${base} is larger than ${maxJsonBytes} bytes; its templates were not analysed`,
      );
      context.partial();
      return undefined;
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
    } catch {
      context.report('templateUnparsable', `${base} is not valid UTF-8; its templates were not analysed`);
      return undefined;
    }
    if (base.endsWith('.jinja')) {
      reportTemplate(context, 'template', text);
      return { format: 'chat-template' };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      context.report('templateUnparsable', `${base} is not valid JSON; its chat templates were not analysed`);
      return undefined;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
    // A tokenizer with code of its own names it in auto_map, like a model's config.json.
    checkAutoMap(parsed, context);
    const value = (parsed as Record<string, unknown>).chat_template;
    if (value === undefined || value === null) return { format: 'tokenizer-config' };
    if (typeof value === 'string') reportTemplate(context, 'chat_template', value);
    else if (Array.isArray(value)) {
      for (const [index, entry] of value.entries()) {
        const template = (entry as { template?: unknown } | null)?.template;
        const entryName = (entry as { name?: unknown } | null)?.name;
        const label = `chat_template[${typeof entryName === 'string' ? JSON.stringify(entryName) : index}]`;
        if (typeof template === 'string') reportTemplate(context, label, template);
        else
          context.report(
            'templateUnparsable',
            `${label} is not a {name, template} entry with a string template`,
          );
      }
    } else if (typeof value === 'object') {
      for (const [key, template] of Object.entries(value as Record<string, unknown>)) {
        const label = `chat_template[${JSON.stringify(key)}]`;
        if (typeof template === 'string') reportTemplate(context, label, template);
      }
    } else context.report('templateUnparsable', 'chat_template is neither a string nor a list of templates');
    return { format: base === 'tokenizer_config.json' ? 'tokenizer-config' : 'chat-template' };
  },
};
