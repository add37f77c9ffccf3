import type { ScanContext } from '../../context.js';
import { classifyReference } from '../../policy/callable-reference.js';
import { walkObjects } from '../config/walk.js';

/** Keys whose value Hydra-style instantiators import and call (`_call_` is HyFI's spelling). */
const targetKeys = ['_target_', '_call_'] as const;

/**
 * The namespaces NeMo's `safe_instantiate` allows (NeMo >= 2.4, CVE-2025-23304 fix): ordinary in
 * NeMo and Lightning configs, and safe here for targets only. A dangerous name reached through
 * them (`nemo.core.os.system`) is still judged dangerous first.
 */
const safeTargetPrefixes = [
  'nemo.collections.',
  'nemo.core.',
  'nemo.utils.',
  'nemo.lightning.',
  'torch.nn.',
  'torch.optim.',
  'torch.utils.data.',
  'lightning.pytorch.callbacks.',
  'lightning.pytorch.loggers.',
  'lightning.pytorch.strategies.',
  'lightning.pytorch.accelerators.',
  'pytorch_lightning.callbacks.',
  'pytorch_lightning.loggers.',
  'omegaconf.',
  'megatron.',
];

/**
 * Hydra and NeMo configs (YAML or JSON, alone or inside a `.nemo` archive): every `_target_` and
 * `_call_` is a callable reference that `hydra.utils.instantiate` imports and calls, judged with
 * the pickle global policy. `parsed` is the document when the caller parsed it as JSON already.
 */
export async function inspectHydraText(text: string, context: ScanContext, parsed?: unknown): Promise<void> {
  const documents = parsed !== undefined ? [parsed] : await parseDocuments(text);
  if (documents === undefined) {
    context.report('hydraUnreadable', 'config is not valid YAML or JSON; targets were read from its lines');
    context.partial();
    for (const match of text.matchAll(/(?:^|[\s{,"'])(_(?:target|call)_)["']?\s*:\s*["']?([^"'\s,}#]+)/gm)) {
      judgeTarget(match[2]!, `${match[1]!} (line text)`, context);
    }
    return;
  }
  for (const document of documents) {
    const complete = walkObjects(document, (object, path) => {
      for (const key of targetKeys) {
        const target = object[key];
        if (target === undefined) continue;
        const where = path === '' ? key : `${path}.${key}`;
        if (typeof target !== 'string') {
          context.report(
            'hydraUnknownTarget',
            `${where} is not a name (${typeof target}); what it instantiates cannot be judged`,
          );
          continue;
        }
        judgeTarget(target, where, context);
      }
    });
    if (!complete) {
      context.report('hydraUnreadable', 'config has too many values; the rest was not inspected');
      context.partial();
    }
  }
}

async function parseDocuments(text: string): Promise<unknown[] | undefined> {
  const { parseAllDocuments } = await import('yaml');
  try {
    const parsed = parseAllDocuments(text, { uniqueKeys: false });
    const list = Array.isArray(parsed) ? parsed : [parsed];
    const out: unknown[] = [];
    for (const document of list) {
      if (document.errors.length > 0) return undefined;
      out.push(document.toJS({ maxAliasCount: 1000 }));
    }
    return out;
  } catch {
    return undefined;
  }
}

function judgeTarget(target: string, where: string, context: ScanContext): void {
  const name = target.trim();
  const verdict = classifyReference(context.policy, name);
  if (verdict.verdict === 'dangerous') {
    context.report('hydraDangerousTarget', `${where} instantiates ${name} (${verdict.reason})`, {
      global: name,
    });
    return;
  }
  if (verdict.verdict === 'safe' || safeTargetPrefixes.some((prefix) => name.startsWith(prefix))) return;
  context.report(
    'hydraUnknownTarget',
    `${where} instantiates ${name}, which is not on the allowlist (${verdict.reason})`,
    {
      global: name,
    },
  );
}
