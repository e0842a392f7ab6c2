/**
 * WebAuthn messages: Kratos's ids where Kratos has the message (`text/id.go`, texts from `text/message_*.go`), and
 * Kairos's own in 1900600–1900699 (info) and 4900600–4900699 (errors). Never reuse an id.
 */
import { kairosInfo, kairosWarning, type UiText } from '../../ui/messages.js';
import type { WebAuthnRejectionCause } from './diagnosis.js';

const info = (id: number, text: string, context?: Record<string, unknown>): UiText => (context ? { id, text, type: 'info', context } : { id, text, type: 'info' });
const error = (id: number, text: string, context?: Record<string, unknown>): UiText => (context ? { id, text, type: 'error', context } : { id, text, type: 'error' });

/** Kratos's messages. */
export const webauthnKratosMsg = {
  loginWebAuthn: () => info(1010008, 'Sign in with hardware key'),
  loginContinueWebAuthn: () => info(1010011, 'Continue with hardware key'),
  settingsRegister: () => info(1050012, 'Add security key'),
  settingsRegisterDisplayName: () => info(1050013, 'Name of the security key'),
  settingsRemove: (name: string, addedAtMs: number) =>
    info(1050018, `Remove security key "${name}"`, { display_name: name, added_at: new Date(addedAtMs).toISOString(), added_at_unix: Math.floor(addedAtMs / 1000) }),
  /** Passwordless: the identifier step passed; the key step follows. */
  loginPasswordlessPrepare: () => info(1010012, 'Prepare your WebAuthn device (e.g. security key, biometrics scanner, ...) and press continue.'),
  registration: () => info(1040004, 'Sign up with security key'),
  noWebAuthnDevice: () => error(4000013, 'You have no WebAuthn device set up.'),
  /** Passwordless: no identity with this identifier, or none of its keys signs in on its own. */
  noSuchWebAuthnUser: () => error(4000015, 'This account does not exist or has no security key set up.'),
  webAuthnVerifierWrong: () => error(4000043, 'The WebAuthn credential could not be verified. Please try again.'),
} as const;

const HINTS: Record<WebAuthnRejectionCause, { text: string; steps?: string[] }> = {
  malformed: { text: 'The answer from your browser could not be read. Reload the page and try the key again.' },
  challenge_mismatch: { text: 'This answer belongs to an older page. Reload the page and touch your key again.' },
  timeout: { text: 'The key answered too late: the request had expired. Try again and touch your key when it blinks.' },
  origin_mismatch: {
    text: 'Your key answered a page on another web address than this service expects. Open the sign-in page from the address you normally use.',
  },
  rp_id_mismatch: {
    text: 'This key answered for another website (a different domain). Security keys only work on the site they were registered on; use a key registered here, or another second factor.',
  },
  unknown_key: {
    text: 'This key is not registered for your account (it may have been removed, or belong to another account). Use one of your registered keys, or another second factor.',
  },
  user_verification: {
    text: 'Your key did not verify you (PIN or fingerprint) and this service requires it. Set a PIN on the key, or use another second factor.',
  },
  cloned_key: {
    text: 'This key reported a use count lower than before, which is what a copied key does. It was refused; if it is really yours, sign in with another second factor and remove it.',
  },
  bad_signature: { text: 'The key\'s signature did not match. Try again; if it keeps failing, use another second factor.' },
  not_allowed: {
    text: 'Your browser got no answer from a key: the request was cancelled or timed out, or none of your keys is registered for this site. Try again and touch the key when it blinks, or use another second factor.',
  },
  wrong_domain: { text: 'Your browser refused because this page is not on the domain your keys are registered for. Open the sign-in page from the address you normally use.' },
};

/** Kairos's WebAuthn messages. */
export const webauthnMsg = {
  /** Why a key was rejected (4900600–4900609, one id per cause, `context.cause`). */
  rejected: (cause: WebAuthnRejectionCause, context: Record<string, unknown> = {}) => {
    const ids: Record<WebAuthnRejectionCause, number> = {
      malformed: 4900600,
      challenge_mismatch: 4900601,
      timeout: 4900602,
      origin_mismatch: 4900603,
      rp_id_mismatch: 4900604,
      unknown_key: 4900605,
      user_verification: 4900606,
      cloned_key: 4900607,
      bad_signature: 4900608,
      not_allowed: 4900609,
      wrong_domain: 4900615,
    };
    const hint = HINTS[cause];
    return kairosWarning(ids[cause], hint.text, { cause, title: 'Why your security key was not accepted', ...context });
  },
  /** Keys registered under an RP ID that is no longer the configured one cannot answer here. */
  strandedKeys: (names: string[], registeredRpIds: string[], currentRpId: string) =>
    kairosWarning(
      4900610,
      `${names.length === 1 ? `The key "${names[0]}" was` : `${names.length} of your keys were`} registered for ${registeredRpIds.join(', ')}, but this service now uses ${currentRpId}. Browsers only offer a key to the site it was registered for, so ${names.length === 1 ? 'it' : 'they'} cannot be used here. Use another second factor, then register the key again.`,
      { keys: names, registered_rp_ids: registeredRpIds, rp_id: currentRpId, title: 'Some keys cannot be used here' },
    ),
  alreadyRegistered: () => kairosWarning(4900611, 'This security key is already registered for your account.'),
  nameTooLong: (max: number) => kairosWarning(4900612, `The name of the key can have at most ${max} characters.`, { max_length: max }),
  removeNeedsAal2: () =>
    kairosWarning(4900613, 'Removing a security key needs a sign-in with a second factor in this session. Sign in again with your second factor, then remove the key.'),
  keyNotFound: () => kairosWarning(4900614, 'This security key does not exist (it may have been removed already).'),
  registered: (name: string) => kairosInfo(1900600, `Security key "${name}" added.`, { display_name: name }),
  saveCodesFirst: () =>
    kairosInfo(1900601, 'Your security key works. Save these backup recovery codes, then confirm to finish adding the key.', {
      title: 'One more step: your backup codes',
    }),
  /** The key list in settings: one line per key with its dates (`context.keys`). */
  keyList: (keys: { name: string; createdAtMs: number; lastUsedAtMs: number | null }[]) =>
    kairosInfo(
      1900602,
      keys.map((k) => `${k.name}: added ${new Date(k.createdAtMs).toISOString().slice(0, 10)}, ${k.lastUsedAtMs === null ? 'never used' : `last used ${new Date(k.lastUsedAtMs).toISOString().slice(0, 10)}`}`).join('; '),
      {
        keys: keys.map((k) => ({
          display_name: k.name,
          added_at: new Date(k.createdAtMs).toISOString(),
          last_used_at: k.lastUsedAtMs === null ? null : new Date(k.lastUsedAtMs).toISOString(),
        })),
      },
    ),
} as const;
