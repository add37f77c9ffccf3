import { execa } from 'execa';

export interface GitProvenance {
  revision?: string;
  source?: string;
}

/** The commit and `origin` remote of the repository holding `dir`, when it is in one and git is installed. */
export async function gitProvenance(dir: string): Promise<GitProvenance> {
  const git = (args: string[]) =>
    execa('git', args, { cwd: dir, reject: false, timeout: 10_000 }).then((r) =>
      r.exitCode === 0 ? r.stdout.trim() : undefined,
    );
  const [revision, remote] = await Promise.all([
    git(['rev-parse', 'HEAD']),
    git(['remote', 'get-url', 'origin']),
  ]);
  return {
    ...(revision && /^[0-9a-f]{40,64}$/.test(revision) ? { revision } : {}),
    ...(remote ? { source: withoutCredentials(remote) } : {}),
  };
}

/** `https://user:token@host/x` → `https://host/x`: a published annotation must not leak a token. */
export function withoutCredentials(remote: string): string {
  try {
    const url = new URL(remote);
    url.username = '';
    url.password = '';
    return url.toString();
  } catch {
    // scp-like `git@host:org/repo.git`: the user part is not a secret.
    return remote;
  }
}
