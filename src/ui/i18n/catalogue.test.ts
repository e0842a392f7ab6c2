import { describe, expect, it } from 'vitest';
import { parse, type MessageFormatElement } from '@formatjs/icu-messageformat-parser';
import { CATALOGUES, pickLanguage, SHIPPED_LANGUAGES, translator, type Language } from './catalogue.js';
import { en } from './en.js';
import { KAIROS_ERROR_RANGE, KAIROS_INFO_RANGE, msg, hostedUiMsg, type UiText } from '../messages.js';
import { lookupMsg } from '../../credentials/lookup-secret/messages.js';
import { codeMsg } from '../../credentials/code/messages.js';
import { recoveryMsg } from '../../recovery/messages.js';
import { lockoutMessages } from '../../mfa/attempts/messages.js';
import { hintFor } from '../../mfa/diagnosis/messages.js';
import { policyMsg } from '../../mfa/policy/messages.js';
import { webauthnKratosMsg, webauthnMsg } from '../../credentials/webauthn/messages.js';
import { passkeyKratosMsg, passkeyMsg } from '../../credentials/passkey/strategy.js';
import { codeMfaKratosMsg, codeMfaMsg, type CodeRejectionCause } from '../../credentials/code/mfa.js';
import type { WebAuthnRejectionCause } from '../../credentials/webauthn/diagnosis.js';

/** `name:kind` of every placeholder, nested ones (inside plural and select branches) included. */
function placeholders(text: string): string[] {
  const found = new Set<string>();
  const walk = (elements: MessageFormatElement[]) => {
    for (const e of elements) {
      // 0 literal, 7 pound: not placeholders. 1 argument, 2 number, 3 date, 4 time, 5 select, 6 plural.
      if (e.type === 0 || e.type === 7 || e.type === 8) continue;
      found.add(`${e.value}:${e.type}`);
      if (e.type === 5 || e.type === 6) for (const option of Object.values(e.options)) walk(option.value);
    }
  };
  walk(parse(text));
  return [...found].sort();
}

const keys = Object.keys(en);
const now = Date.UTC(2026, 11, 4, 16, 0);

describe('message catalogue', () => {
  it('every key of English exists in every shipped language, and no language has a key English lacks', () => {
    for (const language of SHIPPED_LANGUAGES) {
      expect(Object.keys(CATALOGUES[language]).sort(), language).toEqual([...keys].sort());
      for (const key of keys) expect(CATALOGUES[language][key as keyof typeof en].trim(), `${language} ${key}`).not.toBe('');
    }
  });

  it('every translation has the same placeholders (names and kinds) as the English text, and parses', () => {
    const mismatches: string[] = [];
    for (const key of keys) {
      const expected = placeholders(en[key as keyof typeof en]);
      for (const language of SHIPPED_LANGUAGES) {
        const actual = placeholders(CATALOGUES[language][key as keyof typeof en]);
        if (JSON.stringify(actual) !== JSON.stringify(expected)) mismatches.push(`${language} ${key}: ${actual.join(',')} != ${expected.join(',')}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('numeric ids are message ids: Kratos ids (1xxxxxx, 4xxxxxx, 5xxxxxx) or in Kairos\'s ranges, each once', () => {
    const ids = keys.filter((k) => /^\d+$/.test(k)).map(Number);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      const kairos = (id >= KAIROS_INFO_RANGE[0] && id <= KAIROS_INFO_RANGE[1]) || (id >= KAIROS_ERROR_RANGE[0] && id <= KAIROS_ERROR_RANGE[1]);
      expect(kairos || (id >= 1_000_000 && id < 1_900_000) || (id >= 4_000_000 && id < 4_900_000) || (id >= 5_000_000 && id < 6_000_000), String(id)).toBe(true);
    }
  });

  const samples: UiText[] = [
    ...Object.values(msg).map((f) => {
      const call = f as (...a: unknown[]) => UiText;
      for (const args of [['x', 3, 5], [3 * 60_000, now], [['string'], 'number']]) {
        try {
          return call(...args);
        } catch {
          // another signature
        }
      }
      throw new Error(`no sample arguments for ${f.name}`);
    }),
    msg.minLength(6, 5),
    msg.maxLength(10, 12),
    msg.invalidFormat('email', 'nope'),
    msg.passwordMinLength(8, 5),
    msg.settingsLookupSecretUsed(now),
    msg.recoverySuccessful(15 * 60_000),
    lookupMsg.codesRemaining(1),
    lookupMsg.codesRemaining(9),
    lookupMsg.codesLow(2, '/ui/settings'),
    lookupMsg.codesExhausted('/ui/settings'),
    lookupMsg.acknowledgeLabel(),
    lookupMsg.totpVerifiedSaveCodes(),
    lookupMsg.downloadLabel(),
    lookupMsg.printLabel(),
    lookupMsg.codeUnused(4),
    lookupMsg.codesPendingHint(),
    lookupMsg.codesStatus(9, 12),
    lookupMsg.acknowledgeRequired(),
    lookupMsg.disableRefused(),
    ...Object.values(codeMsg).map((f) => (f as (...a: unknown[]) => UiText)('me@example.com', 'flow-id')),
    codeMsg.tooManyCodesRequested(30),
    codeMsg.recoveryAddressLimit(5),
    recoveryMsg.mfaResetExplained(now + 72 * 3_600_000, 72 * 3_600_000, true),
    recoveryMsg.mfaResetExplained(now + 72 * 3_600_000, 72 * 3_600_000, false),
    recoveryMsg.enrollAgain(),
    recoveryMsg.mfaResetCancelledPage(),
    recoveryMsg.mfaResetAlreadyClosed(),
    recoveryMsg.tooManyAttempts(),
    recoveryMsg.noPasswordWait(now),
    recoveryMsg.mfaResetCancelled(),
    lockoutMessages.delayed(now + 30_000, now),
    lockoutMessages.flowBudgetUsed(),
    lockoutMessages.locked(now),
    hostedUiMsg.enableSecondFactor(),
    policyMsg.graceUntil(now + 7 * 86_400_000, null, '/ui/settings', 'admins'),
    policyMsg.graceUntil(now + 7 * 86_400_000, 2, '/ui/settings', 'admins'),
    policyMsg.graceLogins(0, '/ui/settings', 'admins'),
    policyMsg.graceLogins(3, '/ui/settings', 'admins'),
    policyMsg.enrollmentRequired('/ui/settings', 'admins'),
    policyMsg.methodNotAllowed('totp', ['webauthn', 'passkey'], 'admins'),
    policyMsg.allowedMethods(['webauthn', 'lookup_secret'], 'admins'),
    policyMsg.deviceRemembered(now + 30 * 86_400_000),
    policyMsg.forgetDevice({ id: 'd', browser: 'Firefox on Linux', createdAtMs: now, expiresAtMs: now + 86_400_000 }),
    policyMsg.forgetAllDevices(),
    policyMsg.devicesExplained(),
    policyMsg.devicesForgotten(1),
    policyMsg.devicesForgotten(2),
    policyMsg.deviceUnknown(),
    recoveryMsg.mfaResetConfirmCancel(now),
    // Security keys, passkeys and codes as a second factor (the factor pages).
    ...Object.values(webauthnKratosMsg).map((f) => (f as (...a: unknown[]) => UiText)('YubiKey', now)),
    ...(['malformed', 'challenge_mismatch', 'timeout', 'origin_mismatch', 'rp_id_mismatch', 'unknown_key', 'user_verification', 'cloned_key', 'bad_signature', 'not_allowed', 'wrong_domain'] as WebAuthnRejectionCause[]).map((c) => webauthnMsg.rejected(c)),
    webauthnMsg.strandedKeys(['YubiKey'], ['old.example.com'], 'example.com'),
    webauthnMsg.strandedKeys(['YubiKey', 'Backup'], ['old.example.com'], 'example.com'),
    webauthnMsg.alreadyRegistered(),
    webauthnMsg.nameTooLong(64),
    webauthnMsg.removeNeedsAal2(),
    webauthnMsg.keyNotFound(),
    webauthnMsg.registered('YubiKey'),
    webauthnMsg.saveCodesFirst(),
    webauthnMsg.keyList([{ name: 'YubiKey', createdAtMs: now, lastUsedAtMs: null }, { name: 'Backup', createdAtMs: now, lastUsedAtMs: now }]),
    ...Object.values(passkeyKratosMsg).map((f) => (f as (...a: unknown[]) => UiText)('Phone', now)),
    passkeyMsg.lastSignInMethod(),
    ...Object.values(codeMfaKratosMsg).map((f) => (f as (...a: unknown[]) => UiText)('me@example.com')),
    ...(['invalid', 'expired', 'used', 'exhausted', 'none', 'other_address'] as CodeRejectionCause[]).map((c) => codeMfaMsg.rejected(c)),
    codeMfaMsg.tooManySends(90_000),
    codeMfaMsg.sentTo('m•••@example.com'),
  ];
  const parameters = { algorithm: 'SHA1', digits: 6, periodSeconds: 30 } as const;
  const facts = { issuer: 'Acme', accountName: 'me@example.com', parameters, currentIssuer: 'Acme Cloud' };
  const base = { offsetSteps: 0, offsetSeconds: 0, expectedDigits: 6, actualLength: 6 };
  const hints: UiText[] = [
    hintFor({ ...facts, diagnosis: { ...base, cause: 'malformed', malformed: 'not_digits' } as never }),
    hintFor({ ...facts, diagnosis: { ...base, cause: 'malformed', malformed: 'length', actualLength: 5 } as never }),
    hintFor({ ...facts, diagnosis: { ...base, cause: 'replayed' } as never }),
    hintFor({ ...facts, diagnosis: { ...base, cause: 'clock_skew', offsetSteps: 6, offsetSeconds: 180 } as never }),
    hintFor({ ...facts, diagnosis: { ...base, cause: 'previous_secret', previousSecret: { issuer: 'Acme', accountName: 'me@example.com', enrolledAtMs: now - 86_400_000, retiredAtMs: now } } as never }),
    hintFor({ ...facts, diagnosis: { ...base, cause: 'parameter_mismatch', detectedParameters: { algorithm: 'SHA256', digits: 8, periodSeconds: 60 } } as never }),
    hintFor({ ...facts, diagnosis: { ...base, cause: 'no_match' } as never }),
  ];

  it.each(SHIPPED_LANGUAGES)('every message a module builds has a %s text, formatted from its own context (no English fallback)', (language: Language) => {
    const t = translator(language);
    const missing: string[] = [];
    for (const m of [...samples, ...hints]) {
      if (m.id === 1050015) continue; // the codes list: rendered from its `context.secrets`, never as text
      if (!t.knows(m.id)) missing.push(`${m.id} unknown`);
      else if (language !== 'en' && t.message(m) === m.text && !/^\{\w+\}$/.test(en[String(m.id) as keyof typeof en])) missing.push(`${m.id} fell back to English`);
      else if (/\{|\}/.test(t.message(m))) missing.push(`${m.id} left a placeholder`);
    }
    expect(missing).toEqual([]);
  });

  it('MFA policy messages name the methods and the deadline in the reader\'s language', () => {
    const refused = policyMsg.methodNotAllowed('totp', ['webauthn', 'passkey'], 'admins');
    expect(translator('en').message(refused)).toBe('Authenticator app is not allowed for your account. You can use: Security key, Passkey.');
    expect(translator('de').message(refused)).toContain('Sicherheitsschlüssel');
    expect(translator('en').message(policyMsg.graceUntil(now, 2, '/ui/settings', 'r'))).toBe(
      'Your account needs a second sign-in step. Set one up by Dec 4, 2026, 04:00 PM UTC (or within 2 more sign-ins, whichever comes first): after that, you will have to set it up before you can continue.',
    );
    expect(translator('en').message(policyMsg.graceUntil(now, null, '/ui/settings', 'r'))).not.toContain('sign-ins');
  });

  it('plural forms and dates come from Intl in the reader\'s language', () => {
    expect(translator('en').message(lookupMsg.codesRemaining(1))).toBe('You used a backup code. 1 code remains.');
    expect(translator('en').message(lookupMsg.codesRemaining(9))).toBe('You used a backup code. 9 codes remain.');
    expect(translator('de').message(lookupMsg.codesRemaining(1))).toContain('1 Code ist noch übrig.');
    expect(translator('de').message(lookupMsg.codesRemaining(9))).toContain('9 Codes sind noch übrig.');
    const used = msg.settingsLookupSecretUsed(now);
    expect(translator('en').message(used)).toBe('Used Dec 4, 2026, 04:00 PM UTC');
    expect(translator('de').message(used)).toBe('Verwendet am 4. Dez. 2026, 16:00 UTC');
    expect(translator('de').message(hints[3]!)).toContain('etwa 3 Minuten vor');
    const keys = webauthnMsg.keyList([{ name: 'YubiKey', createdAtMs: now, lastUsedAtMs: null }, { name: 'Backup', createdAtMs: now - 86_400_000, lastUsedAtMs: now }]);
    expect(translator('de').message(keys)).toBe('YubiKey: hinzugefügt am 4. Dez. 2026, noch nicht verwendet; Backup: hinzugefügt am 3. Dez. 2026, zuletzt verwendet am 4. Dez. 2026');
    expect(translator('en').message(webauthnMsg.strandedKeys(['A', 'B'], ['old.example'], 'new.example'))).toContain('2 of your keys (“A”, “B”) were registered for old.example');
    expect(translator('de').message(codeMfaMsg.tooManySends(90_000))).toContain('in 2 Minuten erneut');
    expect(translator('en').message(hints[3]!)).toContain('about 3 minutes ahead');
  });

  it('human validator texts replace the raw ones, and the API text stays Kratos\'s', () => {
    const m = msg.minLength(6, 5);
    expect(m.text).toBe('length must be >= 6, but got 5');
    expect(translator('en').message(m)).toBe('Enter at least 6 characters.');
    expect(translator('en').message(msg.settingsUnlinkTotp())).toBe('Remove authenticator app');
    expect(translator('en').message(msg.recoverySuccessful(900_000))).not.toMatch(/social/i);
  });

  it('an unknown id or a context without the needed value falls back to the message\'s own text', () => {
    expect(translator('de').message({ id: 1999999, text: 'new module text', type: 'info' })).toBe('new module text');
    expect(translator('de').message({ id: 1900209, text: '9 of 12', type: 'info' })).toBe('9 of 12');
  });

  it('picks the language: the switcher\'s cookie, else Accept-Language among ui.languages, else the first offered', () => {
    expect(pickLanguage(['en', 'de'], { acceptLanguage: 'de-AT,de;q=0.9,en;q=0.5' })).toBe('de');
    expect(pickLanguage(['en', 'de'], { acceptLanguage: 'fr-FR, en;q=0.5' })).toBe('en');
    expect(pickLanguage(['de', 'en'], { acceptLanguage: 'fr-FR' })).toBe('de');
    expect(pickLanguage(['en', 'de'], { acceptLanguage: 'de', cookie: 'en' })).toBe('en');
    expect(pickLanguage(['en'], { acceptLanguage: 'de', cookie: 'de' })).toBe('en');
    expect(pickLanguage(['en', 'de'], { acceptLanguage: ';;;,*' })).toBe('en');
  });
});
