import { parseDocument } from 'yaml';

/** The parts of a Hugging Face model or dataset card a licence review and an ML-BOM use. */
export interface ModelCard {
  license: string[];
  licenseName?: string;
  /** `license_link`, or its misspelling `license_url` seen on the Hub. */
  licenseLink?: string;
  /** 1-based line of the `license` key in the file, for evidence. */
  licenseLine?: number;
  baseModels: string[];
  datasets: string[];
  pipelineTag?: string;
  libraryName?: string;
  tags: string[];
  languages: string[];
}

export type CardParse =
  | { kind: 'card'; card: ModelCard }
  | { kind: 'no-front-matter' }
  | { kind: 'malformed'; message: string; line?: number };

/**
 * Reads the YAML front matter at the top of a README. `text` may be only the first part of the
 * file: front matter that does not close inside it is reported as malformed, not searched for.
 */
export function parseModelCard(text: string, truncated = false): CardParse {
  const body = text.replace(/^\uFEFF/, '');
  const open = /^---[ \t]*\r?\n/.exec(body);
  if (!open) return { kind: 'no-front-matter' };
  const rest = body.slice(open[0].length);
  const close = /^(---|\.\.\.)[ \t]*$/m.exec(rest);
  if (!close) {
    return {
      kind: 'malformed',
      message: truncated
        ? 'front matter does not end within the part of the file read'
        : 'front matter has no closing --- line',
      line: 1,
    };
  }
  const yamlText = rest.slice(0, close.index);
  const document = parseDocument(yamlText, { uniqueKeys: true });
  const error = document.errors[0];
  if (error) {
    const line = error.linePos?.[0].line;
    // The parser's own "at line N" counts from the front matter, not the file: the line is reported apart.
    const message = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    const result: CardParse = { kind: 'malformed', message };
    if (line !== undefined) result.line = line + 1;
    return result;
  }
  const data: unknown = document.toJS({ maxAliasCount: 100 });
  if (data === null || data === undefined) return { kind: 'card', card: emptyCard() };
  if (typeof data !== 'object' || Array.isArray(data)) {
    return { kind: 'malformed', message: 'front matter is not a mapping', line: 2 };
  }
  const fields = data as Record<string, unknown>;
  const card = emptyCard();
  card.license = strings(fields.license);
  const name = scalar(fields.license_name);
  if (name !== undefined) card.licenseName = name;
  const link = scalar(fields.license_link) ?? scalar(fields.license_url);
  if (link !== undefined) card.licenseLink = link;
  const line = lineOfKey(yamlText, 'license');
  if (line !== undefined) card.licenseLine = line + 1;
  card.baseModels = strings(fields.base_model);
  card.datasets = strings(fields.datasets);
  const pipelineTag = scalar(fields.pipeline_tag);
  if (pipelineTag !== undefined) card.pipelineTag = pipelineTag;
  const libraryName = scalar(fields.library_name);
  if (libraryName !== undefined) card.libraryName = libraryName;
  card.tags = strings(fields.tags);
  card.languages = strings(fields.language);
  return { kind: 'card', card };
}

function emptyCard(): ModelCard {
  return { license: [], baseModels: [], datasets: [], tags: [], languages: [] };
}

function scalar(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim();
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** A string or a list of strings (the Hub's schema says one licence; cards in the wild list several). */
function strings(value: unknown): string[] {
  const items = Array.isArray(value) ? value : [value];
  return items.map(scalar).filter((v): v is string => v !== undefined);
}

function lineOfKey(yamlText: string, key: string): number | undefined {
  const index = yamlText.split(/\r?\n/).findIndex((line) => line.startsWith(`${key}:`));
  return index < 0 ? undefined : index + 1;
}
