import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { MlsecError } from '../core/errors.js';
import { isSeverity, type Severity } from '../core/findings.js';

/** The `.mlsec.yaml` file, as plain data. Unknown keys are refused so typos do not pass silently. */
export interface MlsecConfig {
  path: string | undefined;
  scan: {
    failOn?: Severity | 'never';
    exclude: string[];
    allowGlobals: string[];
    denyGlobals: string[];
  };
}

export const configFileNames = ['.mlsec.yaml', '.mlsec.yml'];
const maxConfigBytes = 1 << 20;

export function emptyConfig(): MlsecConfig {
  return { path: undefined, scan: { exclude: [], allowGlobals: [], denyGlobals: [] } };
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
  const { parseDocument } = await import('yaml');
  const document = parseDocument(text);
  const first = document.errors[0];
  if (first) {
    const line = first.linePos?.[0].line;
    throw new MlsecError(
      'CONFIG_INVALID',
      `${path}${line ? `:${line}` : ''}: ${first.message.split('\n')[0]}`,
    );
  }
  const data: unknown = document.toJS() ?? {};
  const fail = (message: string): never => {
    throw new MlsecError('CONFIG_INVALID', `${path}: ${message}`);
  };
  if (!isRecord(data)) return fail('expected a mapping at the top level');
  checkKeys(data, ['scan'], '', fail);
  const config = emptyConfig();
  config.path = path;
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
  return config;
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
