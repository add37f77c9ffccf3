import { comparePaths } from '../hash/manifest.js';
import { classifyFile, type ModelLayerKind, modelLayerType } from './media-types.js';

export interface PlannedFile {
  /** POSIX path relative to the model root. */
  path: string;
  size: number;
}

/** One layer to build: a file as it is, or several small files of one kind in a tar. */
export type PlannedLayer =
  | { packing: 'raw'; mediaType: string; kind: ModelLayerKind; guessed: boolean; file: PlannedFile }
  | { packing: 'tar'; mediaType: string; kind: ModelLayerKind; files: PlannedFile[] };

/** Files below this share a tar layer with others of their kind: one blob request each would cost more. */
export const defaultSmallFileLimit = 1 << 20;

/**
 * Weights always get a layer per file (so an unchanged shard is deduplicated across versions, as
 * ModelPack recommends); so does any file of `smallFileLimit` or more. Smaller files are grouped per
 * kind into one tar, unless a kind has only one, which stays raw. Order is stable: by path.
 */
export function planLayers(
  files: readonly PlannedFile[],
  smallFileLimit: number = defaultSmallFileLimit,
): PlannedLayer[] {
  const sorted = [...files].sort((a, b) => comparePaths(a.path, b.path));
  const layers: PlannedLayer[] = [];
  const groups = new Map<ModelLayerKind, { file: PlannedFile; guessed: boolean }[]>();
  for (const file of sorted) {
    const { kind, guessed } = classifyFile(file.path, file.size);
    if (kind === 'weight' || file.size >= smallFileLimit) {
      layers.push({ packing: 'raw', mediaType: modelLayerType(kind, 'raw'), kind, guessed, file });
    } else {
      const group = groups.get(kind) ?? [];
      group.push({ file, guessed });
      groups.set(kind, group);
    }
  }
  for (const [kind, group] of groups) {
    if (group.length === 1) {
      const { file, guessed } = group[0]!;
      layers.push({ packing: 'raw', mediaType: modelLayerType(kind, 'raw'), kind, guessed, file });
    } else {
      layers.push({
        packing: 'tar',
        mediaType: modelLayerType(kind, 'tar'),
        kind,
        files: group.map((g) => g.file),
      });
    }
  }
  return layers;
}
