/**
 * The message catalogue: every text Kairos shows in a flow, with a stable numeric id.
 *
 * Kratos's ids (`text/id.go`, texts from `text/message_*.go`) are kept exactly, so Kratos UIs that switch on ids keep
 * working. Kairos's own messages use ranges Kratos does not: 1900000–1999999 (info) and 4900000–4999999 (errors).
 * Ids are never reused. Every id is listed in ui/message-catalogue.ts (its test checks the code, the ranges and
 * docs/messages.md against it).
 */
export type UiTextType = 'info' | 'error' | 'success';

export interface UiText {
  id: number;
  text: string;
  type: UiTextType;
  context?: Record<string, unknown>;
}

const info = (id: number, text: string, context?: Record<string, unknown>): UiText =>
  context ? { id, text, type: 'info', context } : { id, text, type: 'info' };
const error = (id: number, text: string, context?: Record<string, unknown>): UiText =>
  context ? { id, text, type: 'error', context } : { id, text, type: 'error' };
const success = (id: number, text: string): UiText => ({ id, text, type: 'success' });

const minutes = (ms: number) => (ms / 60_000).toFixed(2);

/** Kratos's messages, by id. */
export const msg = {
  // 101xxxx login
  loginSignIn: () => info(1010001, 'Sign in'),
  loginReAuth: () => info(1010003, 'Please confirm this action by verifying that it is you.'),
  loginMfa: () => info(1010004, 'Please complete the second authentication challenge.'),
  loginTotpLabel: () => info(1010006, 'Authentication code'),
  loginLookupLabel: () => info(1010007, 'Backup recovery code'),
  loginUseTotp: () => info(1010009, 'Use Authenticator'),
  loginUseLookup: () => info(1010010, 'Use backup recovery code'),
  loginContinue: () => info(1010013, 'Continue'),
  loginWithPassword: () => info(1010022, 'Sign in with password'),
  // 104xxxx registration
  registrationSignUp: () => info(1040001, 'Sign up'),
  // 105xxxx settings
  settingsSaved: () => success(1050001, 'Your changes have been saved!'),
  settingsUnlinkTotp: () => info(1050004, 'Unlink TOTP Authenticator App'),
  settingsTotpQrCode: () => info(1050005, 'Authenticator app QR code'),
  settingsTotpSecret: (secret: string) => info(1050006, secret, { secret }),
  settingsRevealLookup: () => info(1050007, 'Reveal backup recovery codes'),
  settingsRegenerateLookup: () => info(1050008, 'Generate new backup recovery codes'),
  settingsLookupSecret: (secret: string) => info(1050009, secret, { secret }),
  settingsLookupSecretLabel: () => info(1050010, 'These are your back up recovery codes. Please keep them in a safe place!'),
  settingsLookupConfirm: () => info(1050011, 'Confirm backup recovery codes'),
  settingsLookupSecretUsed: (usedAtMs: number) =>
    info(1050014, `Secret was used at ${new Date(usedAtMs).toISOString()}`, {
      used_at: new Date(usedAtMs).toISOString(),
      used_at_unix: Math.floor(usedAtMs / 1000),
    }),
  settingsLookupSecretList: (text: string, secrets: UiText[]) => info(1050015, text, { secrets }),
  settingsDisableLookup: () => info(1050016, 'Disable this method'),
  settingsTotpSecretLabel: () =>
    info(1050017, 'This is your authenticator app secret. Use it if you can not scan the QR code.'),
  // 106xxxx recovery
  recoverySuccessful: (privilegedForMs: number) =>
    success(
      1060001,
      `You successfully recovered your account. Please change your password or set up an alternative login method (e.g. social sign in) within the next ${minutes(privilegedForMs)} minutes.`,
    ),
  recoveryEmailWithCodeSent: () =>
    info(
      1060003,
      'An email containing a recovery code has been sent to the email address you provided. If you have not received an email, check the spelling of the address and make sure to use the address you registered with.',
    ),
  // 107xxxx node labels
  labelPassword: () => info(1070001, 'Password'),
  labelSave: () => info(1070003, 'Save'),
  labelId: () => info(1070004, 'ID'),
  labelSubmit: () => info(1070005, 'Submit'),
  labelVerifyCode: () => info(1070006, 'Verify code'),
  labelEmail: () => info(1070007, 'Email'),
  labelResendCode: () => info(1070008, 'Resend code'),
  labelContinue: () => info(1070009, 'Continue'),
  labelRecoveryCode: () => info(1070010, 'Recovery code'),
  labelVerificationCode: () => info(1070011, 'Verification code'),
  // 108xxxx verification
  verificationEmailWithCodeSent: () =>
    info(
      1080003,
      'An email containing a verification code has been sent to the email address you provided. If you have not received an email, check the spelling of the address and make sure to use the address you registered with.',
    ),
  verificationSuccessful: () => success(1080002, 'You successfully verified your email address.'),

  // 400xxxx validation
  generic: (reason: string) => error(4000001, reason, { reason }),
  required: (property: string) => error(4000002, `Property ${property} is missing.`, { property }),
  minLength: (min: number, actual: number) =>
    error(4000003, `length must be >= ${min}, but got ${actual}`, { min_length: min, actual_length: actual }),
  invalidFormat: (format: string, value: unknown) =>
    error(4000004, `"${String(value)}" is not valid "${format}"`, { pattern: format }),
  passwordPolicy: (reason: string) => error(4000005, `The password can not be used because ${reason}.`, { reason }),
  invalidCredentials: () =>
    error(
      4000006,
      'The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number.',
    ),
  duplicateCredentials: () =>
    error(4000007, 'An account with the same identifier (email, phone, username, ...) exists already.'),
  totpWrong: () => error(4000008, 'The provided authentication code is invalid, please try again.'),
  identifierMissing: () =>
    error(
      4000009,
      'Could not find any login identifiers. Did you forget to set them? This could also be caused by a server misconfiguration.',
    ),
  addressNotVerified: () => error(4000010, 'Account not active yet. Did you forget to verify your email address?'),
  noTotpDevice: () => error(4000011, 'You have no TOTP device set up.'),
  lookupAlreadyUsed: () => error(4000012, 'This backup recovery code has already been used.'),
  noLookup: () => error(4000014, 'You have no backup recovery codes set up.'),
  lookupInvalid: () => error(4000016, 'The backup recovery code is not valid.'),
  maxLength: (max: number, actual: number) =>
    error(4000017, `length must be <= ${max}, but got ${actual}`, { max_length: max, actual_length: actual }),
  wrongType: (allowed: string[], actual: string) =>
    error(4000023, `expected ${allowed.join(' or ')}, but got ${actual}`, { allowed_types: allowed, actual_type: actual }),
  passwordTooSimilar: () =>
    error(4000031, 'The password can not be used because it is too similar to the identifier.'),
  passwordMinLength: (min: number, actual: number) =>
    error(4000032, `The password must be at least ${min} characters long, but got ${actual}.`, {
      min_length: min,
      actual_length: actual,
    }),
  passwordMaxLength: (max: number, actual: number) =>
    error(4000033, `The password must be at most ${max} characters long, but got ${actual}.`, {
      max_length: max,
      actual_length: actual,
    }),
  // 401xxxx flow errors
  loginFlowExpired: (expiredAgoMs: number, expiredAtMs: number) =>
    error(4010001, `The login flow expired ${minutes(expiredAgoMs)} minutes ago, please try again.`, {
      expired_at: new Date(expiredAtMs).toISOString(),
      expired_at_unix: Math.floor(expiredAtMs / 1000),
    }),
  loginNoStrategy: () =>
    error(4010002, 'Could not find a strategy to log you in with. Did you fill out the form correctly?'),
  registrationNoStrategy: () =>
    error(4010003, 'Could not find a strategy to sign you up with. Did you fill out the form correctly?'),
  settingsNoStrategy: () =>
    error(4010004, 'Could not find a strategy to update your settings. Did you fill out the form correctly?'),
  recoveryNoStrategy: () =>
    error(4010005, 'Could not find a strategy to recover your account with. Did you fill out the form correctly?'),
  verificationNoStrategy: () =>
    error(4010006, 'Could not find a strategy to verify your account with. Did you fill out the form correctly?'),
  flowAlreadyCompleted: () => error(4010007, 'The request was already completed successfully and can not be retried.'),
  accountDisabled: () => error(4010011, 'This account has been disabled. Please contact support for assistance.'),
  registrationFlowExpired: (expiredAgoMs: number) =>
    error(4040001, `The registration flow expired ${minutes(expiredAgoMs)} minutes ago, please try again.`),
  settingsFlowExpired: (expiredAgoMs: number) =>
    error(4050001, `The settings flow expired ${minutes(expiredAgoMs)} minutes ago, please try again.`),
  recoveryFlowExpired: (expiredAgoMs: number) =>
    error(4060005, `The recovery flow expired ${minutes(expiredAgoMs)} minutes ago, please try again.`),
  /** Kratos `ErrorValidationRecoveryRecoveryTokenInvalidOrAlreadyUsed`. */
  recoveryTokenInvalid: () => error(4060004, 'The recovery token is invalid or has already been used. Please retry the flow.'),
  recoveryCodeInvalid: () =>
    error(4060006, 'The recovery code is invalid or has already been used. Please try again.'),
  verificationFlowExpired: (expiredAgoMs: number) =>
    error(4070005, `The verification flow expired ${minutes(expiredAgoMs)} minutes ago, please try again.`),
  verificationCodeInvalid: () =>
    error(4070006, 'The verification code is invalid or has already been used. Please try again.'),
  system: (reason: string) => error(5000001, reason, { reason }),
} as const;

export const FLOW_EXPIRED_MESSAGE = {
  login: msg.loginFlowExpired,
  registration: (ago: number) => msg.registrationFlowExpired(ago),
  settings: (ago: number) => msg.settingsFlowExpired(ago),
  recovery: (ago: number) => msg.recoveryFlowExpired(ago),
  verification: (ago: number) => msg.verificationFlowExpired(ago),
} as const;

export const NO_STRATEGY_MESSAGE = {
  login: msg.loginNoStrategy,
  registration: msg.registrationNoStrategy,
  settings: msg.settingsNoStrategy,
  recovery: msg.recoveryNoStrategy,
  verification: msg.verificationNoStrategy,
} as const;

/** Kairos's own ranges (see DESIGN.md §1). Modules define their messages with these and register them below. */
export const KAIROS_INFO_RANGE = [1_900_000, 1_999_999] as const;
export const KAIROS_ERROR_RANGE = [4_900_000, 4_999_999] as const;
export const kairosInfo = (id: number, text: string, context?: Record<string, unknown>): UiText => {
  if (id < KAIROS_INFO_RANGE[0] || id > KAIROS_INFO_RANGE[1]) throw new TypeError(`info id ${id} outside Kairos range`);
  return info(id, text, context);
};
export const kairosWarning = (id: number, text: string, context?: Record<string, unknown>): UiText => {
  if (id < KAIROS_ERROR_RANGE[0] || id > KAIROS_ERROR_RANGE[1]) throw new TypeError(`error id ${id} outside Kairos range`);
  return error(id, text, context);
};

/** Hosted UI messages (Kairos ids 1900500–1900599, 4900500–4900599). */
export const hostedUiMsg = {
  enableSecondFactor: () =>
    kairosInfo(1900500, 'Protect your account with a second step: set up an authenticator app in your account settings.', {
      title: 'Turn on two-factor authentication',
      settings_url: '/ui/settings',
    }),
} as const;
