/**
 * Messages of the per-identity second-factor limits (Kairos's ranges: info 1900100–1900199, errors
 * 4900100–4900199 belong to mfa/attempts). Neither says whether the submitted code was right: a refused attempt is
 * refused before its code is checked.
 */
import { kairosInfo, kairosWarning, type UiText } from '../../ui/messages.js';

export const lockoutMessages = {
  /** The increasing delay: the code was not checked; retry at `retry_at`. */
  delayed: (retryAtMs: number, nowMs: number): UiText => {
    const retryAfterSeconds = Math.max(1, Math.ceil((retryAtMs - nowMs) / 1000));
    return kairosWarning(4900100, `Too many wrong codes. Wait ${retryAfterSeconds} seconds, then try again. The code was not checked.`, {
      retry_at: new Date(retryAtMs).toISOString(),
      retry_at_unix: Math.ceil(retryAtMs / 1000),
      retry_after_seconds: retryAfterSeconds,
    });
  },
  /** The pending login's own budget (MAX_WRONG_CODES_PER_FLOW) is used: the first factor must be repeated. */
  flowBudgetUsed: (): UiText => kairosWarning(4900102, 'Too many wrong codes. Sign in again.'),
  /** The hard lock at the NIST ceiling: only account recovery or an administrator lifts it. */
  locked: (lockedAtMs: number): UiText =>
    kairosWarning(
      4900101,
      'Too many wrong codes: second factors are locked for this account. Recover your account or contact support.',
      { locked_at: new Date(lockedAtMs).toISOString() },
    ),
} as const;

/** The message for a guard's refusal (second-factor-guard.ts), shown instead of the code's verdict. */
/** Labels every second factor shares (info 1900100–1900199). */
export const secondFactorMessages = {
  /** The TOTP unlink field takes a code from the app or a backup recovery code. */
  codeOrBackupCodeLabel: () => kairosInfo(1900101, 'Code from your authenticator app, or one of your backup recovery codes'),
} as const;

export function refusalMessage(refusal: { refused: 'delayed' | 'locked' | 'flow_budget'; retryAtMs: number | null }, nowMs: number, lockedAtMs: number | null = null): UiText {
  if (refusal.refused === 'flow_budget') return lockoutMessages.flowBudgetUsed();
  if (refusal.refused === 'locked') return lockoutMessages.locked(lockedAtMs ?? nowMs);
  return lockoutMessages.delayed(refusal.retryAtMs ?? nowMs + 1000, nowMs);
}
