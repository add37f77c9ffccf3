import { relative } from 'node:path';
import type { Command } from 'commander';
import { MlsecError } from '../../core/errors.js';
import { buildOmsStatement, defaultShardSize } from '../../core/hash/manifest.js';
import { statementBytes } from '../../core/sign/sign-bundle.js';
import { collect } from '../flags.js';
import { rawStream, type Terminal } from '../output.js';
import { addSigningOptions, type SigningFlags, signatureSpecFrom } from '../signing-flags.js';

interface SignFlags extends SigningFlags {
  signature?: string;
  trustedRoot?: string;
  ignorePath: string[];
  ignorePaths: string[];
  ignoreGitPaths: boolean;
  serialization: string;
  shardSize: string;
  format: string;
  progress?: boolean;
}

export function registerSign(program: Command, terminal: Terminal, version: string): void {
  addSigningOptions(program.command('sign'))
    .description('sign a model directory or file (OpenSSF Model Signing bundle, model_signing compatible)')
    .argument('<model>', 'model directory or single file')
    .option('-s, --signature <path>', 'where to write the signature (default <model>/model.sig, <file>.sig)')
    .option('--trusted-root <file>', 'keyless: verify the new signature against this Sigstore trusted root')
    .option('--ignore-path <path>', 'leave a path out of the signed manifest (repeatable)', collect, [])
    .option('--ignore-paths <path>', 'the same, as model_signing spells it', collect, [])
    .option('--no-ignore-git-paths', 'sign .git, .github, .gitignore and .gitattributes too')
    .option('--serialization <method>', 'files or shards', 'files')
    .option('--shard-size <bytes>', 'shard size for --serialization shards', String(defaultShardSize))
    .option('-f, --format <format>', 'text or json', 'text')
    .option('--progress', 'show hashing progress even when standard error is not a terminal')
    .action(async (model: string, flags: SignFlags) => {
      process.exitCode = await runSign(model, flags, terminal, version);
    });
}

async function runSign(
  model: string,
  flags: SignFlags,
  terminal: Terminal,
  version: string,
): Promise<number> {
  if (flags.format !== 'text' && flags.format !== 'json') {
    throw new MlsecError('USAGE', `unknown --format ${JSON.stringify(flags.format)} (expected text or json)`);
  }
  const { resolveSignTarget, ignoresFor, writeSignatureFile, checkSignatureDestination } = await import(
    '../../io/model-signing.js'
  );
  const { listModelFiles, modelName } = await import('../../io/model-files.js');
  const { hashModel } = await import('../../io/model-manifest.js');
  const { withHashPool } = await import('../hash-progress.js');
  const spec = await signatureSpecFrom(flags, terminal);
  const method = spec.method;

  const target = await resolveSignTarget(terminal.cwd, model, flags.signature);
  await checkSignatureDestination(target.signature);
  const ignorePaths = ignoresFor(target, terminal.cwd, {
    userPaths: [...flags.ignorePath, ...flags.ignorePaths],
    ignoreGitPaths: flags.ignoreGitPaths,
  });
  const files = await listModelFiles(target.root, ignorePaths);
  const serialization = flags.serialization;
  if (serialization !== 'files' && serialization !== 'shards') {
    throw new MlsecError('USAGE', '--serialization must be files or shards');
  }
  const shardSize = Number(flags.shardSize);
  if (!Number.isSafeInteger(shardSize) || shardSize < 1) {
    throw new MlsecError('USAGE', '--shard-size must be a positive whole number');
  }
  const predicate = await withHashPool(
    { ...terminal, forceProgress: flags.progress === true },
    files,
    (pool, progress) =>
      hashModel(files, { method: serialization, hashType: 'sha256', shardSize, ignorePaths }, pool, progress),
  );
  const statement = buildOmsStatement(modelName(target.root), predicate);
  const payload = statementBytes(statement);
  const { createSignature } = await import('../../io/create-signature.js');
  const bundle = await createSignature(payload, spec);
  if (method === 'sigstore' && flags.trustedRoot) await checkFreshSignature(bundle, flags.trustedRoot);
  await writeSignatureFile(target.signature, bundle);
  const shown = relative(terminal.cwd, target.signature);
  const result = {
    schemaVersion: 1,
    tool: { name: 'mlsec', version },
    signature: shown.startsWith('..') ? target.signature : shown,
    method,
    modelDigest: statement.subject[0].digest.sha256,
    resources: predicate.resources.length,
  };
  (flags.format === 'json' ? rawStream(terminal.stdout) : terminal.stdout).write(
    flags.format === 'json'
      ? `${JSON.stringify(result, null, 2)}\n`
      : `signed ${model}: ${result.resources} resources, model digest sha256:${result.modelDigest} (${method})\n  signature: ${result.signature}\n`,
  );
  return 0;
}

/** A keyless signature that its own trusted root rejects is refused before it is written. */
async function checkFreshSignature(bundle: Record<string, unknown>, trustedRootPath: string): Promise<void> {
  const { loadTrustedRoot } = await import('../../io/trusted-root.js');
  const { verifySigstoreBundle } = await import('../../core/sign/sigstore-verify.js');
  const { VerificationFailure } = await import('../../core/sign/failure.js');
  try {
    verifySigstoreBundle(bundle, await loadTrustedRoot(trustedRootPath), { identity: /.*/, issuer: /.*/ });
  } catch (error) {
    if (error instanceof VerificationFailure) {
      throw new MlsecError('SIGNING_FAILED', `the new signature does not verify: ${error.message}`);
    }
    throw error;
  }
}
