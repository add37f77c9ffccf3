import type { Command } from 'commander';
import { MlsecError } from '../../core/errors.js';
import { type SigningCurve, signingCurves } from '../../core/sign/keys.js';
import type { Terminal } from '../output.js';

interface KeygenFlags {
  curve: string;
  output: string;
  passphraseEnv?: string;
  force?: boolean;
}

export function registerKeygen(program: Command, terminal: Terminal): void {
  program
    .command('keygen')
    .description('write an ECDSA key pair for mlsec sign --key (private key mode 0600)')
    .option('--curve <curve>', 'P-256, P-384 or P-521', 'P-256')
    .option('-o, --output <prefix>', 'writes PREFIX.key and PREFIX.pub', 'mlsec')
    .option('--passphrase-env <variable>', 'encrypt the private key with the passphrase in this variable')
    .option('--force', 'replace an existing key pair at that prefix')
    .action(async (flags: KeygenFlags) => {
      const curve = signingCurves.find(
        (c) => c.toLowerCase() === flags.curve.toLowerCase().replace(/^p(\d)/, 'p-$1'),
      );
      if (!curve)
        throw new MlsecError(
          'USAGE',
          `unknown --curve ${JSON.stringify(flags.curve)} (P-256, P-384 or P-521)`,
        );
      let passphrase: string | undefined;
      if (flags.passphraseEnv !== undefined) {
        passphrase = terminal.env[flags.passphraseEnv];
        if (!passphrase) throw new MlsecError('USAGE', `--passphrase-env: ${flags.passphraseEnv} is not set`);
      }
      const { writeKeyPair } = await import('../../io/signing-keys.js');
      const { resolve } = await import('node:path');
      const privatePath = resolve(terminal.cwd, `${flags.output}.key`);
      const publicPath = resolve(terminal.cwd, `${flags.output}.pub`);
      await writeKeyPair(privatePath, publicPath, curve as SigningCurve, passphrase, flags.force === true);
      terminal.stdout.write(
        `wrote ${flags.output}.key (private, mode 600) and ${flags.output}.pub (${curve})\n`,
      );
    });
}
