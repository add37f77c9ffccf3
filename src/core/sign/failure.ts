/** What part of a signature's verification failed: reported with exit code 1, never as a crash. */
export type VerifyFailureKind =
  | 'signature-file'
  | 'signature'
  | 'key'
  | 'certificate'
  | 'transparency-log'
  | 'identity'
  | 'manifest'
  | 'files';

/**
 * Raised inside verification and turned into a failed report by `verifyModel`; callers of the
 * library see reports, not this.
 */
export class VerificationFailure extends Error {
  constructor(
    readonly kind: VerifyFailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'VerificationFailure';
  }
}

export function fail(kind: VerifyFailureKind, message: string): never {
  throw new VerificationFailure(kind, message);
}
