import { describe, expect, it } from 'vitest';
import type { Random } from '../support/random.js';
import {
  generateTotpSecret,
  MAX_CANDIDATE_STEPS,
  matchTotpCode,
  normalizeTotpCode,
  scanTotpCode,
  SECRET_BYTES_BY_ALGORITHM,
  timeStep,
  totpCodeAt,
  type TotpParameters,
} from './otp.js';

const SECRET = new TextEncoder().encode('12345678901234567890');
const SHA1_6_30: TotpParameters = { algorithm: 'SHA1', digits: 6, periodSeconds: 30 };
const NOW_MS = Date.UTC(2026, 10, 22, 12, 0, 10);
const NOW_STEP = timeStep(NOW_MS, 30);
const codeAtOffset = (offsetSteps: number, parameters = SHA1_6_30) => totpCodeAt(SECRET, parameters, NOW_STEP + offsetSteps);

describe('generateTotpSecret', () => {
  it('draws as many bytes as the hash output from the injected Random', () => {
    const requested: number[] = [];
    const random: Random = {
      bytes: (length) => (requested.push(length), new Uint8Array(length).fill(7)),
      uuid: () => '00000000-0000-4000-8000-000000000000',
    };
    expect(generateTotpSecret(random, 'SHA1')).toHaveLength(20);
    expect(generateTotpSecret(random, 'SHA256')).toHaveLength(32);
    expect(generateTotpSecret(random, 'SHA512')).toHaveLength(64);
    expect(requested).toEqual([20, 32, 64]);
    expect(SECRET_BYTES_BY_ALGORITHM).toEqual({ SHA1: 20, SHA256: 32, SHA512: 64 });
  });
});

describe('timeStep', () => {
  it('changes exactly at period boundaries (RFC 6238 §4.2, T0 = 0)', () => {
    expect(timeStep(29_999, 30)).toBe(0);
    expect(timeStep(30_000, 30)).toBe(1);
    expect(timeStep(59_999, 60)).toBe(0);
    expect(timeStep(60_000, 60)).toBe(1);
  });

  it('rejects a non-integer or non-positive period', () => {
    expect(() => timeStep(0, 0)).toThrow(TypeError);
    expect(() => timeStep(0, 1.5)).toThrow(TypeError);
  });
});

describe('normalizeTotpCode', () => {
  it.each([
    ['123 456', '123456'],
    ['123-456', '123456'],
    ['123\u00a0456', '123456'], // no-break space (copied from an app)
    ['123\u202f456', '123456'], // narrow no-break space
    ['\u200e123456\u200f', '123456'], // bidi marks
    ['123\u200b456', '123456'], // zero-width space
    ['123\u2013456', '123456'], // en dash
    ['123\u2212456', '123456'], // minus sign
    ['\t123456\n', '123456'],
    ['１２３４５６', '123456'], // full-width digits from an IME
  ])('%j -> %s', (input, expected) => {
    expect(normalizeTotpCode(input)).toBe(expected);
  });

  it('does not validate: letters and other punctuation survive', () => {
    expect(normalizeTotpCode('12a 4.6')).toBe('12a4.6');
  });
});

describe('matchTotpCode', () => {
  const match = (code: string, windowSteps: number, centerOffsetSteps?: number) =>
    matchTotpCode({ secret: SECRET, parameters: SHA1_6_30, code, nowMs: NOW_MS, windowSteps, centerOffsetSteps });

  it('accepts the current code with the matched step and offset 0', () => {
    expect(match(codeAtOffset(0), 0)).toEqual({ step: NOW_STEP, offsetSteps: 0 });
  });

  it('accepts codes inside the window, reporting the offset from the current step', () => {
    expect(match(codeAtOffset(-1), 1)).toEqual({ step: NOW_STEP - 1, offsetSteps: -1 });
    expect(match(codeAtOffset(1), 1)).toEqual({ step: NOW_STEP + 1, offsetSteps: 1 });
  });

  it('clock skew beyond the window: rejects codes outside it', () => {
    expect(match(codeAtOffset(-2), 1)).toBeNull();
    expect(match(codeAtOffset(2), 1)).toBeNull();
  });

  it('moves the window by centerOffsetSteps (learned drift) but still reports offsets from the current step', () => {
    expect(match(codeAtOffset(-4), 1, -3)).toEqual({ step: NOW_STEP - 4, offsetSteps: -4 });
    expect(match(codeAtOffset(0), 1, -3)).toBeNull();
  });

  it('rejects a code of the wrong length or with non-digits', () => {
    const code = codeAtOffset(0);
    expect(match(code.slice(1), 1)).toBeNull();
    expect(match(`${code}0`, 1)).toBeNull();
    expect(match(`${code.slice(0, 5)}a`, 1)).toBeNull();
    expect(match(` ${code.slice(1)}`, 1)).toBeNull();
    expect(match('１２３４５６', 1)).toBeNull();
  });

  it('takes the algorithm and digits from the parameters (a SHA1 code does not pass as SHA256)', () => {
    const sha256: TotpParameters = { algorithm: 'SHA256', digits: 6, periodSeconds: 30 };
    const sha1Code = codeAtOffset(0);
    const sha256Code = codeAtOffset(0, sha256);
    expect(sha1Code).not.toBe(sha256Code);
    expect(matchTotpCode({ secret: SECRET, parameters: sha256, code: sha1Code, nowMs: NOW_MS, windowSteps: 0 })).toBeNull();
  });

  it('misuse throws: negative window, bad parameters, empty secret', () => {
    expect(() => match(codeAtOffset(0), -1)).toThrow(TypeError);
    expect(() =>
      matchTotpCode({ secret: SECRET, parameters: { ...SHA1_6_30, digits: 7 as 6 }, code: '1234567', nowMs: NOW_MS, windowSteps: 0 }),
    ).toThrow(TypeError);
    expect(() =>
      matchTotpCode({ secret: new Uint8Array(), parameters: SHA1_6_30, code: '123456', nowMs: NOW_MS, windowSteps: 0 }),
    ).toThrow(TypeError);
  });
});

describe('scanTotpCode', () => {
  const scan = (code: string, fromOffsetSteps: number, toOffsetSteps: number) =>
    scanTotpCode({ secret: SECRET, parameters: SHA1_6_30, code, nowMs: NOW_MS, fromOffsetSteps, toOffsetSteps });

  it('finds the offset of a code from the past or the future', () => {
    expect(scan(codeAtOffset(-7), -20, 20)).toContain(-7);
    expect(scan(codeAtOffset(12), -20, 20)).toContain(12);
  });

  it('includes both ends of the range and nothing outside it', () => {
    expect(scan(codeAtOffset(-20), -20, 20)).toContain(-20);
    expect(scan(codeAtOffset(20), -20, 20)).toContain(20);
    expect(scan(codeAtOffset(21), -20, 20)).toEqual([]);
  });

  it('returns nothing for a malformed code', () => {
    expect(scan('12345', -20, 20)).toEqual([]);
    expect(scan('abcdef', -20, 20)).toEqual([]);
  });

  it('is bounded: a range above MAX_CANDIDATE_STEPS or reversed is misuse', () => {
    expect(() => scan(codeAtOffset(0), 0, MAX_CANDIDATE_STEPS)).toThrow(TypeError);
    expect(() => scan(codeAtOffset(0), 1, -1)).toThrow(TypeError);
    expect(scan(codeAtOffset(0), 0, MAX_CANDIDATE_STEPS - 1)).toContain(0);
  });
});
