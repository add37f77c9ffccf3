import { type OmsResource, parseShardName } from '../hash/manifest.js';

/** How the files on disk differ from the signed manifest, file by file. */
export interface ManifestDiff {
  modified: string[];
  added: string[];
  removed: string[];
  renamed: { from: string; to: string }[];
}

export function isEmptyDiff(diff: ManifestDiff): boolean {
  return diff.modified.length + diff.added.length + diff.removed.length + diff.renamed.length === 0;
}

/**
 * Compares resources by file: a file's content is the set of its resources' digests (one, or one
 * per shard). A removed file whose content reappears under a new name is reported as renamed.
 */
export function diffManifests(
  signed: readonly OmsResource[],
  actual: readonly OmsResource[],
  method: 'files' | 'shards',
): ManifestDiff {
  const expected = byFile(signed, method);
  const found = byFile(actual, method);
  const modified = [...expected.keys()].filter((p) => found.has(p) && found.get(p) !== expected.get(p));
  let removed = [...expected.keys()].filter((p) => !found.has(p));
  let added = [...found.keys()].filter((p) => !expected.has(p));
  const renamed: ManifestDiff['renamed'] = [];
  for (const from of removed) {
    const to = added.find((p) => found.get(p) === expected.get(from));
    if (to === undefined) continue;
    renamed.push({ from, to });
    added = added.filter((p) => p !== to);
  }
  const renamedFrom = new Set(renamed.map((r) => r.from));
  removed = removed.filter((p) => !renamedFrom.has(p));
  return { modified, added, removed, renamed };
}

function byFile(resources: readonly OmsResource[], method: 'files' | 'shards'): Map<string, string> {
  const parts = new Map<string, string[]>();
  for (const { name, digest } of resources) {
    const shard = method === 'shards' ? parseShardName(name) : undefined;
    const path = shard?.path ?? name;
    const part = shard ? `${shard.start}:${shard.end}:${digest}` : digest;
    const list = parts.get(path);
    if (list) list.push(part);
    else parts.set(path, [part]);
  }
  return new Map([...parts].map(([path, list]) => [path, list.sort().join(',')]));
}
