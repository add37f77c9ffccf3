import { MlsecError } from '../errors.js';

/** `host[:port]/repo/path[:tag][@sha256:hex]`, as Docker and ORAS write it. */
export interface ImageReference {
  /** Host and optional port, e.g. `registry.example.com:5000`. */
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

// distribution/reference grammar: path components of lowercase alphanumerics joined by separators.
const component = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const repositoryPattern = new RegExp(`^${component}(?:/${component})*$`);
const tagPattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const digestPattern = /^sha256:[0-9a-f]{64}$/;
const hostPattern =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$/;

export const defaultTag = 'latest';

/**
 * Parses a reference. The registry host is required (no implicit Docker Hub): a model pushed to the
 * wrong registry by a missing prefix is a leak, not a convenience.
 */
export function parseReference(text: string): ImageReference {
  const bad = (why: string) => new MlsecError('USAGE', `invalid reference ${JSON.stringify(text)}: ${why}`);
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digestPattern.test(digest)) throw bad('the digest must be sha256:<64 lowercase hex digits>');
  }
  const slash = rest.indexOf('/');
  if (slash < 0) throw bad('expected <registry>/<repository>[:tag]');
  const registry = rest.slice(0, slash);
  let path = rest.slice(slash + 1);
  if (!hostPattern.test(registry)) throw bad(`bad registry host ${JSON.stringify(registry)}`);
  let tag: string | undefined;
  const colon = path.lastIndexOf(':');
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!tagPattern.test(tag)) throw bad(`bad tag ${JSON.stringify(tag)}`);
  }
  if (!repositoryPattern.test(path) || path.length > 255) {
    throw bad('the repository must be lowercase letters, digits and separators (._-) in /-separated parts');
  }
  return { registry, repository: path, ...(tag === undefined ? {} : { tag }), ...(digest ? { digest } : {}) };
}

/** What to ask for in `/manifests/<here>`: the digest when pinned, else the tag (default `latest`). */
export function manifestReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? defaultTag;
}

export function formatReference(ref: ImageReference): string {
  const tag = ref.tag === undefined ? '' : `:${ref.tag}`;
  const digest = ref.digest === undefined ? '' : `@${ref.digest}`;
  return `${ref.registry}/${ref.repository}${tag}${digest}`;
}

export function isSha256Digest(value: string): boolean {
  return digestPattern.test(value);
}
