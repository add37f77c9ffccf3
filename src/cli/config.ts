import { relative } from 'node:path';
import { loadConfig, type MlsecConfig } from '../io/config.js';
import { printable, type Terminal } from './output.js';

/** The config in effect for a command, with a warning naming whatever of it is ignored. */
export async function loadCommandConfig(flag: string | undefined, terminal: Terminal): Promise<MlsecConfig> {
  const config = await loadConfig(flag, terminal.cwd, terminal.env);
  if (config.ignored.length > 0)
    terminal.stderr.write(`mlsec: warning: ${ignoredWarning(config, terminal.cwd)}\n`);
  return config;
}

/** A path as the user would type it from here: relative below the working directory, else absolute. */
export function shownPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel === '' || rel.startsWith('..') ? path : rel;
}

export function ignoredWarning(config: MlsecConfig, cwd: string): string {
  const file = printable(shownPath(config.path!, cwd));
  const settings = config.ignored
    .map(({ key, line }) => (line === undefined ? key : `${key} (line ${line})`))
    .join(', ');
  const state = config.trust === 'changed' ? 'changed since it was approved' : 'not approved';
  return (
    `${file} is ${state}, so its settings that weaken the policy are ignored: ${settings}; ` +
    `approve it with "mlsec config trust ${file}" or name it with --config or MLSEC_CONFIG`
  );
}
