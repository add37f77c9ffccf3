import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { MlsecError } from '../core/errors.js';
import { isSeverity, type Severity } from '../core/findings.js';
import { licenseCategories } from '../core/license/catalog.js';
import { readConfigFile } from './config-file.js';
import { sha256Hex, type TrustStatus, trustStatus } from './trusted-configs.js';

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
  /**
   * How the file was chosen: named by `--config` or `MLSEC_CONFIG` (the user vouches for it), or
   * found by discovery, when only an approved file (`mlsec config trust`) may weaken the policy.
   */
  source?: 'flag' | 'env' | 'discovered';
  /** For a discovered file: approved with these bytes, approved with other bytes, or never. */
  trust?: TrustStatus;
  /** SHA-256 of the bytes read. */
  sha256?: string;
  /** Settings that weaken the built-in policy, left out because the file is not vouched for. */
  ignored: { key: string; line: number | undefined }[];
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

export function emptyConfig(): MlsecConfig {
  return {
    path: undefined,
    scan: { exclude: [], allowGlobals: [], denyGlobals: [] },
    lines: {},
    ignored: [],
  };
}

/**
 * The settings of a config that weaken the built-in policy, which only a file the user vouches
 * for may use. Every key, classified:
 * - `scan.fail-on`: `critical` and `never` weaken (the built-in threshold is `high`); lower
 *   thresholds tighten.
 * - `scan.exclude`: weakens (skipped files are not scanned).
 * - `scan.allow-globals`: weakens, every entry. An allowed name also allows every dotted attribute
 *   walk below it (`mypkg.models` + `os.system` reaches `os.system` when the module imports os), so
 *   even a name the built-in list calls unknown lets a pickle reach globals it calls dangerous.
 * - `scan.deny-globals`: tightens.
 * - `license.*`: the built-in policy has no licence rules, so a licence section can only add
 *   findings; its allow lists, allowed categories and exceptions qualify only its own rules.
 */
export function weakeningSettings(config: MlsecConfig): { key: string; line: number | undefined }[] {
  const found: { key: string; line: number | undefined }[] = [];
  const add = (key: string) => found.push({ key, line: config.lines[key] });
  if (config.scan.failOn === 'critical' || config.scan.failOn === 'never') add('scan.fail-on');
  if (config.scan.exclude.length > 0) add('scan.exclude');
  if (config.scan.allowGlobals.length > 0) add('scan.allow-globals');
  return found;
}

/** The config without its weakening settings: what a discovered, unapproved file may still do. */
function withoutWeakening(config: MlsecConfig): MlsecConfig {
  const ignored = weakeningSettings(config);
  const scan = { ...config.scan, exclude: [], allowGlobals: [] };
  if (ignored.some((setting) => setting.key === 'scan.fail-on')) delete scan.failOn;
  return { ...config, scan, ignored };
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

/**
 * The config in effect: the file `--config` names, else the one `MLSEC_CONFIG` names, else the one
 * discovery finds. A discovered file keeps its weakening settings only when the user approved
 * these very bytes in this place (`env` locates the approvals); otherwise they are left out and
 * listed in `ignored`, and the rest (what tightens the policy) applies.
 */
export async function loadConfig(
  explicit: string | undefined,
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): Promise<MlsecConfig> {
  const named = explicit || env.MLSEC_CONFIG || undefined;
  const path = named ? resolve(cwd, named) : findConfig(cwd);
  if (!path) return emptyConfig();
  const bytes = await readConfigFile(path, named ?? path);
  const config = await parseConfig(bytes.toString('utf8'), path);
  config.sha256 = sha256Hex(bytes);
  config.source = explicit ? 'flag' : named ? 'env' : 'discovered';
  if (config.source !== 'discovered' || weakeningSettings(config).length === 0) return config;
  // The approvals are read only when they matter: most configs weaken nothing.
  config.trust = await trustStatus(env, path, config.sha256);
  return config.trust === 'approved' ? config : withoutWeakening(config);
}

/**
 * Nesting deeper than this is refused before the YAML parser sees it: its composer recurses once
 * per level, so a file of a million `[` would overflow the stack (and take seconds and hundreds
 * of MiB first). Counted generously (indentation columns, block indicators on the line and open
 * flow collections), so a real config, at most five levels deep, is far from it.
 */
const maxNesting = 64;
/** Alias expansions per alias; the schema has no use for many (yaml's own default is 100). */
const maxAliasCount = 100;

/**
 * One pass of yaml's own lexer (a state machine, no recursion) over the text, stopping at the
 * first line that nests too deep. Returns the line of the first alias, for alias-bomb messages.
 */
function checkNesting(
  yaml: typeof import('yaml'),
  text: string,
  fail: (line: number, message: string) => never,
): number | undefined {
  let line = 1;
  let flow = 0;
  let indent = 0;
  let indicators = 0;
  let lineStart = true;
  let scalarNext = false;
  let firstAlias: number | undefined;
  for (const token of new yaml.Lexer().lex(text)) {
    const startLine = line;
    for (let at = token.indexOf('\n'); at !== -1; at = token.indexOf('\n', at + 1)) line += 1;
    if (scalarNext) {
      // The source of a scalar, whatever it holds (brackets in quotes, a block scalar's lines).
      scalarNext = false;
      lineStart = false;
      continue;
    }
    switch (yaml.CST.tokenType(token)) {
      case 'scalar':
        scalarNext = true;
        break;
      case 'newline':
        indent = 0;
        indicators = 0;
        lineStart = true;
        break;
      case 'space':
        if (lineStart) indent = token.length;
        break;
      case 'flow-map-start':
      case 'flow-seq-start':
        flow += 1;
        lineStart = false;
        break;
      case 'flow-map-end':
      case 'flow-seq-end':
        flow = Math.max(0, flow - 1);
        lineStart = false;
        break;
      case 'seq-item-ind':
      case 'explicit-key-ind':
      case 'map-value-ind':
        if (flow === 0) indicators += 1;
        lineStart = false;
        break;
      case 'alias':
        firstAlias ??= startLine;
        lineStart = false;
        break;
      default:
        lineStart = false;
    }
    if (indent + indicators + flow > maxNesting) {
      fail(startLine, `nested deeper than ${maxNesting} levels; refused`);
    }
  }
  return firstAlias;
}

/** The YAML parser is loaded only when a config file exists (it is a noticeable part of start-up). */
export async function parseConfig(text: string, path: string): Promise<MlsecConfig> {
  const yaml = await import('yaml');
  const failAt = (line: number | undefined, message: string): never => {
    throw new MlsecError('CONFIG_INVALID', `${path}${line ? `:${line}` : ''}: ${message}`);
  };
  const firstAlias = checkNesting(yaml, text, failAt);
  const lineCounter = new yaml.LineCounter();
  // logLevel: the errors below say what is wrong; the parser's own warnings would go to stderr.
  const document = yaml.parseDocument(text, { lineCounter, logLevel: 'error' });
  const first = document.errors[0];
  if (first) failAt(first.linePos?.[0].line, first.message.split('\n')[0]!);
  let data: unknown;
  try {
    data = document.toJS({ maxAliasCount }) ?? {};
  } catch (error) {
    // yaml refuses an alias that expands too far (an alias bomb) with a ReferenceError.
    if (!(error instanceof ReferenceError)) throw error;
    return failAt(firstAlias, `aliases expand too far (over ${maxAliasCount} nodes per alias); refused`);
  }
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
