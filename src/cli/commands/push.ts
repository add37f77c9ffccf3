import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { MlsecError } from '../../core/errors.js';
import { buildOmsStatement, resolveIgnorePaths } from '../../core/hash/manifest.js';
import { anyBlocked, type GateResult, scanGate } from '../../core/registry/gate.js';
import { scanReportArtifactType, signatureArtifactType } from '../../core/registry/media-types.js';
import {
  defaultTag,
  formatReference,
  type ImageReference,
  parseReference,
} from '../../core/registry/reference.js';
import type { HashPool } from '../../io/hash-pool.js';
import { listModelFiles, type ModelFile, modelName } from '../../io/model-files.js';
import { hashModel } from '../../io/model-manifest.js';
import { BlobCache, defaultCacheDir } from '../../io/registry/blob-cache.js';
import type { Attachment, PushModelResult } from '../../io/registry/push-model.js';
import { checkPaths } from '../../io/walk.js';
import { collect } from '../flags.js';
import { withHashPool } from '../hash-progress.js';
import { rawStream, type Terminal } from '../output.js';
import {
  blobProgress,
  makeClient,
  parseConcurrency,
  parseFormat,
  type RegistryFlags,
  registryOptions,
} from '../registry-flags.js';
import { renderTable } from '../render/table.js';
import { addSigningOptions, type SigningFlags, signatureSpecFrom } from '../signing-flags.js';

interface PushFlags extends RegistryFlags, SigningFlags {
  gate: boolean;
  failOn?: string;
  config?: string;
  license: string[];
  report: boolean;
  mountFrom?: string;
  chunkSize?: string;
  ignorePath: string[];
  sign?: boolean;
}

export function registerPush(program: Command, terminal: Terminal, version: string): void {
  registryOptions(
    addSigningOptions(program.command('push'))
      .description('scan a model and push it to an OCI registry as a ModelPack artifact')
      .argument('<model>', 'model directory or single file')
      .argument('<reference>', 'registry/repository[:tag], e.g. registry.example.com/team/model:v3'),
  )
    .option('--no-gate', 'push even when the scan finds something blocking')
    .option('--fail-on <severity>', 'findings at this severity block the push (default: config, else high)')
    .option('--config <file>', 'configuration file (default: .mlsec.yaml here or up to the git root)')
    .option(
      '--license <spdx>',
      "the model's licence for the manifest (repeatable; default: what licence detection finds)",
      collect,
      [],
    )
    .option('--no-report', 'do not attach the scan report as a referrer')
    .option(
      '--mount-from <repository>',
      'mount blobs from this repository of the same registry when it has them',
    )
    .option('--chunk-size <bytes>', 'upload blobs larger than this in chunks of this size')
    .option('--ignore-path <path>', 'leave a path of the model out (repeatable)', collect, [])
    .option(
      '--sign',
      'sign the model (OpenSSF Model Signing bundle; --key, --certificate or keyless) and attach it',
    )
    .action(async (model: string, reference: string, flags: PushFlags) => {
      process.exitCode = await runPush(model, reference, flags, terminal, version);
    });
}

async function runPush(
  model: string,
  reference: string,
  flags: PushFlags,
  terminal: Terminal,
  version: string,
): Promise<number> {
  const format = parseFormat(flags.format);
  const concurrency = parseConcurrency(flags.concurrency);
  const ref = parseReference(reference);
  if (ref.digest) throw new MlsecError('USAGE', 'push takes a tag, not a digest: the digest is the result');
  const tag = ref.tag ?? defaultTag;
  const chunkSize = flags.chunkSize === undefined ? undefined : Number(flags.chunkSize);
  if (chunkSize !== undefined && (!Number.isSafeInteger(chunkSize) || chunkSize < 1)) {
    throw new MlsecError('USAGE', '--chunk-size must be a positive whole number of bytes');
  }
  if (!flags.sign && (flags.key || flags.certificate || flags.identityToken)) {
    throw new MlsecError('USAGE', '--key, --certificate and --identity-token sign only with --sign');
  }
  const root = resolve(terminal.cwd, model);
  await checkPaths([root], terminal.cwd);
  const ignorePaths = resolveIgnorePaths({ paths: flags.ignorePath });
  const files = await listModelFiles(root, ignorePaths);
  if (files.length === 0) throw new MlsecError('INPUT_INVALID', `${model} has no files to push`);
  // The digests take longest before the upload (a 1 GiB file: about a second), so a worker computes
  // them beside the scan, git and the loading of the HTTP client. Hashing sends nothing.
  const hashing = startHashing(files, ignorePaths, terminal);
  try {
    const plan = { root, files, ref, tag, format, concurrency, ...(chunkSize ? { chunkSize } : {}) };
    return await gateAndPush(plan, hashing, flags, terminal, version);
  } finally {
    await hashing.stop();
  }
}

interface PushPlan {
  root: string;
  files: ModelFile[];
  ref: ImageReference;
  tag: string;
  format: 'text' | 'json';
  concurrency: number;
  chunkSize?: number;
}

async function gateAndPush(
  plan: PushPlan,
  hashing: Hashing,
  flags: PushFlags,
  terminal: Terminal,
  version: string,
): Promise<number> {
  const { root, files, ref, tag, format, concurrency, chunkSize } = plan;
  // Loaded now, while the hash runs: scanners and execa (for git) take longer to load than to run.
  const { scanModelFiles, scanReportJson } = await import('../registry-scan.js');
  // The gate runs before any connection: a refused model sends nothing anywhere.
  const gates: GateResult[] = [];
  let report: string | undefined;
  let detectedLicenses: string[] = [];
  if (flags.gate || flags.report) {
    const { reports, failOn, licenses } = await scanModelFiles(root, files, {
      terminal,
      ...(flags.config ? { config: flags.config } : {}),
      ...(flags.failOn ? { failOn: flags.failOn } : {}),
    });
    detectedLicenses = licenses;
    const scan = scanGate(reports, failOn);
    report = scanReportJson(reports, failOn, scan.blocked, version);
    if (flags.gate) gates.push(scan);
    if (anyBlocked(gates)) {
      await hashing.stop();
      if (format === 'json') {
        rawStream(terminal.stdout).write(
          `${JSON.stringify({ schemaVersion: 1, pushed: false, gates, scan: JSON.parse(report) }, null, 2)}\n`,
        );
      } else {
        const { summarize } = await import('../../core/findings.js');
        terminal.stdout.write(
          renderTable(reports, summarize(reports), {
            color: terminal.color,
            showClean: false,
            failed: true,
            failOn,
          }),
        );
      }
      for (const gate of gates.filter((g) => g.blocked)) {
        terminal.stderr.write(
          `mlsec: push refused by the ${gate.gate} gate: ${gate.message} (--no-gate overrides)\n`,
        );
      }
      return 1;
    }
  }

  const single = files.length === 1 && files[0]!.path === '.';
  const git = import('../../io/git-provenance.js').then((m) =>
    m.gitProvenance(single ? resolve(root, '..') : root),
  );
  git.catch(() => undefined);
  const loading = import('../../io/registry/push-model.js');
  loading.catch(() => undefined);
  const signing = flags.sign ? await signatureSpecFrom(flags, terminal) : undefined;
  // Large files upload while the hash runs; the manifest, its provenance and the signature wait for it.
  const hashed = hashing.done.then((predicate) => ({
    predicate,
    statement: buildOmsStatement(modelName(root), predicate),
  }));
  const fileDigests = hashed.then(
    ({ predicate }) => new Map(predicate.resources.map((r) => [r.name, r.digest])),
  );
  const attachments = hashed.then(async ({ statement }) => {
    const documents: Attachment[] = [];
    if (report !== undefined && flags.report) {
      documents.push({
        artifactType: scanReportArtifactType,
        mediaType: scanReportArtifactType,
        bytes: new TextEncoder().encode(report),
      });
    }
    if (signing) {
      const { statementBytes } = await import('../../core/sign/sign-bundle.js');
      const { createSignature } = await import('../../io/create-signature.js');
      const bundle = await createSignature(statementBytes(statement), signing);
      documents.push({
        artifactType: signatureArtifactType,
        mediaType: signatureArtifactType,
        bytes: new TextEncoder().encode(JSON.stringify(bundle)),
      });
    }
    return documents;
  });
  const provenance = hashed.then(async ({ statement }) => ({
    name: single ? basename(root) : modelName(root),
    modelDigest: `sha256:${statement.subject[0].digest.sha256}`,
    created: createdAt(terminal.env),
    ...(flags.license.length > 0
      ? { licenses: flags.license }
      : detectedLicenses.length > 0
        ? { licenses: detectedLicenses }
        : {}),
    ...(await git),
  }));
  // pushModel awaits these; a push that fails first must not crash on their rejection.
  for (const pending of [fileDigests, attachments, provenance]) pending.catch(() => undefined);
  const { pushModel } = await loading;

  const client = await makeClient(ref, flags, terminal, chunkSize ? { chunkSize } : {});
  const cache = await BlobCache.open(resolve(terminal.cwd, flags.cacheDir ?? defaultCacheDir(terminal.env)));
  const progress = await blobProgress(terminal, flags.progress === true, 'pushing');
  const modelBytes = files.reduce((sum, file) => sum + file.size, 0);
  if (progress) hashing.onProgress = (bytes) => progress.hashed(bytes, modelBytes);
  let result: PushModelResult;
  try {
    result = await pushModel({
      client,
      cache,
      root,
      files,
      fileDigests,
      provenance,
      tag,
      concurrency,
      attachments,
      ...(flags.mountFrom ? { mountFrom: flags.mountFrom } : {}),
      onBlob: (e) => progress?.update(e.name, e.bytes, e.size, e.status !== undefined),
    });
  } finally {
    progress?.stop();
    await client.close();
  }
  const target = formatReference({ ...ref, tag });
  const counts = { uploaded: 0, exists: 0, mounted: 0 };
  for (const blob of result.blobs) counts[blob.status] += 1;
  if (format === 'json') {
    const document = {
      schemaVersion: 1,
      tool: { name: 'mlsec', version },
      pushed: true,
      reference: target,
      digest: result.manifest.digest,
      mediaType: result.manifest.mediaType,
      size: result.manifest.size,
      modelDigest: (await provenance).modelDigest,
      gates,
      blobs: result.blobs,
      referrers: result.referrers,
    };
    rawStream(terminal.stdout).write(`${JSON.stringify(document, null, 2)}\n`);
  } else {
    const lines = [
      `pushed ${target}`,
      `  digest: ${result.manifest.digest}`,
      `  blobs: ${counts.uploaded} uploaded, ${counts.exists} already there, ${counts.mounted} mounted`,
      ...result.referrers.map((r) => `  referrer: ${r.artifactType} ${r.digest}`),
    ];
    if (!flags.gate) lines.push('  gate: skipped (--no-gate)');
    terminal.stdout.write(`${lines.join('\n')}\n`);
  }
  return 0;
}

interface Hashing {
  done: Promise<Awaited<ReturnType<typeof hashModel>>>;
  /** Ends the hashing early (a refused push does not wait for a 100 GB hash); waits for it to end. */
  stop: () => Promise<void>;
  /** Bytes hashed so far, for the push's one progress display (the hash shows none of its own). */
  onProgress?: (bytes: number) => void;
}

function startHashing(
  files: readonly ModelFile[],
  ignorePaths: readonly string[],
  terminal: Terminal,
): Hashing {
  let pool: HashPool | undefined;
  let stopped = false;
  const quiet = { ...terminal, interactive: false, forceProgress: false };
  const done = withHashPool(quiet, files, (started) => {
    pool = started;
    if (stopped) return Promise.reject(new Error('hashing stopped'));
    const options = { method: 'files', hashType: 'sha256', ignorePaths } as const;
    return hashModel(files, options, started, (bytes) => hashing.onProgress?.(bytes));
  });
  // Whoever awaits `done` sees its failure; a push that ends first (refused, failed) must not crash on it.
  done.catch(() => undefined);
  const hashing: Hashing = {
    done,
    stop: async () => {
      stopped = true;
      await pool?.close();
      await done.catch(() => undefined);
    },
  };
  return hashing;
}

/** `SOURCE_DATE_EPOCH` for reproducible builds, else now. */
function createdAt(env: NodeJS.ProcessEnv): string {
  const epoch = env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && /^\d+$/.test(epoch)) return new Date(Number(epoch) * 1000).toISOString();
  return new Date().toISOString();
}
