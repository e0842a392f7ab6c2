/**
 * Kairos's own messages for recovery codes (range given to this module: info 1900200–1900299, errors
 * 4900200–4900299). Kratos's own ids (1050007…1050016, 4000012/14/16) come from ui/messages.ts.
 */
import { kairosInfo, kairosWarning } from '../../ui/messages.js';

/** At this many unused codes or fewer, the user is warned and offered to regenerate. */
export const LOW_REMAINING_CODES = 3;

export const lookupMsg = {
  /** After a code was used at login: how many remain (context.remaining). */
  codesRemaining: (remaining: number) =>
    kairosInfo(1900200, `You used a backup recovery code. ${remaining} ${remaining === 1 ? 'code remains' : 'codes remain'}.`, { remaining }),
  /** At LOW_REMAINING_CODES or fewer (context.remaining, context.settings_url). */
  codesLow: (remaining: number, settingsUrl: string) =>
    kairosInfo(1900201, `Only ${remaining} backup recovery ${remaining === 1 ? 'code is' : 'codes are'} left. Generate new codes in your account settings.`, {
      remaining,
      settings_url: settingsUrl,
    }),
  /** The last code was used; browser flows are sent to the settings to regenerate (context.settings_url). */
  codesExhausted: (settingsUrl: string) =>
    kairosInfo(1900202, 'You have used your last backup recovery code. Generate new codes now, before you need them.', {
      remaining: 0,
      settings_url: settingsUrl,
    }),
  /** Label of the required acknowledgement checkbox. */
  acknowledgeLabel: () => kairosInfo(1900203, 'I have saved these backup recovery codes in a safe place'),
  /** TOTP code accepted at enrollment; the codes must be saved and confirmed to finish. */
  totpVerifiedSaveCodes: () =>
    kairosInfo(1900204, 'Your authenticator app is verified. Save these backup recovery codes and confirm to finish setting it up.'),
  downloadLabel: () => kairosInfo(1900205, 'Download codes (.txt)'),
  printLabel: () => kairosInfo(1900206, 'Print codes'),
  /** Status of an unused code in a reveal (Kairos never shows a stored code again). */
  codeUnused: (position: number) => kairosInfo(1900207, `Code ${position}: unused`, { position, used: false }),
  /** Settings: these codes were generated for this flow and are not saved yet. */
  codesPendingHint: () =>
    kairosInfo(1900208, 'These codes are shown only now. They are saved, and old codes stop working, when you confirm.'),
  /** Settings: status summary (context.remaining, context.total). */
  codesStatus: (remaining: number, total: number) =>
    kairosInfo(1900209, `${remaining} of ${total} backup recovery codes unused.`, { remaining, total }),

  acknowledgeRequired: () => kairosWarning(4900200, 'Confirm that you have saved the backup recovery codes.'),
  disableRefused: () =>
    kairosWarning(
      4900201,
      'Backup recovery codes cannot be disabled while an authenticator app is set up: they are how you sign in when the phone is lost. Generate new codes instead.',
    ),
  /** Another settings flow enrolled TOTP first (the id is from this block: the race was found with recovery codes). */
  totpEnrolledElsewhere: () =>
    kairosWarning(4900202, 'An authenticator app was set up for this account in the meantime (in another window or device). Reload the settings to see it.'),
} as const;
