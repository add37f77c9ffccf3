import { MlsecError } from '../errors.js';
import { type DigestAlgorithm, isDigestAlgorithm } from './digest.js';
import { parseChecksumFile } from './sha256sum-format.js';

export interface ListedDigest {
  name: string;
  hex: string;
}

export interface ChecksumListing {
  entries: ListedDigest[];
  algorithm: DigestAlgorithm;
  /** A manifest's recorded `ignore_paths`: files there are not unlisted extras. */
  ignorePaths: string[];
  /**
   * An OMS-style manifest (`hash --manifest`): names are relative to the model root and the list
   * covers the whole model. Other lists name files as `sha256sum -c` does, from the working directory.
   */
  isManifest: boolean;
}

/** A sha256sum/BSD file, or mlsec's own JSON (`hash --format json` files, or a manifest's resources). */
export function parseChecksumListing(
  text: string,
  source: string,
  algorithm: DigestAlgorithm,
): ChecksumListing {
  if (text.trimStart().startsWith('{')) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new MlsecError('CHECKSUM_FILE_INVALID', `${source}: not valid JSON: ${(error as Error).message}`);
    }
    const doc = data as {
      algorithm?: string;
      files?: { path: string; digest: string }[];
      resources?: { name: string; digest: string }[];
      serialization?: { method?: string; hash_type?: string; ignore_paths?: unknown };
    };
    if (Array.isArray(doc.files) && doc.algorithm && isDigestAlgorithm(doc.algorithm)) {
      const entries = doc.files.map((f) => ({ name: f.path, hex: f.digest }));
      return { algorithm: doc.algorithm, entries, ignorePaths: [], isManifest: false };
    }
    const hashType = doc.serialization?.hash_type;
    if (
      Array.isArray(doc.resources) &&
      doc.serialization?.method === 'files' &&
      hashType &&
      isDigestAlgorithm(hashType)
    ) {
      const recorded = doc.serialization.ignore_paths;
      const ignorePaths = Array.isArray(recorded) ? recorded.filter((p) => typeof p === 'string') : [];
      return {
        algorithm: hashType,
        entries: doc.resources.map((r) => ({ name: r.name, hex: r.digest })),
        ignorePaths,
        isManifest: true,
      };
    }
    throw new MlsecError('CHECKSUM_FILE_INVALID', `${source}: not an mlsec checksum list or files manifest`);
  }
  const lines = parseChecksumFile(text, { algorithm, source });
  const found = lines[0]?.algorithm ?? algorithm;
  return {
    algorithm: found,
    entries: lines.map((l) => ({ name: l.name, hex: l.hex })),
    ignorePaths: [],
    isManifest: false,
  };
}
