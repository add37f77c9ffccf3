import { resolve } from 'node:path';
import type { Command } from 'commander';
import { MlsecError } from '../../core/errors.js';
import { resolveIgnorePaths } from '../../core/hash/manifest.js';
import { anyBlocked, type GateResult, scanGate } from '../../core/registry/gate.js';
import {
  formatReference,
  type ImageReference,
  manifestReference,
  parseReference,
} from '../../core/registry/reference.js';
import type { VerifyMaterial } from '../../core/sign/verify-signature.js';
import { listModelFiles } from '../../io/model-files.js';
import { BlobCache, defaultCacheDir } from '../../io/registry/blob-cache.js';
import { pullModel } from '../../io/registry/pull-model.js';
import { rawStream, type Terminal } from '../output.js';
import {
  blobProgress,
  makeClient,
  parseConcurrency,
  parseFormat,
  type RegistryFlags,
  registryOptions,
} from '../registry-flags.js';
import { scanModelFiles } from '../registry-scan.js';
import { renderTable } from '../render/table.js';
import {
  addVerifyOptions,
  type VerifyMaterialFlags,
  verifyMaterialFrom,
  wantsVerification,
} from '../signing-flags.js';

interface PullFlags extends RegistryFlags, VerifyMaterialFlags {
  scan: boolean;
  failOn?: string;
  config?: string;
}

export function registerPull(program: Command, terminal: Terminal, version: string): void {
  registryOptions(
    addVerifyOptions(
      program.command('pull'),
      'require a signature attached by push --sign that this key verifies',
    )
      .description('pull a model from an OCI registry: verified, unpacked safely and scanned before it lands')
      .argument('<reference>', 'registry/repository[:tag|@sha256:digest]')
      .argument('<dir>', 'an empty or new directory to write the model into'),
  )
    .option('--no-scan', 'do not scan the pulled files before moving them into place')
    .option('--fail-on <severity>', 'findings at this severity refuse the pull (default: config, else high)')
    .option('--config <file>', 'configuration file (default: .mlsec.yaml here or up to the git root)')
    .action(async (reference: string, dir: string, flags: PullFlags) => {
      process.exitCode = await runPull(reference, dir, flags, terminal, version);
    });
}

async function runPull(
  reference: string,
  dir: string,
  flags: PullFlags,
  terminal: Terminal,
  version: string,
): Promise<number> {
  const format = parseFormat(flags.format);
  const concurrency = parseConcurrency(flags.concurrency);
  const ref = parseReference(reference);
  const target = resolve(terminal.cwd, dir);
  // The signer's material loads first: a wrong key path fails before any download.
  const material = wantsVerification(flags) ? await verifyMaterialFrom(flags, terminal.cwd) : undefined;
  // Ctrl-C (or SIGTERM) stops the downloads and keeps their bytes for the next pull to resume;
  // nothing lands. A second one kills the process as usual.
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const plan = { dir, ref, target, format, concurrency, material };
    const code = await pullWith(interrupt.signal, plan, flags, terminal, version);
    if (code !== 0 && interrupt.signal.aborted) throw interrupt.signal.reason;
    return code;
  } catch (error) {
    if (!interrupt.signal.aborted) throw error;
    throw new MlsecError(
      'INTERRUPTED',
      'interrupted: nothing was written; the next pull resumes the downloads',
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

interface PullPlan {
  /** The target directory as given, for messages. */
  dir: string;
  ref: ImageReference;
  target: string;
  format: 'text' | 'json';
  concurrency: number;
  material: VerifyMaterial | undefined;
}

async function pullWith(
  signal: AbortSignal,
  plan: PullPlan,
  flags: PullFlags,
  terminal: Terminal,
  version: string,
): Promise<number> {
  const { dir, ref, target, format, concurrency, material } = plan;
  const client = await makeClient(ref, flags, terminal, { signal });
  const cache = await BlobCache.open(resolve(terminal.cwd, flags.cacheDir ?? defaultCacheDir(terminal.env)));
  const progress = await blobProgress(terminal, flags.progress === true, 'pulling');
  const gates: GateResult[] = [];
  let scanOutput = '';
  let result: Awaited<ReturnType<typeof pullModel>>;
  try {
    result = await pullModel({
      client,
      cache,
      reference: manifestReference(ref),
      target,
      concurrency,
      onBlob: (e) => progress?.update(e.digest.slice(7, 19), e.bytes, e.size, e.done === true),
      check: async (staging, pulled) => {
        progress?.stop();
        if (signal.aborted) return { ok: false };
        if (material) {
          const gate = await signatureGate(client, pulled.digest, staging, material);
          gates.push(gate);
          if (gate.blocked) return { ok: false };
        }
        if (!flags.scan) return { ok: true };
        const files = await listModelFiles(
          staging,
          resolveIgnorePaths({ ignoreGitPaths: false, signature: null }),
        );
        const { reports, failOn } = await scanModelFiles(staging, files, {
          terminal,
          ...(flags.config ? { config: flags.config } : {}),
          ...(flags.failOn ? { failOn: flags.failOn } : {}),
        });
        const gate = scanGate(reports, failOn);
        gates.push(gate);
        if (gate.blocked && format === 'text') {
          const { summarize } = await import('../../core/findings.js');
          scanOutput = renderTable(reports, summarize(reports), {
            color: terminal.color,
            showClean: false,
            failed: true,
            failOn,
          });
        }
        return { ok: !anyBlocked(gates) && !signal.aborted };
      },
    });
  } finally {
    progress?.stop();
    await client.close();
  }
  const pinned = formatReference({
    registry: ref.registry,
    repository: ref.repository,
    digest: result.digest,
  });
  if (format === 'json') {
    const document = {
      schemaVersion: 1,
      tool: { name: 'mlsec', version },
      pulled: result.ok,
      reference: pinned,
      directory: target,
      files: result.files,
      skipped: result.skipped,
      blobsDownloaded: result.downloaded,
      gates,
    };
    rawStream(terminal.stdout).write(`${JSON.stringify(document, null, 2)}\n`);
  } else if (result.ok) {
    const lines = [
      `pulled ${pinned}`,
      `  into ${dir}: ${result.files.length} files, ${result.downloaded} blobs downloaded`,
      ...result.skipped.map((s) => `  skipped layer ${s.digest}: ${s.reason}`),
    ];
    if (!flags.scan) lines.push('  scan: skipped (--no-scan)');
    terminal.stdout.write(`${lines.join('\n')}\n`);
  } else {
    terminal.stdout.write(scanOutput);
  }
  if (!result.ok) {
    for (const gate of gates.filter((g) => g.blocked)) {
      terminal.stderr.write(
        `mlsec: pull refused by the ${gate.gate} gate: ${gate.message}; nothing written to ${dir}\n`,
      );
    }
    return 1;
  }
  return 0;
}

/** The signature `push --sign` attached, verified with the signer's key, roots or identity against the staged files. */
async function signatureGate(
  client: Awaited<ReturnType<typeof makeClient>>,
  digest: string,
  staging: string,
  material: VerifyMaterial,
): Promise<GateResult> {
  const { fetchReferrerDocument } = await import('../../io/registry/referrers.js');
  const { signatureArtifactType } = await import('../../core/registry/media-types.js');
  const bundle = await fetchReferrerDocument(client, digest, signatureArtifactType);
  if (!bundle) return { gate: 'signature', blocked: true, message: `${digest} has no attached signature` };
  const { verifyModel } = await import('../../core/sign/verify-model.js');
  const { hashModel } = await import('../../io/model-manifest.js');
  const { HashPool } = await import('../../io/hash-pool.js');
  const pool = new HashPool();
  try {
    const report = await verifyModel({
      bundleText: new TextDecoder().decode(bundle),
      material,
      hashModel: async (manifest) => {
        const ignorePaths = resolveIgnorePaths({
          signature: null,
          paths: manifest.serialization.ignore_paths ?? [],
        });
        const files = await listModelFiles(staging, ignorePaths);
        const options = {
          method: manifest.serialization.method,
          hashType: manifest.serialization.hash_type,
          ignorePaths,
          ...(manifest.serialization.method === 'shards'
            ? { shardSize: manifest.serialization.shard_size }
            : {}),
        };
        return (await hashModel(files, options, pool)).resources;
      },
    });
    return report.ok
      ? {
          gate: 'signature',
          blocked: false,
          message: `signature verified (model digest sha256:${report.modelDigest})`,
        }
      : { gate: 'signature', blocked: true, message: report.failure?.message ?? 'signature does not verify' };
  } finally {
    await pool.close();
  }
}
