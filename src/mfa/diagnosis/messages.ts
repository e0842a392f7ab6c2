/**
 * The user-facing hints for a rejected TOTP code: Kairos error ids 4900000–4900099 (DESIGN §1), each with a text and
 * a `context` carrying the diagnosis as structured fields, so a UI can render its own wording. Never a code or secret.
 */
import { kairosWarning, type UiText } from '../../ui/messages.js';
import type { TotpParameters } from '../../otp/otp.js';
import { describeDeviceOffset, type Diagnosis } from './diagnose.js';

export const HINT_IDS = {
  malformed: 4900001,
  replayed: 4900002,
  clock_skew: 4900003,
  previous_secret: 4900004,
  parameter_mismatch: 4900005,
  no_match: 4900006,
} as const;

/** Runbook "Check user clock": the automatic-time settings (seeds/000). */
export const AUTOMATIC_TIME_STEPS = {
  ios: 'Settings → General → Date & Time → Set automatically',
  android: 'Settings → System → Date & time → Automatic',
} as const;

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const describeParameters = (p: TotpParameters) => `${p.algorithm}, ${p.digits} digits, every ${p.periodSeconds} seconds`;
const entryName = (issuer: string | null, accountName: string) => (issuer ? `${issuer} (${accountName})` : accountName);

export interface HintFacts {
  diagnosis: Diagnosis;
  /** The credential as enrolled. */
  issuer: string | null;
  accountName: string;
  parameters: TotpParameters;
  /** The issuer configured now (differs from `issuer` after a rebrand). */
  currentIssuer: string;
}

export function hintFor(facts: HintFacts): UiText {
  const { diagnosis: d, issuer, accountName, parameters, currentIssuer } = facts;
  const cause = d.cause;
  switch (cause) {
    case 'malformed':
      return kairosWarning(
        HINT_IDS.malformed,
        d.malformed === 'not_digits'
          ? `An authentication code has only digits: enter the ${d.expectedDigits} digits your authenticator app shows.`
          : `This account's codes have ${d.expectedDigits} digits, but ${d.actualLength} were entered: enter the code your authenticator app shows for ${entryName(issuer, accountName)}.`,
        { cause, reason: d.malformed, expected_digits: d.expectedDigits, actual_length: d.actualLength },
      );
    case 'replayed':
      return kairosWarning(
        HINT_IDS.replayed,
        'This code was already used. Wait until your authenticator app shows a new code, then enter that one.',
        { cause, offset_steps: d.offsetSteps, offset_seconds: d.offsetSeconds },
      );
    case 'clock_skew': {
      const offset = describeDeviceOffset(d.offsetSeconds!);
      return kairosWarning(
        HINT_IDS.clock_skew,
        `Your device's clock is ${offset}, so its codes do not match. Set the time automatically — iPhone: ${AUTOMATIC_TIME_STEPS.ios}; Android: ${AUTOMATIC_TIME_STEPS.android} — then enter a new code.`,
        {
          cause,
          offset_steps: d.offsetSteps,
          offset_seconds: d.offsetSeconds,
          direction: d.offsetSeconds! < 0 ? 'behind' : 'ahead',
          steps: { ios: AUTOMATIC_TIME_STEPS.ios, android: AUTOMATIC_TIME_STEPS.android },
        },
      );
    }
    case 'previous_secret': {
      const p = d.previousSecret!;
      return kairosWarning(
        HINT_IDS.previous_secret,
        `This code comes from an old entry for ${entryName(p.issuer, p.accountName)} in your authenticator app (set up ${day(p.enrolledAtMs)}, replaced ${day(p.retiredAtMs)}). Delete the old entry and use the one you set up most recently.`,
        {
          cause,
          offset_steps: d.offsetSteps,
          offset_seconds: d.offsetSeconds,
          issuer: p.issuer,
          account_name: p.accountName,
          enrolled_at: new Date(p.enrolledAtMs).toISOString(),
          retired_at: new Date(p.retiredAtMs).toISOString(),
        },
      );
    }
    case 'parameter_mismatch': {
      const detected = d.detectedParameters!;
      return kairosWarning(
        HINT_IDS.parameter_mismatch,
        `Your authenticator app generates codes with other settings (${describeParameters(detected)}) than this account uses (${describeParameters(parameters)}). Delete the entry and add it again by scanning the QR code, or enter the secret with these settings.`,
        {
          cause,
          offset_steps: d.offsetSteps,
          offset_seconds: d.offsetSeconds,
          expected: { algorithm: parameters.algorithm, digits: parameters.digits, period: parameters.periodSeconds },
          detected: { algorithm: detected.algorithm, digits: detected.digits, period: detected.periodSeconds },
        },
      );
    }
    case 'no_match': {
      const changed = issuer !== null && issuer !== currentIssuer;
      return kairosWarning(
        HINT_IDS.no_match,
        `This code does not match. In your authenticator app, use the entry named "${entryName(issuer, accountName)}".` +
          (changed ? ` We are now called "${currentIssuer}", but your app still shows the name from when you set it up.` : '') +
          ' If that entry keeps failing, it may have been scanned incorrectly: sign in with a backup code and set it up again.',
        { cause, issuer, account_name: accountName, issuer_changed: changed, current_issuer: currentIssuer },
      );
    }
  }
}
