import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { MlsecError } from '../core/errors.js';

/**
 * The Sigstore trusted root for keyless verification: a file (`--trusted-root`, for a private
 * deployment or a fresher root), else the public-good root that the installed @sigstore/tuf ships
 * as its TUF seed. Verification then runs offline; it never fetches a root behind the user's back.
 */
export async function loadTrustedRoot(path: string | undefined): Promise<unknown> {
  if (path !== undefined) {
    let root: { mediaType?: unknown; certificateAuthorities?: unknown; tlogs?: unknown };
    try {
      root = JSON.parse(await readFile(path, 'utf8'));
    } catch (error) {
      throw new MlsecError('INPUT_INVALID', `cannot read trusted root ${path}: ${(error as Error).message}`);
    }
    const nonEmpty = (list: unknown) => Array.isArray(list) && list.length > 0;
    if (
      typeof root?.mediaType !== 'string' ||
      !root.mediaType.includes('trustedroot') ||
      !nonEmpty(root.certificateAuthorities) ||
      !nonEmpty(root.tlogs)
    ) {
      throw new MlsecError(
        'INPUT_INVALID',
        `${path} is not a Sigstore trusted root (needs a trustedroot mediaType, certificate authorities and transparency logs)`,
      );
    }
    return root;
  }
  const seeds = createRequire(import.meta.url)('@sigstore/tuf/seeds.json') as Record<
    string,
    { targets?: Record<string, string> }
  >;
  const encoded = seeds['https://tuf-repo-cdn.sigstore.dev']?.targets?.['trusted_root.json'];
  if (!encoded) throw new MlsecError('INTERNAL', 'no public-good trusted root in @sigstore/tuf');
  return JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
}
