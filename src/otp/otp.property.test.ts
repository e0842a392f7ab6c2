import fc from 'fast-check';
import { Secret, TOTP } from 'otpauth';
import { describe, expect, it } from 'vitest';
import {
  decodeBase32,
  encodeBase32,
  matchTotpCode,
  normalizeTotpCode,
  scanTotpCode,
  timeStep,
  type TotpParameters,
} from './otp.js';
import { buildOtpauthUrl, parseOtpauthUrl } from '../credentials/totp/otpauth-url.js';

/**
 * Differential properties against otpauth's own `TOTP.generate` (the reference an authenticator app would agree
 * with), over random secrets, parameters, times and the ways people type a code.
 */

const parametersArb = fc.record({
  algorithm: fc.constantFrom('SHA1' as const, 'SHA256' as const, 'SHA512' as const),
  digits: fc.constantFrom(6 as const, 8 as const),
  periodSeconds: fc.constantFrom(15, 30, 60, 90),
});
const secretArb = fc.uint8Array({ minLength: 10, maxLength: 64 });
// From 1970 to 2100, in milliseconds.
const nowMsArb = fc.integer({ min: 0, max: Date.UTC(2100, 0, 1) });
const separatorArb = fc.constantFrom('', ' ', '-', '\u00a0', '\u202f', '\u2009', '\u2013', '\u200b', '\t');

function referenceCode(secret: Uint8Array, parameters: TotpParameters, timestampMs: number): string {
  return TOTP.generate({
    secret: new Secret({ buffer: secret.slice().buffer }),
    algorithm: parameters.algorithm,
    digits: parameters.digits,
    period: parameters.periodSeconds,
    timestamp: timestampMs,
  });
}

/** How a person might type the code: separators between digits, spaces around it. */
function typed(code: string, separators: string[]): string {
  return ` ${[...code].map((digit, index) => digit + (separators[index % separators.length] ?? '')).join('')} `;
}

describe('TOTP properties against otpauth', () => {
  it('a typed reference code, normalized, matches at offset 0', () => {
    fc.assert(
      fc.property(secretArb, parametersArb, nowMsArb, fc.array(separatorArb, { minLength: 1, maxLength: 8 }), (secret, parameters, nowMs, separators) => {
        const code = referenceCode(secret, parameters, nowMs);
        const match = matchTotpCode({ secret, parameters, code: normalizeTotpCode(typed(code, separators)), nowMs, windowSteps: 1 });
        expect(match).toEqual({ step: timeStep(nowMs, parameters.periodSeconds), offsetSteps: 0 });
      }),
    );
  });

  it('a reference code from k steps away is matched at offset k inside the window and scanned at k', () => {
    fc.assert(
      fc.property(secretArb, parametersArb, fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) }), fc.integer({ min: -3, max: 3 }), (secret, parameters, nowMs, k) => {
        const code = referenceCode(secret, parameters, nowMs + k * parameters.periodSeconds * 1000);
        const offsets = scanTotpCode({ secret, parameters, code, nowMs, fromOffsetSteps: -5, toOffsetSteps: 5 });
        expect(offsets).toContain(k);
        const inWindow = matchTotpCode({ secret, parameters, code, nowMs, windowSteps: 3 });
        // Another step showing the same code by coincidence (~10^-digits each) may win as nearer to the centre.
        if (offsets.length === 1) expect(inWindow?.offsetSteps).toBe(k);
        else expect(inWindow).not.toBeNull();
      }),
    );
  });

  it('a code with one digit changed is rejected at window 0', () => {
    fc.assert(
      fc.property(secretArb, parametersArb, nowMsArb, fc.nat(), fc.integer({ min: 1, max: 9 }), (secret, parameters, nowMs, position, delta) => {
        const code = referenceCode(secret, parameters, nowMs);
        const index = position % code.length;
        const changed = code.slice(0, index) + String((Number(code[index]) + delta) % 10) + code.slice(index + 1);
        expect(matchTotpCode({ secret, parameters, code: changed, nowMs, windowSteps: 0 })).toBeNull();
      }),
    );
  });

  it('base32 and otpauth URLs round-trip', () => {
    const nameArb = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter((name) => !name.startsWith(' '));
    fc.assert(
      fc.property(secretArb, parametersArb, nameArb, nameArb, (secret, parameters, issuer, accountName) => {
        expect(decodeBase32(encodeBase32(secret))).toEqual(secret);
        const url = buildOtpauthUrl({ issuer, accountName, secret, parameters });
        expect(parseOtpauthUrl(url)).toEqual({ issuer, accountName, secret, parameters });
      }),
    );
  });
});
