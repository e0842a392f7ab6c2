/**
 * Why a WebAuthn answer was rejected, named like a rejected TOTP code (mfa/diagnosis): a cause for the hint, the log
 * line, the metric and the audit event. The verifier (@simplewebauthn/server) says what failed in its error; the
 * checks Kairos makes itself (which key, how late) name their cause directly.
 */
export type WebAuthnRejectionCause =
  | 'malformed'
  | 'challenge_mismatch'
  | 'timeout'
  | 'origin_mismatch'
  | 'rp_id_mismatch'
  | 'unknown_key'
  | 'user_verification'
  | 'cloned_key'
  | 'bad_signature'
  /** The browser refused before any key answered (cancelled, timed out, or no key for this site), reported by webauthn.js. */
  | 'not_allowed'
  /** The browser refused because the page is not on the RP ID's domain (SecurityError), reported by webauthn.js. */
  | 'wrong_domain';

export class WebAuthnRejection extends Error {
  override readonly name = 'WebAuthnRejection';
  constructor(
    readonly reason: WebAuthnRejectionCause,
    /** Structured, non-secret detail for the log line and the hint's context (never the signed data). */
    readonly detail: Record<string, unknown> = {},
  ) {
    super(`webauthn response rejected: ${reason}`);
  }
}

/** Maps an error thrown by the verifier to a cause. Anything unrecognised is a failed signature check. */
export function causeOfVerifierError(err: unknown): WebAuthnRejectionCause {
  const name = (err as { name?: string })?.name ?? '';
  const message = err instanceof Error ? err.message : String(err);
  if (name === 'UnexpectedRPIDHash' || /RP ID/i.test(message)) return 'rp_id_mismatch';
  if (/origin/i.test(message)) return 'origin_mismatch';
  if (/challenge/i.test(message)) return 'challenge_mismatch';
  if (/user verification|could not be verified/i.test(message)) return 'user_verification';
  if (/counter value/i.test(message)) return 'cloned_key';
  if (/base64url|missing|was not a|not an object|unexpected .*type|Unsupported|CBOR|decode/i.test(message)) return 'malformed';
  return 'bad_signature';
}
