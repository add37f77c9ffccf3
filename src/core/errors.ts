/**
 * Exit codes are part of the public contract: 0 pass, 1 policy or verification failure, 2 usage or
 * input error; 130 when interrupted (Ctrl-C), as shells report it.
 */
export const ExitCode = { ok: 0, policy: 1, usage: 2, interrupted: 130 } as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export type MlsecErrorCode =
  | 'USAGE'
  | 'CONFIG_INVALID'
  | 'CHECKSUM_FILE_INVALID'
  | 'INPUT_NOT_FOUND'
  | 'INPUT_UNREADABLE'
  | 'INPUT_INVALID'
  | 'OUTPUT_UNWRITABLE'
  | 'REGISTRY_ERROR'
  | 'REGISTRY_AUTH'
  | 'VERIFICATION_FAILED'
  | 'SIGNING_FAILED'
  | 'INTERRUPTED'
  | 'INTERNAL';

const exitCodeOf: Record<MlsecErrorCode, ExitCodeValue> = {
  USAGE: ExitCode.usage,
  CONFIG_INVALID: ExitCode.usage,
  CHECKSUM_FILE_INVALID: ExitCode.usage,
  INPUT_NOT_FOUND: ExitCode.usage,
  INPUT_UNREADABLE: ExitCode.usage,
  INPUT_INVALID: ExitCode.usage,
  OUTPUT_UNWRITABLE: ExitCode.usage,
  REGISTRY_ERROR: ExitCode.usage,
  REGISTRY_AUTH: ExitCode.usage,
  // Content that fails a digest or safety check is a verification failure, not bad input.
  VERIFICATION_FAILED: ExitCode.policy,
  // A signing service refused or failed: nothing was signed, and the pipeline step must stop.
  SIGNING_FAILED: ExitCode.policy,
  INTERRUPTED: ExitCode.interrupted,
  INTERNAL: ExitCode.usage,
};

/**
 * An error the user can act on. It carries its exit code and a one-line message;
 * the CLI's single top-level handler prints it. Findings are results, never errors.
 */
export class MlsecError extends Error {
  readonly code: MlsecErrorCode;
  readonly exitCode: ExitCodeValue;

  constructor(code: MlsecErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MlsecError';
    this.code = code;
    this.exitCode = exitCodeOf[code];
  }
}

export function isMlsecError(value: unknown): value is MlsecError {
  return value instanceof MlsecError;
}

/** The message of an unknown thrown value, on one line. */
export function describeError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
