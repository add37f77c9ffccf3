import type { GlobalClassification, GlobalPolicy } from './global-policy.js';

/**
 * Classifies a dotted callable reference from a config file (`os.system`, a Keras `module` plus
 * `class_name`, a Hydra `_target_`) with the pickle global policy. Loaders resolve such names by
 * importing the longest module prefix and walking attributes from there, so the reference is
 * judged both as `module.name` and as an attribute walk from its top package: `logging.os.system`
 * reaches `os.system` through an attribute.
 */
export function classifyReference(policy: GlobalPolicy, path: string): GlobalClassification {
  const last = path.lastIndexOf('.');
  if (last < 0) return policy.classify('builtins', path);
  const direct = policy.classify(path.slice(0, last), path.slice(last + 1));
  if (direct.verdict === 'dangerous') return direct;
  const first = path.indexOf('.');
  if (first !== last) {
    const walked = policy.classify(path.slice(0, first), path.slice(first + 1));
    if (walked.verdict === 'dangerous') return walked;
  }
  return direct;
}
