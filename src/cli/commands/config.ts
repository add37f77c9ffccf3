import { resolve } from 'node:path';
import type { Command } from 'commander';
import { MlsecError } from '../../core/errors.js';
import { findConfig, loadConfig, parseConfig, weakeningSettings } from '../../io/config.js';
import { readConfigFile } from '../../io/config-file.js';
import {
  approveConfig,
  sha256Hex,
  trustFilePath,
  trustStatus,
  withdrawConfig,
} from '../../io/trusted-configs.js';
import { ignoredWarning, shownPath } from '../config.js';
import type { Terminal } from '../output.js';

export function registerConfig(program: Command, terminal: Terminal): void {
  const config = program
    .command('config')
    .description('approve a discovered .mlsec.yaml, and show which configuration is in effect');
  config
    .command('trust')
    .description('approve a config by its SHA-256, so its settings that weaken the policy apply')
    .argument('[file]', 'the config (default: the one discovery finds from here)')
    .action(async (file: string | undefined) => {
      const path = configPath(file, terminal);
      const bytes = await readConfigFile(path, file ?? path);
      const parsed = await parseConfig(bytes.toString('utf8'), path);
      const sha256 = sha256Hex(bytes);
      await approveConfig(terminal.env, path, sha256, new Date());
      const weakening = weakeningSettings(parsed).map((s) => s.key);
      terminal.stdout.write(
        `approved ${shownPath(path, terminal.cwd)} (sha256:${sha256}); ${
          weakening.length > 0
            ? `its settings that weaken the policy now apply: ${weakening.join(', ')}`
            : 'it has no settings that weaken the policy'
        }\n`,
      );
    });
  config
    .command('untrust')
    .description('withdraw the approval of a config')
    .argument('[file]', 'the config (default: the one discovery finds from here)')
    .action(async (file: string | undefined) => {
      const path = configPath(file, terminal);
      const withdrawn = await withdrawConfig(terminal.env, path);
      terminal.stdout.write(
        `${shownPath(path, terminal.cwd)} ${withdrawn ? 'is no longer approved' : 'was not approved'}\n`,
      );
    });
  config
    .command('show')
    .description('print the config in effect, how it was chosen, and which of its settings are ignored')
    .option('--config <file>', 'configuration file (default: .mlsec.yaml here or up to the git root)')
    .action(async (flags: { config?: string }) => {
      const loaded = await loadConfig(flags.config, terminal.cwd, terminal.env);
      const lines: string[] = [];
      if (!loaded.path) {
        lines.push('config: none (built-in policy)');
      } else {
        let how: string;
        if (loaded.source === 'flag') how = 'named by --config';
        else if (loaded.source === 'env') how = 'named by MLSEC_CONFIG';
        else {
          const trust = loaded.trust ?? (await trustStatus(terminal.env, loaded.path, loaded.sha256!));
          how = `found from here, ${trust === 'approved' ? 'approved' : trust === 'changed' ? 'changed since it was approved' : 'not approved'}`;
        }
        lines.push(`config: ${shownPath(loaded.path, terminal.cwd)} (${how})`, `sha256: ${loaded.sha256}`);
        const { scan } = loaded;
        lines.push(
          `fail-on: ${scan.failOn ?? 'high (built-in)'}`,
          `exclude: ${scan.exclude.length > 0 ? scan.exclude.join(', ') : '-'}`,
          `allow-globals: ${scan.allowGlobals.length > 0 ? scan.allowGlobals.join(', ') : '-'}`,
          `deny-globals: ${scan.denyGlobals.length > 0 ? scan.denyGlobals.join(', ') : '-'}`,
          `license policy: ${loaded.license ? 'yes' : 'no'}`,
        );
        if (loaded.ignored.length > 0) lines.push(`ignored: ${ignoredWarning(loaded, terminal.cwd)}`);
      }
      lines.push(`approvals: ${trustFilePath(terminal.env)}`);
      terminal.stdout.write(`${lines.join('\n')}\n`);
    });
}

function configPath(file: string | undefined, terminal: Terminal): string {
  if (file !== undefined) return resolve(terminal.cwd, file);
  const found = findConfig(terminal.cwd);
  if (!found) throw new MlsecError('USAGE', 'no .mlsec.yaml here or in a parent up to the git root');
  return found;
}
