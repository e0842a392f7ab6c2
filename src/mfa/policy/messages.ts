/**
 * The MFA policy's messages: Kairos ids 1901000–1901099 (info) and 4901000–4901099 (errors). Never reuse an id.
 * The hosted UI localises them by id (src/ui/i18n/); API clients read `text` and `context`.
 */
import { kairosInfo, kairosWarning, type UiText } from '../../ui/messages.js';

const NAMES: Record<string, string> = {
  totp: 'authenticator app',
  lookup_secret: 'backup codes',
  webauthn: 'security key',
  passkey: 'passkey',
  email: 'email code',
  sms: 'text message code',
  code: 'email or text message code',
};
const nameOf = (method: string) => NAMES[method] ?? method;
const iso = (ms: number) => new Date(ms).toISOString();
const day = (ms: number) => iso(ms).replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC');

export const policyMsg = {
  /** During the grace period, by date (and sign-ins, when the rule counts both). */
  graceUntil: (deadlineMs: number, loginsLeft: number | null, settingsUrl: string, ruleId: string): UiText =>
    kairosInfo(
      1901000,
      `Your account needs a second sign-in step. Set one up by ${day(deadlineMs)}${loginsLeft !== null ? ` (or within ${loginsLeft} more sign-in${loginsLeft === 1 ? '' : 's'}, whichever comes first)` : ''}: after that, you will have to set it up before you can continue.`,
      { deadline_at: iso(deadlineMs), deadline_unix: Math.floor(deadlineMs / 1000), logins_left: loginsLeft, settings_url: settingsUrl, rule_id: ruleId, title: 'Set up a second sign-in step' },
    ),
  /** During the grace period, counted in sign-ins. */
  graceLogins: (loginsLeft: number, settingsUrl: string, ruleId: string): UiText =>
    kairosInfo(
      1901001,
      loginsLeft === 0
        ? 'Your account needs a second sign-in step. This was the last sign-in without one: set it up now.'
        : `Your account needs a second sign-in step. You can sign in ${loginsLeft} more time${loginsLeft === 1 ? '' : 's'} without one: set it up now.`,
      { logins_left: loginsLeft, settings_url: settingsUrl, rule_id: ruleId, title: 'Set up a second sign-in step' },
    ),
  /** The grace period is over (or the rule has none). */
  enrollmentRequired: (settingsUrl: string, ruleId: string): UiText =>
    kairosWarning(4901000, 'Your account needs a second sign-in step before you can continue. Set one up now.', {
      settings_url: settingsUrl,
      rule_id: ruleId,
      title: 'Set up a second sign-in step',
    }),
  /** A method the identity's rule does not allow. */
  methodNotAllowed: (method: string, allowed: readonly string[], ruleId: string): UiText =>
    kairosWarning(
      4901001,
      `${nameOf(method)[0]!.toUpperCase()}${nameOf(method).slice(1)} is not allowed for your account.${allowed.length ? ` You can use: ${allowed.map(nameOf).join(', ')}.` : ''}`,
      { method, allowed_methods: allowed.join(','), rule_id: ruleId },
    ),
  /** Settings: which methods this account may use, when the rule forbids some of the enabled ones. */
  allowedMethods: (allowed: readonly string[], ruleId: string): UiText =>
    kairosInfo(1901002, `For your account you can use: ${allowed.map(nameOf).join(', ')}.`, { allowed_methods: allowed.join(','), rule_id: ruleId }),
  /** After a second factor, when the browser was remembered. */
  deviceRemembered: (expiresAtMs: number): UiText =>
    kairosInfo(1901003, `This browser is remembered: it skips the second step until ${day(expiresAtMs)}. You can forget it in your account settings.`, {
      expires_at: iso(expiresAtMs),
      expires_unix: Math.floor(expiresAtMs / 1000),
    }),
  /** Settings node label: forget one remembered browser. */
  forgetDevice: (device: { id: string; browser: string; createdAtMs: number; expiresAtMs: number }): UiText =>
    kairosInfo(1901004, `Forget ${device.browser}: remembered ${day(device.createdAtMs)}, until ${day(device.expiresAtMs)}`, {
      device_id: device.id,
      browser: device.browser,
      created_at: iso(device.createdAtMs),
      expires_at: iso(device.expiresAtMs),
    }),
  /** Settings node label: forget every remembered browser. */
  forgetAllDevices: (): UiText => kairosInfo(1901005, 'Forget all remembered browsers'),
  /** Settings: the group's explanation. */
  devicesExplained: (): UiText =>
    kairosInfo(1901006, 'Remembered browsers skip the second sign-in step for a while. Forget any you do not use or do not recognise.'),
  /** Settings, after forgetting. */
  devicesForgotten: (count: number): UiText => kairosInfo(1901007, `${count} remembered browser${count === 1 ? '' : 's'} forgotten.`, { count }),
  /** Settings: the device to forget is not one of this account's (or was forgotten already). */
  deviceUnknown: (): UiText => kairosWarning(4901002, 'This browser is not remembered for your account (any more).'),
} as const;
