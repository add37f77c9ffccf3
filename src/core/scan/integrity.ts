import type { Finding } from '../findings.js';
import type { CheckReport } from '../hash/check.js';
import type { ManifestDiff } from '../sign/compare.js';
import { makeFinding } from './context.js';

/**
 * Turns a checksum comparison into findings keyed by the path each one belongs to
 * (`displayPath` maps a name in the list to the path reports use).
 */
export function integrityFindings(
  report: CheckReport,
  listName: string,
  displayPath: (name: string) => string,
): Map<string, Finding[]> {
  const { byPath, add } = findingsByPath(displayPath);
  for (const line of report.lines) {
    if (line.status === 'FAILED') {
      add(
        line.name,
        makeFinding(
          'checksumMismatch',
          `digest ${line.actual} does not match ${line.expected} listed in ${listName}`,
          undefined,
        ),
      );
    } else if (line.status === 'MISSING') {
      add(
        line.name,
        makeFinding('checksumMissing', `listed in ${listName} but missing or unreadable`, undefined),
      );
    } else if (line.status === 'EXTRA') {
      add(line.name, makeFinding('checksumUnlisted', `not listed in ${listName}`, undefined));
    }
  }
  return byPath;
}

/** Turns a comparison with a signed manifest into findings keyed by the path each one belongs to. */
export function signatureFindings(
  diff: ManifestDiff,
  signatureName: string,
  displayPath: (name: string) => string,
): Map<string, Finding[]> {
  const { byPath, add } = findingsByPath(displayPath);
  for (const name of diff.modified) {
    add(
      name,
      makeFinding(
        'signedFileModified',
        `content differs from the manifest signed in ${signatureName}`,
        undefined,
      ),
    );
  }
  for (const name of diff.removed) {
    add(name, makeFinding('signedFileMissing', `signed in ${signatureName} but missing`, undefined));
  }
  for (const { from, to } of diff.renamed) {
    add(from, makeFinding('signedFileMissing', `signed in ${signatureName} but renamed to ${to}`, undefined));
  }
  for (const name of diff.added) {
    add(name, makeFinding('unsignedFile', `not covered by ${signatureName}`, undefined));
  }
  return byPath;
}

function findingsByPath(displayPath: (name: string) => string) {
  const byPath = new Map<string, Finding[]>();
  const add = (name: string, finding: Finding) => {
    const path = displayPath(name);
    byPath.set(path, [...(byPath.get(path) ?? []), finding]);
  };
  return { byPath, add };
}
