import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { MlsecError } from '../../core/errors.js';
import { maxBundleBytes } from '../../core/sign/bundle.js';
import type { ManifestDiff } from '../../core/sign/compare.js';
import { VerificationFailure } from '../../core/sign/failure.js';
import type { VerifyReport } from '../../core/sign/verify-model.js';
import { collect } from '../flags.js';
import { rawStream, type Terminal } from '../output.js';
import { addVerifyOptions, type VerifyMaterialFlags, verifyMaterialFrom } from '../signing-flags.js';

interface VerifyFlags extends VerifyMaterialFlags {
  signature?: string;
  ignorePath: string[];
  ignorePaths: string[];
  ignoreGitPaths: boolean;
  ignoreUnsignedFiles?: boolean;
  format: string;
  progress?: boolean;
}

export function registerVerify(program: Command, terminal: Terminal, version: string): void {
  addVerifyOptions(
    program.command('verify'),
    'signed with this key (a public key, or a certificate holding it)',
  )
    .description('verify a model against its signature: who signed it, and that no file changed')
    .argument('<model>', 'model directory or single file')
    .option('-s, --signature <path>', 'the signature (default <model>/model.sig, <file>.sig)')
    .option('--ignore-path <path>', 'leave a path out of the comparison (repeatable)', collect, [])
    .option('--ignore-paths <path>', 'the same, as model_signing spells it', collect, [])
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
  const material = await verifyMaterialFrom(flags, terminal.cwd);
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
          userPaths: [...flags.ignorePath, ...flags.ignorePaths],
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
  (flags.format === 'json' ? rawStream(terminal.stdout) : terminal.stdout).write(
    flags.format === 'json' ? `${JSON.stringify(document, null, 2)}\n` : renderText(model, report, terminal),
  );
  return report.ok ? 0 : 1;
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
