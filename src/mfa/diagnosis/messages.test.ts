import { expect, it } from 'vitest';
import { HINT_IDS, hintFor } from './messages.js';
import type { Diagnosis } from './diagnose.js';

const SHA1 = { algorithm: 'SHA1', digits: 6, periodSeconds: 30 } as const;
const base = { expectedDigits: 6, actualLength: 6, offsetSteps: null, offsetSeconds: null };

it('pins the hint ids inside Kairos\'s 4900000–4900099 range', () => {
  expect(HINT_IDS).toEqual({ malformed: 4900001, replayed: 4900002, clock_skew: 4900003, previous_secret: 4900004, parameter_mismatch: 4900005, no_match: 4900006 });
});

it('no_match names the entry as enrolled and says when the issuer has changed since', () => {
  const diagnosis: Diagnosis = { cause: 'no_match', ...base };
  const changed = hintFor({ diagnosis, issuer: 'Old Brand', accountName: 'a@example.com', parameters: SHA1, currentIssuer: 'New Brand' });
  expect(changed).toMatchObject({ id: 4900006, type: 'error', context: { cause: 'no_match', issuer: 'Old Brand', account_name: 'a@example.com', issuer_changed: true, current_issuer: 'New Brand' } });
  expect(changed.text).toContain('"Old Brand (a@example.com)"');
  expect(changed.text).toContain('We are now called "New Brand"');
  const same = hintFor({ diagnosis, issuer: 'New Brand', accountName: 'a@example.com', parameters: SHA1, currentIssuer: 'New Brand' });
  expect(same.context).toMatchObject({ issuer_changed: false });
  expect(same.text).not.toContain('now called');
});

it('clock_skew ahead says "ahead" and carries the automatic-time steps', () => {
  const hint = hintFor({ diagnosis: { cause: 'clock_skew', ...base, offsetSteps: 2, offsetSeconds: 60 }, issuer: 'X', accountName: 'a', parameters: SHA1, currentIssuer: 'X' });
  expect(hint.text).toContain('about 1 minute ahead');
  expect(hint.context).toMatchObject({ direction: 'ahead', steps: { ios: 'Settings → General → Date & Time → Set automatically', android: 'Settings → System → Date & time → Automatic' } });
});
