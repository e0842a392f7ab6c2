import { describe, expect, it } from 'vitest';
import { matchTotpCode, totpCodeAt, type TotpParameters } from '../../src/otp/otp.js';

/**
 * RFC 4226 Appendix D: HOTP-SHA1, 6 digits, secret "12345678901234567890", counters 0..9. TOTP is HOTP with the
 * time step as counter (RFC 6238 §4.2), so a step here is the RFC's counter.
 */
const SECRET = new TextEncoder().encode('12345678901234567890');
const PARAMETERS: TotpParameters = { algorithm: 'SHA1', digits: 6, periodSeconds: 30 };
const APPENDIX_D = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];

describe('RFC 4226 Appendix D (HOTP test values)', () => {
  APPENDIX_D.forEach((expected, counter) => {
    it(`counter ${counter} gives ${expected}`, () => {
      expect(totpCodeAt(SECRET, PARAMETERS, counter)).toBe(expected);
    });

    it(`counter ${counter}: ${expected} is accepted at that step and only there`, () => {
      const nowMs = counter * PARAMETERS.periodSeconds * 1000;
      expect(matchTotpCode({ secret: SECRET, parameters: PARAMETERS, code: expected, nowMs, windowSteps: 0 })).toEqual({
        step: counter,
        offsetSteps: 0,
      });
      const nextStepMs = nowMs + PARAMETERS.periodSeconds * 1000;
      expect(
        matchTotpCode({ secret: SECRET, parameters: PARAMETERS, code: expected, nowMs: nextStepMs, windowSteps: 0 }),
      ).toBeNull();
    });
  });
});
