import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { MlsecError } from '../core/errors.js';
import { isSeverity, type Severity } from '../core/findings.js';
import { licenseCategories } from '../core/license/catalog.js';

/** The `.mlsec.yaml` file, as plain data. Unknown keys are refused so typos do not pass silently. */
export interface MlsecConfig {
  path: string | undefined;
  scan: {
    failOn?: Severity | 'never';
    exclude: string[];
    allowGlobals: string[];
    denyGlobals: string[];
  };
  /** The licence policy; absent when the file has no `license:` section (no licence gating). */
  license?: LicenseConfig;
  /** The line of each key and list item (`scan.exclude`, `license.deny[2]`), for messages about them. */
  lines: Record<string, number>;
}

/** The licence categories a policy may name: the core's catalogue, so the two never drift apart. */
export const licenseCategoryNames = licenseCategories;

/** `license:` as written; identifiers are resolved (and refused when unknown) by the licence policy. */
export interface LicenseConfig {
  require: boolean;
  allow: string[];
  deny: string[];
  categories: Partial<Record<(typeof licenseCategoryNames)[number], 'allow' | 'deny' | 'review'>>;
  exceptions: { path: string; license?: string; reason: string; expires: string }[];
}

export const configFileNames = ['.mlsec.yaml', '.mlsec.yml'];
const maxConfigBytes = 1 << 20;

export function emptyConfig(): MlsecConfig {
  return { path: undefined, scan: { exclude: [], allowGlobals: [], denyGlobals: [] }, lines: {} };
}

/** The config in `cwd`, or in the nearest parent up to the git root; none is fine. */
export function findConfig(cwd: string): string | undefined {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    for (const name of configFileNames) {
      const candidate = join(dir, name);
      if (existsSync(candidate)) return candidate;
    }
    if (existsSync(join(dir, '.git')) || dirname(dir) === dir) return undefined;
  }
}

export async function loadConfig(explicit: string | undefined, cwd: string): Promise<MlsecConfig> {
  const path = explicit ? resolve(cwd, explicit) : findConfig(cwd);
  if (!path) return emptyConfig();
  let text: string;
  try {
    const bytes = await readFile(path);
    if (bytes.length > maxConfigBytes) throw new MlsecError('CONFIG_INVALID', `${path}: larger than 1 MiB`);
    text = bytes.toString('utf8');
  } catch (error) {
    if (error instanceof MlsecError) throw error;
    throw new MlsecError(
      'CONFIG_INVALID',
      `cannot read config ${explicit ?? path}: ${(error as Error).message}`,
    );
  }
  return parseConfig(text, path);
}

/** The YAML parser is loaded only when a config file exists (it is a noticeable part of start-up). */
export async function parseConfig(text: string, path: string): Promise<MlsecConfig> {
  const yaml = await import('yaml');
  const lineCounter = new yaml.LineCounter();
  // logLevel: the errors below say what is wrong; the parser's own warnings would go to stderr.
  const document = yaml.parseDocument(text, { lineCounter, logLevel: 'error' });
  const first = document.errors[0];
  if (first) {
    const line = first.linePos?.[0].line;
    throw new MlsecError(
      'CONFIG_INVALID',
      `${path}${line ? `:${line}` : ''}: ${first.message.split('\n')[0]}`,
    );
  }
  const data: unknown = document.toJS() ?? {};
  const lines = keyLines(yaml, document.contents, lineCounter);
  // Every message starts with the key it is about; the file's line of that key (or, for a missing
  // key, of the nearest key around it) goes before it.
  const fail = (message: string): never => {
    let key = /^(?:unknown key )?([^\s:(]+)(?::| \()/.exec(message)?.[1];
    while (key && lines[key] === undefined) {
      const parent = key.replace(/(?:\.[^.[]+|\[\d+\])$/, '');
      key = parent && parent !== key ? parent : undefined;
    }
    const line = key === undefined ? undefined : lines[key];
    throw new MlsecError('CONFIG_INVALID', `${path}${line ? `:${line}` : ''}: ${message}`);
  };
  if (!isRecord(data)) return fail('expected a mapping at the top level');
  checkKeys(data, ['scan', 'license'], '', fail);
  const config = emptyConfig();
  config.path = path;
  config.lines = lines;
  const scan = data.scan ?? {};
  if (!isRecord(scan)) return fail('scan: expected a mapping');
  checkKeys(scan, ['fail-on', 'exclude', 'allow-globals', 'deny-globals'], 'scan.', fail);
  const failOn = scan['fail-on'];
  if (failOn !== undefined) {
    if (typeof failOn !== 'string' || (failOn !== 'never' && !isSeverity(failOn))) {
      fail('scan.fail-on: expected info, low, medium, high, critical or never');
    }
    config.scan.failOn = failOn as Severity | 'never';
  }
  config.scan.exclude = stringList(scan.exclude, 'scan.exclude', fail);
  config.scan.allowGlobals = globalList(scan['allow-globals'], 'scan.allow-globals', fail);
  config.scan.denyGlobals = globalList(scan['deny-globals'], 'scan.deny-globals', fail);
  if (data.license !== undefined && data.license !== null)
    config.license = licenseSection(data.license, fail);
  return config;
}

function licenseSection(value: unknown, fail: (m: string) => never): LicenseConfig {
  if (!isRecord(value)) return fail('license: expected a mapping');
  checkKeys(value, ['require', 'allow', 'deny', 'categories', 'exceptions'], 'license.', fail);
  if (value.require !== undefined && typeof value.require !== 'boolean')
    fail('license.require: expected true or false');
  const categories: LicenseConfig['categories'] = {};
  const rawCategories = value.categories ?? {};
  if (!isRecord(rawCategories))
    return fail('license.categories: expected a mapping of category to allow, deny or review');
  checkKeys(rawCategories, [...licenseCategoryNames], 'license.categories.', fail);
  for (const [name, rule] of Object.entries(rawCategories)) {
    if (rule !== 'allow' && rule !== 'deny' && rule !== 'review')
      fail(`license.categories.${name}: expected allow, deny or review`);
    categories[name as keyof LicenseConfig['categories']] = rule as 'allow' | 'deny' | 'review';
  }
  const rawExceptions = value.exceptions ?? [];
  if (!Array.isArray(rawExceptions)) return fail('license.exceptions: expected a list');
  const exceptions = rawExceptions.map((item, index) => {
    const where = `license.exceptions[${index}]`;
    if (!isRecord(item)) return fail(`${where}: expected a mapping with path, reason and expires`);
    checkKeys(item, ['path', 'license', 'reason', 'expires'], `${where}.`, fail);
    const { path, license, reason } = item;
    // YAML reads an unquoted 2027-01-31 as a timestamp when the schema allows; accept both.
    const expires = item.expires instanceof Date ? item.expires.toISOString().slice(0, 10) : item.expires;
    if (typeof path !== 'string' || path === '') fail(`${where}.path: expected a path or glob`);
    if (typeof reason !== 'string' || reason.trim() === '')
      fail(`${where}.reason: required (why the exception is granted)`);
    if (
      typeof expires !== 'string' ||
      !/^\d{4}-\d{2}-\d{2}$/.test(expires) ||
      Number.isNaN(Date.parse(expires))
    )
      fail(`${where}.expires: required, a date such as 2027-01-31`);
    if (license !== undefined && typeof license !== 'string') fail(`${where}.license: expected a licence id`);
    const exception: LicenseConfig['exceptions'][number] = {
      path: path as string,
      reason: (reason as string).trim(),
      expires: expires as string,
    };
    if (license !== undefined) exception.license = license as string;
    return exception;
  });
  return {
    require: value.require === true,
    allow: stringList(value.allow, 'license.allow', fail),
    deny: stringList(value.deny, 'license.deny', fail),
    categories,
    exceptions,
  };
}

/** Deeper than any key of the schema: a hostile file's nesting is not walked. */
const maxKeyDepth = 6;

/** Key paths as messages name them (`license.exceptions[0].expires`) and the line each starts on. */
function keyLines(
  yaml: typeof import('yaml'),
  root: unknown,
  lineCounter: InstanceType<typeof import('yaml').LineCounter>,
): Record<string, number> {
  const lines: Record<string, number> = {};
  const lineOf = (node: unknown) => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range ? lineCounter.linePos(range[0]).line : undefined;
  };
  const walk = (node: unknown, prefix: string, depth: number): void => {
    if (depth > maxKeyDepth) return;
    const children: [string, unknown, unknown][] = [];
    if (yaml.isMap(node)) {
      for (const pair of node.items) {
        if (!yaml.isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        children.push([prefix ? `${prefix}.${key}` : key, pair.key, pair.value]);
      }
    } else if (yaml.isSeq(node)) {
      for (const [index, item] of node.items.entries()) children.push([`${prefix}[${index}]`, item, item]);
    }
    for (const [path, at, value] of children) {
      const line = lineOf(at);
      if (line !== undefined) lines[path] = line;
      walk(value, path, depth + 1);
    }
  };
  walk(root, '', 0);
  return lines;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(
  value: Record<string, unknown>,
  allowed: string[],
  prefix: string,
  fail: (m: string) => never,
): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail(`unknown key ${prefix}${key} (expected one of: ${allowed.join(', ')})`);
  }
}

function stringList(value: unknown, where: string, fail: (m: string) => never): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    return fail(`${where}: expected a list of strings`);
  return value as string[];
}

/** Entries are a pattern string, or `{ global: pattern, reason: text }` so reviews keep the why. */
function globalList(value: unknown, where: string, fail: (m: string) => never): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return fail(`${where}: expected a list`);
  return value.map((item, index) => {
    const pattern = isRecord(item) ? item.global : item;
    if (typeof pattern !== 'string' || !/^[A-Za-z_][\w.]*(\.\*)?$/.test(pattern)) {
      return fail(`${where}[${index}]: expected a dotted name such as mypkg.models.Net or mypkg.models.*`);
    }
    return pattern;
  });
}
