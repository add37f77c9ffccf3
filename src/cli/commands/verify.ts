import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { MlsecError } from '../../core/errors.js';
import { maxBundleBytes } from '../../core/sign/bundle.js';
import type { ManifestDiff } from '../../core/sign/compare.js';
import { VerificationFailure } from '../../core/sign/failure.js';
import type { VerifyReport } from '../../core/sign/verify-model.js';
import type { VerifyMaterial } from '../../core/sign/verify-signature.js';
import { collect } from '../flags.js';
import type { Terminal } from '../output.js';

interface VerifyFlags {
  signature?: string;
  key?: string;
  certificateChain: string[];
  identity?: string;
  identityRegexp?: string;
  issuer?: string;
  issuerRegexp?: string;
  trustedRoot?: string;
  ignorePath: string[];
  ignoreGitPaths: boolean;
  ignoreUnsignedFiles?: boolean;
  format: string;
  progress?: boolean;
}

export function registerVerify(program: Command, terminal: Terminal, version: string): void {
  program
    .command('verify')
    .description('verify a model against its signature: who signed it, and that no file changed')
    .argument('<model>', 'model directory or single file')
    .option('-s, --signature <path>', 'the signature (default <model>/model.sig, <file>.sig)')
    .option('-k, --key <public.pem>', 'signed with this key (a public key, or a certificate holding it)')
    .option(
      '--certificate-chain <pem>',
      'signed with a certificate chaining to these roots (repeatable)',
      collect,
      [],
    )
    .option('--identity <identity>', 'keyless: the signer, exactly (e-mail or workflow URI)')
    .option('--identity-regexp <pattern>', 'keyless: the signer, as a pattern matching it whole')
    .option('--issuer <url>', 'keyless: the OIDC issuer, exactly')
    .option('--issuer-regexp <pattern>', 'keyless: the OIDC issuer, as a pattern matching it whole')
    .option('--trusted-root <file>', 'keyless: Sigstore trusted root (default: the public-good root)')
    .option('--ignore-path <path>', 'leave a path out of the comparison (repeatable)', collect, [])
    .option('--no-ignore-git-paths', 'compare .git, .github, .gitignore and .gitattributes too')
    .option('--ignore-unsigned-files', 'accept files the signature does not list')
    .option('-f, --format <format>', 'text or json', 'text')
    .option('--progress', 'show hashing progress even when standard error is not a terminal')
    .action(async (model: string, flags: VerifyFlags) => {
      process.exitCode = await runVerify(model, flags, terminal, version);
    });
}

async function runVerify(
  model: string,
  flags: VerifyFlags,
  terminal: Terminal,
  version: string,
): Promise<number> {
  if (flags.format !== 'text' && flags.format !== 'json') {
    throw new MlsecError('USAGE', `unknown --format ${JSON.stringify(flags.format)} (expected text or json)`);
  }
  const material = await materialFrom(flags);
  const { resolveSignTarget, ignoresFor } = await import('../../io/model-signing.js');
  const { listModelFiles } = await import('../../io/model-files.js');
  const { hashModel } = await import('../../io/model-manifest.js');
  const { withHashPool } = await import('../hash-progress.js');
  const { verifyModel } = await import('../../core/sign/verify-model.js');
  const { basename } = await import('node:path');

  const target = await resolveSignTarget(terminal.cwd, model, flags.signature);
  const info = await stat(target.signature).catch(() => undefined);
  let report: VerifyReport;
  if (!info?.isFile()) {
    report = {
      ok: false,
      failure: { kind: 'signature-file', message: `no signature at ${target.signature}` },
    };
  } else if (info.size > maxBundleBytes) {
    report = {
      ok: false,
      failure: { kind: 'signature-file', message: 'signature file is larger than 4 MiB' },
    };
  } else {
    report = await verifyModel({
      bundleText: await readFile(target.signature, 'utf8'),
      material,
      ignoreUnsignedFiles: flags.ignoreUnsignedFiles === true,
      ...(target.isFile ? { singleFileName: basename(target.root) } : {}),
      hashModel: async (manifest) => {
        const { serialization } = manifest;
        const ignorePaths = ignoresFor(target, terminal.cwd, {
          userPaths: flags.ignorePath,
          ignoreGitPaths: flags.ignoreGitPaths,
          recorded: serialization.ignore_paths,
        });
        let files: Awaited<ReturnType<typeof listModelFiles>>;
        try {
          files = await listModelFiles(target.root, ignorePaths);
        } catch (error) {
          // A symbolic link or a device where the signer had a file is tampering, not bad input.
          if (error instanceof MlsecError) throw new VerificationFailure('files', error.message);
          throw error;
        }
        const options = {
          method: serialization.method,
          hashType: serialization.hash_type,
          ignorePaths,
          ...(serialization.method === 'shards' ? { shardSize: serialization.shard_size } : {}),
        };
        const predicate = await withHashPool(
          { ...terminal, forceProgress: flags.progress === true },
          files,
          (pool, progress) => hashModel(files, options, pool, progress),
        );
        return predicate.resources;
      },
    });
  }
  const document = {
    schemaVersion: 1,
    tool: { name: 'mlsec', version },
    model,
    signature: target.signature,
    ...report,
  };
  terminal.stdout.write(
    flags.format === 'json' ? `${JSON.stringify(document, null, 2)}\n` : renderText(model, report, terminal),
  );
  return report.ok ? 0 : 1;
}

async function materialFrom(flags: VerifyFlags): Promise<VerifyMaterial> {
  const keyless = [flags.identity, flags.identityRegexp, flags.issuer, flags.issuerRegexp].some(
    (v) => v !== undefined,
  );
  const chosen = [flags.key !== undefined, flags.certificateChain.length > 0, keyless].filter(Boolean).length;
  if (chosen !== 1) {
    throw new MlsecError(
      'USAGE',
      'say how the model was signed: --key PUBLIC.pem, --certificate-chain ROOTS.pem, or --identity/--identity-regexp with --issuer/--issuer-regexp',
    );
  }
  if (flags.key) {
    const { readPublicKey } = await import('../../io/signing-keys.js');
    return { method: 'key', publicKey: await readPublicKey(flags.key) };
  }
  if (flags.certificateChain.length > 0) {
    const { readCertificates } = await import('../../io/signing-keys.js');
    return {
      method: 'certificate',
      roots: (await Promise.all(flags.certificateChain.map(readCertificates))).flat(),
    };
  }
  const identity = exactOrPattern(flags.identity, flags.identityRegexp, '--identity');
  const issuer = exactOrPattern(flags.issuer, flags.issuerRegexp, '--issuer');
  const { loadTrustedRoot } = await import('../../io/trusted-root.js');
  return {
    method: 'sigstore',
    trustedRoot: await loadTrustedRoot(flags.trustedRoot),
    identity: { identity, issuer },
  };
}

function exactOrPattern(
  exact: string | undefined,
  pattern: string | undefined,
  flag: string,
): string | RegExp {
  if ((exact === undefined) === (pattern === undefined)) {
    throw new MlsecError('USAGE', `keyless verification needs exactly one of ${flag} and ${flag}-regexp`);
  }
  if (exact !== undefined) return exact;
  try {
    return new RegExp(pattern!, 'u');
  } catch (error) {
    throw new MlsecError('USAGE', `${flag}-regexp: ${(error as Error).message}`);
  }
}

function renderText(model: string, report: VerifyReport, terminal: Terminal): string {
  const { color } = terminal;
  if (report.ok) {
    const signer = report.signer;
    const who =
      signer?.identity !== undefined
        ? `${signer.identity} (issuer ${signer.issuer})`
        : signer?.certificateSubject !== undefined
          ? `certificate ${signer.certificateSubject}`
          : `key ${signer?.keyHint?.slice(0, 16)}…`;
    const digest = report.modelDigest ? `, model digest sha256:${report.modelDigest}` : '';
    return `${color.green('verified')} ${model}: signed by ${who}; ${report.resources} resources match${digest}\n`;
  }
  const lines = [`${color.red('FAILED')} ${model}: ${report.failure?.message ?? 'verification failed'}`];
  if (report.diff) lines.push(...diffLines(report.diff));
  return `${lines.join('\n')}\n`;
}

function diffLines(diff: ManifestDiff): string[] {
  return [
    ...diff.modified.map((p) => `  modified  ${p}`),
    ...diff.added.map((p) => `  added     ${p}`),
    ...diff.removed.map((p) => `  removed   ${p}`),
    ...diff.renamed.map((r) => `  renamed   ${r.from} -> ${r.to}`),
  ];
}
