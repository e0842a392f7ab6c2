import { describe, expect, it } from 'vitest';
import {
  matchTotpCode,
  timeStep,
  totpCodeAt,
  type TotpAlgorithm,
  type TotpParameters,
} from '../../src/otp/otp.js';

/**
 * RFC 6238 Appendix B: 8 digits, X = 30 s, T0 = 0. The reference implementation uses a seed as long as each hash's
 * output: the ASCII digits "1234567890" repeated to 20, 32 and 64 bytes.
 */
const SEEDS: Record<TotpAlgorithm, Uint8Array> = {
  SHA1: ascii('12345678901234567890'),
  SHA256: ascii('12345678901234567890123456789012'),
  SHA512: ascii('1234567890123456789012345678901234567890123456789012345678901234'),
};

/** [time in seconds, T as in the table, SHA1, SHA256, SHA512]. */
const APPENDIX_B: Array<[number, number, string, string, string]> = [
  [59, 0x1, '94287082', '46119246', '90693936'],
  [1111111109, 0x23523ec, '07081804', '68084774', '25091201'],
  [1111111111, 0x23523ed, '14050471', '67062674', '99943326'],
  [1234567890, 0x273ef07, '89005924', '91819424', '93441116'],
  [2000000000, 0x3f940aa, '69279037', '90698825', '38618901'],
  [20000000000, 0x27bc86aa, '65353130', '77737706', '47863826'],
];

describe('RFC 6238 Appendix B (TOTP test values)', () => {
  for (const [timeSeconds, expectedStep, ...codes] of APPENDIX_B) {
    it(`T = floor(${timeSeconds} / 30) = 0x${expectedStep.toString(16).toUpperCase()}`, () => {
      expect(timeStep(timeSeconds * 1000, 30)).toBe(expectedStep);
    });

    (['SHA1', 'SHA256', 'SHA512'] as const).forEach((algorithm, index) => {
      const expected = codes[index]!;
      const parameters: TotpParameters = { algorithm, digits: 8, periodSeconds: 30 };
      it(`${timeSeconds} s, ${algorithm}: ${expected}`, () => {
        const nowMs = timeSeconds * 1000;
        expect(totpCodeAt(SEEDS[algorithm], parameters, timeStep(nowMs, 30))).toBe(expected);
        expect(matchTotpCode({ secret: SEEDS[algorithm], parameters, code: expected, nowMs, windowSteps: 0 })).toEqual({
          step: expectedStep,
          offsetSteps: 0,
        });
      });
    });
  }

  it('seed lengths are the hash output lengths (20, 32, 64 bytes)', () => {
    expect([SEEDS.SHA1.length, SEEDS.SHA256.length, SEEDS.SHA512.length]).toEqual([20, 32, 64]);
  });
});

function ascii(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
