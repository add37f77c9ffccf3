import { lstat, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { MlsecError } from '../core/errors.js';
import { defaultSignatureName, resolveIgnorePaths } from '../core/hash/manifest.js';
import { maxBundleBytes, parseOmsBundle } from '../core/sign/bundle.js';
import { writeFileAtomically } from './atomic-write.js';

/** A model to sign or verify, and where its signature lives. */
export interface SignTarget {
  /** Absolute path of the model directory or single file. */
  root: string;
  isFile: boolean;
  signature: string;
  /** The signature's path inside the model, which the manifest must leave out; undefined outside. */
  signatureInModel: string | undefined;
}

/** Default signature: `model.sig` inside a model directory (model_signing's), `<file>.sig` beside a file. */
export async function resolveSignTarget(cwd: string, model: string, signature?: string): Promise<SignTarget> {
  const root = resolve(cwd, model);
  const info = await stat(root).catch(() => undefined);
  if (!info) throw new MlsecError('INPUT_NOT_FOUND', `no such model: ${model}`);
  if (!info.isFile() && !info.isDirectory()) {
    throw new MlsecError('INPUT_INVALID', `${model} is neither a file nor a directory`);
  }
  const isFile = info.isFile();
  const path = signature
    ? resolve(cwd, signature)
    : isFile
      ? `${root}.sig`
      : join(root, defaultSignatureName);
  return { root, isFile, signature: path, signatureInModel: isFile ? undefined : inside(root, path) };
}

function inside(root: string, path: string): string | undefined {
  const rel = relative(root, path);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) return undefined;
  return rel.split(sep).join('/');
}

/**
 * The manifest's ignore list. User paths are taken from the working directory when they name
 * something inside the model (as model_signing's --ignore-paths are), else from the model root.
 * A signature that records its ignore list is taken at its word: the git defaults are added
 * only for older signatures, which record none.
 */
export function ignoresFor(
  target: SignTarget,
  cwd: string,
  options: { userPaths: readonly string[]; ignoreGitPaths: boolean; recorded?: readonly string[] },
): string[] {
  const fromUser = options.userPaths.map((p) => inside(target.root, resolve(cwd, p)) ?? p);
  return resolveIgnorePaths({
    ignoreGitPaths: options.ignoreGitPaths && (options.recorded ?? []).length === 0,
    signature: target.signatureInModel ?? null,
    paths: [...fromUser, ...(options.recorded ?? [])],
  });
}

/**
 * Refuses, before any hashing, to write a signature over something that is not one: a model file
 * named by mistake with --signature would be lost, and dropped from the very manifest signed.
 */
export async function checkSignatureDestination(path: string): Promise<void> {
  const info = await lstat(path).catch(() => undefined);
  if (!info) return;
  const refuse = (why: string) => {
    throw new MlsecError(
      'OUTPUT_UNWRITABLE',
      `${path} ${why}; not overwriting it (remove it or choose another --signature)`,
    );
  };
  if (!info.isFile()) refuse('exists and is not a regular file');
  if (info.size > maxBundleBytes) refuse('exists and is not a signature');
  try {
    parseOmsBundle(await readFile(path, 'utf8'));
  } catch {
    refuse('exists and is not a signature');
  }
}

/**
 * Written whole or not at all (a half-written signature would fail every later verify), through
 * a new file with an unguessable name, so a planted link cannot redirect the write.
 */
export async function writeSignatureFile(path: string, bundle: unknown): Promise<void> {
  try {
    await writeFileAtomically(path, `${JSON.stringify(bundle)}\n`, { mode: 0o644 });
  } catch (error) {
    throw new MlsecError('OUTPUT_UNWRITABLE', `cannot write signature ${path}: ${(error as Error).message}`);
  }
}
