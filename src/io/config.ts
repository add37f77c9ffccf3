import { constants, existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
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
  const bytes = await readConfigFile(path, explicit ?? path);
  return parseConfig(bytes.toString('utf8'), path);
}

/**
 * The bytes of a config file, opened once and read with a bound. O_NONBLOCK: opening a FIFO for
 * reading would otherwise wait for a writer forever. Only a regular file is read (fstat on the
 * open descriptor, so the check and the read concern the same file): a checked-in symbolic link to
 * /dev/zero, a device or a FIFO is an error, and so is a file that grows past the bound.
 */
export async function readConfigFile(path: string, shown: string = path): Promise<Buffer> {
  const flags = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, flags);
  } catch (error) {
    throw new MlsecError('CONFIG_INVALID', `cannot read config ${shown}: ${(error as Error).message}`);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      throw new MlsecError('CONFIG_INVALID', `${shown}: not a regular file (${fileKind(info)}); refused`);
    }
    if (info.size > maxConfigBytes) throw new MlsecError('CONFIG_INVALID', `${shown}: larger than 1 MiB`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, maxConfigBytes + 1 - total));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
      if (total > maxConfigBytes) throw new MlsecError('CONFIG_INVALID', `${shown}: larger than 1 MiB`);
    }
    return Buffer.concat(chunks, total);
  } catch (error) {
    if (error instanceof MlsecError) throw error;
    throw new MlsecError('CONFIG_INVALID', `cannot read config ${shown}: ${(error as Error).message}`);
  } finally {
    await handle.close();
  }
}

function fileKind(info: import('node:fs').Stats): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isSocket()) return 'a socket';
  return 'not a file';
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
