import { MlsecError } from '../errors.js';
import { type Descriptor, type ImageManifest, layerAction } from './model-pack.js';
import { maxPathBytes, quoteName, safeRelativePath, type UnpackLimits } from './unpack-policy.js';

/**
 * The tree pull writes, entry by entry: every file and every directory (given or implied by a
 * file's path) once, so a name written twice, a file where a directory must be (`a` and `a/b`) or
 * a directory where a file must be is refused before the file system would fail on it. Directories
 * count towards the entry limit too, so a deep tree cannot grow it without bound.
 */
export class TargetTree {
  readonly #entries = new Map<string, { kind: 'file' | 'directory'; owner: string }>();

  constructor(private readonly limits: Pick<UnpackLimits, 'maxEntries'>) {}

  get size(): number {
    return this.#entries.size;
  }

  /** Adds a file (a normalized relative path) written by `owner`, or says why it cannot be. */
  addFile(path: string, owner: string): string | undefined {
    const seen = this.#entries.get(path);
    if (seen) {
      return seen.kind === 'file'
        ? `${quoteName(path)} is written twice ${seen.owner === owner ? 'by this layer' : `(also by ${seen.owner})`}`
        : `${quoteName(path)} is a file here but a directory in ${seen.owner}`;
    }
    const problem = this.#addParents(path, owner);
    if (problem) return problem;
    return this.#add(path, 'file', owner);
  }

  /** Adds a directory; one that exists already is fine. */
  addDirectory(path: string, owner: string): string | undefined {
    const seen = this.#entries.get(path);
    if (seen?.kind === 'directory') return undefined;
    if (seen) return `${quoteName(path)} is a directory here but a file in ${seen.owner}`;
    return this.#addParents(path, owner) ?? this.#add(path, 'directory', owner);
  }

  #addParents(path: string, owner: string): string | undefined {
    for (let end = path.indexOf('/'); end !== -1; end = path.indexOf('/', end + 1)) {
      const parent = path.slice(0, end);
      const seen = this.#entries.get(parent);
      if (seen?.kind === 'file') {
        return `${quoteName(path)} needs ${quoteName(parent)} to be a directory, but it is a file in ${seen.owner}`;
      }
      if (!seen) {
        const problem = this.#add(parent, 'directory', owner);
        if (problem) return problem;
      }
    }
    return undefined;
  }

  #add(path: string, kind: 'file' | 'directory', owner: string): string | undefined {
    if (this.#entries.size >= this.limits.maxEntries) {
      return `more than ${this.limits.maxEntries} files and directories`;
    }
    this.#entries.set(path, { kind, owner });
    return undefined;
  }
}

/** What pull does with a layer, its file's path checked. */
export type PlannedPullLayer =
  | { layer: Descriptor; action: 'file'; path: string }
  | { layer: Descriptor; action: 'untar' }
  | { layer: Descriptor; action: 'skip'; reason: string };

export interface PullPlan {
  layers: PlannedPullLayer[];
  /** Config and layers to fetch, each digest once. */
  blobs: Descriptor[];
  /** The files of raw layers, already in the tree; tar layers add theirs as they unpack. */
  tree: TargetTree;
}

/**
 * Checks everything the manifest says about the files before any blob is fetched: each raw
 * layer's name (relative, no `..`, within the file system's limits once below `rootBytes` bytes of
 * directory), no name written twice, no file where another layer needs a directory, and each
 * digest with one size. A refusal names the layer.
 */
export function planPull(
  manifest: ImageManifest,
  limits: Pick<UnpackLimits, 'maxEntries'>,
  rootBytes: number,
): PullPlan {
  const tree = new TargetTree(limits);
  const layers: PlannedPullLayer[] = [];
  for (const layer of manifest.layers) {
    const owner = `layer ${layer.digest}`;
    const action = layerAction(layer);
    if (action.action !== 'file') {
      layers.push(action.action === 'skip' ? { layer, ...action } : { layer, action: 'untar' });
      continue;
    }
    const refuse = (why: string) =>
      new MlsecError('VERIFICATION_FAILED', `${owner} names file ${quoteName(action.path)}: ${why}`);
    const checked = safeRelativePath(action.path);
    if ('problem' in checked) throw refuse(checked.problem);
    if (rootBytes + 1 + Buffer.byteLength(checked.path) > maxPathBytes) {
      throw refuse(`path longer than ${maxPathBytes} bytes below the target directory`);
    }
    const problem = tree.addFile(checked.path, owner);
    if (problem) throw refuse(problem);
    layers.push({ layer, action: 'file', path: checked.path });
  }
  return { layers, blobs: uniqueBlobs([manifest.config, ...manifest.layers]), tree };
}

/**
 * Each digest once: two identical files are two layers of one blob, and two downloads of it would
 * share one partial file. A manifest that gives one digest two sizes is refused.
 */
function uniqueBlobs(descriptors: readonly Descriptor[]): Descriptor[] {
  const byDigest = new Map<string, Descriptor>();
  for (const descriptor of descriptors) {
    const seen = byDigest.get(descriptor.digest);
    if (seen && seen.size !== descriptor.size) {
      throw new MlsecError(
        'VERIFICATION_FAILED',
        `the manifest gives blob ${descriptor.digest} two sizes, ${seen.size} and ${descriptor.size}`,
      );
    }
    byDigest.set(descriptor.digest, descriptor);
  }
  return [...byDigest.values()];
}
