import { open } from 'node:fs/promises';
import { basename, extname, posix, relative, resolve, sep } from 'node:path';
import { type MetadataLicense, metadataReaders } from '../core/license/artifact-metadata.js';
import type { LicenseSource } from '../core/license/detect.js';
import { openFileArtifact } from './file-source.js';
import { walkFiles } from './walk.js';

/** Front matter sits at the top of a model card; the rest of a 50 MB README is never read. */
export const cardReadLimit = 64 * 1024;
/** The longest SPDX licence text is about 46 KB; model licences are shorter. */
export const licenseFileReadLimit = 256 * 1024;

const licenseFileName = /^(licen[cs]e|copying)([-._][\w.-]*)?$/i;
const noticeFileName = /^notice([-._][\w.-]*)?$/i;
const cardFileName = /^readme\.md$/i;

/** A model directory (or single file) and the licence sources and files in it. */
export interface LicenseUnit {
  /** As reported: relative to the working directory, POSIX separators. */
  path: string;
  sources: LicenseSource[];
  files: { path: string; absolute: string; size: number }[];
  /** Bytes read from the sources, to show that large files were not read whole. */
  bytesRead: number;
}

/**
 * Groups files into licence units: each path given, and every directory under it holding a model
 * card or a licence file, which then covers the files below it.
 */
export async function collectLicenseUnits(
  paths: readonly string[],
  options: { cwd: string; exclude?: readonly string[] },
): Promise<LicenseUnit[]> {
  const units: LicenseUnit[] = [];
  for (const path of paths) {
    const files: LicenseUnit['files'] = [];
    for await (const entry of walkFiles([path], { cwd: options.cwd, exclude: options.exclude ?? [] })) {
      if (entry.kind === 'file') files.push({ path: entry.path, absolute: entry.absolute, size: entry.size });
    }
    const reported = relative(options.cwd, resolve(options.cwd, path)).split(sep).join('/') || '.';
    const single = files.length === 1 && files[0]!.path === reported;
    const rootPath = single ? files[0]!.path : reported;
    const roots = new Set<string>([rootPath]);
    if (!single) {
      for (const file of files) {
        const name = basename(file.path);
        if (cardFileName.test(name) || licenseFileName.test(name)) roots.add(posix.dirname(file.path));
      }
    }
    const byRoot = new Map<string, LicenseUnit>();
    for (const root of [...roots].sort()) {
      const unit: LicenseUnit = { path: root, sources: [], files: [], bytesRead: 0 };
      byRoot.set(root, unit);
      units.push(unit);
    }
    for (const file of files) {
      const owner = single ? rootPath : nearestRoot(file.path, roots, rootPath);
      byRoot.get(owner)!.files.push(file);
    }
    for (const unit of byRoot.values()) await readSources(unit, single);
    // A directory that only holds other models is not a model of its own.
    const top = byRoot.get(rootPath)!;
    if (byRoot.size > 1 && top.files.length === 0) units.splice(units.indexOf(top), 1);
  }
  return units;
}

function nearestRoot(file: string, roots: Set<string>, top: string): string {
  for (let dir = posix.dirname(file); ; dir = posix.dirname(dir)) {
    if (roots.has(dir)) return dir;
    if (dir === '.' || dir === '/' || dir === top) return top;
  }
}

async function readSources(unit: LicenseUnit, single: boolean): Promise<void> {
  for (const file of unit.files) {
    const name = basename(file.path);
    const atRoot = single || posix.dirname(file.path) === unit.path;
    if (atRoot && !single && cardFileName.test(name)) {
      const read = await readText(file, cardReadLimit, unit);
      if (read.kind === 'text')
        unit.sources.push({ kind: 'card', file: file.path, text: read.text, truncated: read.truncated });
      else unit.sources.push({ kind: 'unreadable', file: file.path, reason: `model card ${read.reason}` });
    } else if (atRoot && !single && (licenseFileName.test(name) || noticeFileName.test(name))) {
      const read = await readText(file, licenseFileReadLimit, unit);
      const optional = noticeFileName.test(name);
      if (read.kind === 'text') {
        unit.sources.push({
          kind: 'license-file',
          file: file.path,
          text: read.text,
          truncated: read.truncated,
          optional,
        });
      } else
        unit.sources.push({
          kind: 'unreadable',
          file: file.path,
          reason: `${name} ${read.reason}; it cannot be a licence text`,
        });
    } else {
      const reader = metadataReaders[extname(name).toLowerCase()];
      if (!reader || file.size === 0) continue;
      const metadata = await readMetadata(file, reader, unit);
      if (metadata && (metadata.fields.length > 0 || metadata.problem)) {
        unit.sources.push({ kind: 'artifact-metadata', file: file.path, metadata });
      }
    }
  }
}

type TextRead = { kind: 'text'; text: string; truncated: boolean } | { kind: 'binary'; reason: string };

/** The first `limit` bytes as UTF-8 text; NUL bytes or invalid UTF-8 mean a binary file. */
async function readText(
  file: LicenseUnit['files'][number],
  limit: number,
  unit: LicenseUnit,
): Promise<TextRead> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file.absolute, 'r');
  } catch (error) {
    return { kind: 'binary', reason: `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  try {
    const buffer = new Uint8Array(Math.min(limit, file.size));
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    unit.bytesRead += filled;
    const bytes = buffer.subarray(0, filled);
    if (bytes.includes(0)) return { kind: 'binary', reason: 'is a binary file (it contains NUL bytes)' };
    const truncated = file.size > filled;
    try {
      // `stream` lets a multi-byte character cut by the read limit pass.
      const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: truncated });
      return { kind: 'text', text, truncated };
    } catch {
      return { kind: 'binary', reason: 'is not UTF-8 text' };
    }
  } finally {
    await handle.close();
  }
}

async function readMetadata(
  file: LicenseUnit['files'][number],
  reader: (typeof metadataReaders)[string],
  unit: LicenseUnit,
): Promise<MetadataLicense | undefined> {
  const opened = await openFileArtifact(file.absolute).catch(() => undefined);
  if (!opened?.source.random) return undefined;
  try {
    return await reader(opened.source.random);
  } finally {
    unit.bytesRead += opened.bytesRead();
    await opened.close();
  }
}
