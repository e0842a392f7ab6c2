/**
 * Recovery's own messages (Kratos's, such as 4060004, are in ui/messages.ts), in this module's ranges:
 * info 1900400–1900499, errors 4900400–4900499. Never reuse an id.
 */
import { kairosInfo, kairosWarning, type UiText } from '../ui/messages.js';

const hours = (ms: number) => Math.round((ms / 3_600_000) * 10) / 10;

export const recoveryMsg = {
  mfaResetExplained: (completesAtMs: number, delayMs: number, hasPassword: boolean) =>
    kairosInfo(
      1900400,
      `Your account is protected by a second factor, and recovery by email alone does not remove it. If you still have your authenticator app or a backup recovery code, sign in with it instead. ${hasPassword ? 'To reset the second factor now, enter your password. Otherwise the' : 'The'} reset completes ${hours(delayMs)} hours after it was requested (at ${new Date(completesAtMs).toISOString()}): recover your account again after that time. Every verified address of the account has been told and can cancel the reset.`,
      { completes_at: new Date(completesAtMs).toISOString(), delay_seconds: Math.round(delayMs / 1000), password_accepted: hasPassword },
    ),
  enrollAgain: () =>
    kairosInfo(1900401, 'Your second factor was reset. Set up your authenticator app again, with new backup recovery codes, before you continue.'),
  mfaResetCancelledPage: () => kairosInfo(1900402, 'The second-factor reset was cancelled. Your second factor stays in place. If you did not ask for the reset, change your password.'),
  mfaResetConfirmCancel: (completesAtMs: number) =>
    kairosInfo(
      1900404,
      `Someone recovered your account by email and asked to remove its second factor (authenticator app, security keys and backup recovery codes). This happens at ${new Date(completesAtMs).toISOString()}. If this was not you, cancel the reset now, then change your password. If it was you, you do not need to do anything.`,
      { completes_at: new Date(completesAtMs).toISOString() },
    ),
  mfaResetAlreadyClosed: () => kairosInfo(1900403, 'This cancel link is not valid any more: the reset was already completed or cancelled, or the link is wrong.'),
  tooManyAttempts: () => kairosWarning(4900400, 'Too many attempts on this recovery flow. Start the recovery again to get a new code.'),
  noPasswordWait: (completesAtMs: number) =>
    kairosWarning(4900401, `This account has no password, so the reset completes only after the waiting period, at ${new Date(completesAtMs).toISOString()}.`, { completes_at: new Date(completesAtMs).toISOString() }),
  mfaResetCancelled: () => kairosWarning(4900402, 'The second-factor reset was cancelled from one of your addresses. Your second factor stays in place.'),
} as const;
