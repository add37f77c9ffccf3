import { MlsecError } from '../core/errors.js';
import { type DigestAlgorithm, isDigestAlgorithm } from '../core/hash/digest.js';

/** Commander accumulator for repeatable options (`--exclude a --exclude b`). */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** `--algorithm`, checked: a usage error names the choices. */
export function parseAlgorithm(value: string): DigestAlgorithm {
  if (isDigestAlgorithm(value)) return value;
  throw new MlsecError(
    'USAGE',
    `unknown --algorithm ${JSON.stringify(value)} (expected sha256, sha384, sha512, blake2b)`,
  );
}
