import type { Finding } from '../../src/core/findings.js';
import { defaultLimits, type ScanLimits } from '../../src/core/scan/limits.js';
import { GlobalPolicy, type GlobalPolicyOptions } from '../../src/core/scan/policy/global-policy.js';
import { scanSource } from '../../src/core/scan/scan-source.js';
import { bufferSource } from '../../src/core/source.js';

export async function scanBytes(
  bytes: Uint8Array,
  options: { name?: string; policy?: GlobalPolicyOptions; limits?: ScanLimits } = {},
) {
  return scanSource(bufferSource(bytes), options.name ?? 'test.pkl', {
    policy: new GlobalPolicy(options.policy),
    limits: options.limits ?? defaultLimits,
  });
}

/** The fields a test pins down, in a stable order. */
export function brief(findings: readonly Finding[]) {
  return findings
    .map((f) => ({
      rule: f.rule,
      severity: f.severity,
      ...(f.global ? { global: f.global } : {}),
      ...(f.member ? { member: f.member } : {}),
      ...(f.offset !== undefined ? { offset: f.offset } : {}),
    }))
    .sort((a, b) =>
      `${a.rule}${a.global ?? ''}${a.member ?? ''}`.localeCompare(
        `${b.rule}${b.global ?? ''}${b.member ?? ''}`,
      ),
    );
}
