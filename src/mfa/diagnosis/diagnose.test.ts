import { createHash } from 'node:crypto';
import { expect, it } from 'vitest';
import { encodeBase32, SECRET_BYTES_BY_ALGORITHM, type TotpAlgorithm, type TotpParameters } from '../../otp/otp.js';
import { describeWithTool } from '../../../test/support/external-tool.js';
import { oathtoolCode } from '../../../test/support/oathtool.js';
import { describeDeviceOffset, diagnoseRejectedCode, humanizeSeconds, type DiagnosisInput } from './diagnose.js';
import { nextDrift } from './drift.js';

const NOW_MS = Date.UTC(2026, 11, 1, 12, 0, 10);
const SHA1: TotpParameters = { algorithm: 'SHA1', digits: 6, periodSeconds: 30 };
const STEP = Math.floor(NOW_MS / 30_000);

function secretFor(algorithm: TotpAlgorithm, label: string): Uint8Array {
  return new Uint8Array(createHash('sha512').update(`diagnosis ${label}`).digest().subarray(0, SECRET_BYTES_BY_ALGORITHM[algorithm]));
}
const current = secretFor('SHA1', 'current');
const old = secretFor('SHA1', 'old');
const b32 = (s: Uint8Array) => encodeBase32(s);

function input(code: string, extra: Partial<DiagnosisInput> = {}, currentExtra: Partial<DiagnosisInput['current']> = {}): DiagnosisInput {
  return {
    code,
    nowMs: NOW_MS,
    current: { secret: current, parameters: SHA1, lastUsedStep: null, driftSteps: 0, ...currentExtra },
    windowSteps: 1,
    maxSkewSeconds: 600,
    previous: [{ secret: old, parameters: SHA1, enrolledAtMs: Date.UTC(2026, 5, 1), retiredAtMs: Date.UTC(2026, 10, 30), issuer: 'Old Name', accountName: 'a@example.com' }],
    ...extra,
  };
}

it('humanizes device offsets', () => {
  expect(describeDeviceOffset(-150)).toBe('about 2 minutes 30 seconds behind');
  expect(describeDeviceOffset(30)).toBe('about 30 seconds ahead');
  expect(humanizeSeconds(3660)).toBe('1 hour 1 minute');
});

it('malformed: letters, and a length no TOTP produces', () => {
  expect(diagnoseRejectedCode(input('12a456'))).toMatchObject({ cause: 'malformed', malformed: 'not_digits' });
  expect(diagnoseRejectedCode(input('12345'))).toMatchObject({ cause: 'malformed', malformed: 'too_short', expectedDigits: 6, actualLength: 5 });
  expect(diagnoseRejectedCode(input('1234567'))).toMatchObject({ cause: 'malformed', malformed: 'too_long' });
});

it('drift: the window re-centres only after consistent edge successes, and stays within max_skew', () => {
  let state = { recentOffsets: [] as number[], driftSteps: 0 };
  for (const offset of [1, 1]) state = nextDrift({ ...state, offsetSteps: offset, maxCentreSteps: 19 });
  expect(state.driftSteps).toBe(0);
  state = nextDrift({ ...state, offsetSteps: 1, maxCentreSteps: 19 });
  expect(state.driftSteps).toBe(1);
  // Mixed sides do not move it.
  for (const offset of [2, 0, 2]) state = nextDrift({ ...state, offsetSteps: offset, maxCentreSteps: 19 });
  expect(state.driftSteps).toBe(1);
  // Bounded: a centre never passes max_skew minus the window.
  let far = { recentOffsets: [] as number[], driftSteps: 1 };
  for (const offset of [2, 2, 2]) far = nextDrift({ ...far, offsetSteps: offset, maxCentreSteps: 1 });
  expect(far.driftSteps).toBe(1);
});

describeWithTool('oathtool', 'oathtool', 'diagnosis of codes computed by oathtool', () => {
  it('clock_skew: a device 2 minutes 30 seconds behind, and one 5 minutes ahead', () => {
    const behind = diagnoseRejectedCode(input(oathtoolCode(b32(current), SHA1, NOW_MS - 150_000)));
    expect(behind).toMatchObject({ cause: 'clock_skew', offsetSteps: -5, offsetSeconds: -150 });
    const ahead = diagnoseRejectedCode(input(oathtoolCode(b32(current), SHA1, NOW_MS + 300_000)));
    expect(ahead).toMatchObject({ cause: 'clock_skew', offsetSteps: 10, offsetSeconds: 300, matchedStep: STEP + 10 });
  });

  it('no_match beyond max_skew (11 minutes behind with the default 10 minutes)', () => {
    expect(diagnoseRejectedCode(input(oathtoolCode(b32(current), SHA1, NOW_MS - 660_000))).cause).toBe('no_match');
  });

  it('replayed: the code of the used step, inside the window or slid out of it', () => {
    const code = oathtoolCode(b32(current), SHA1, NOW_MS);
    expect(diagnoseRejectedCode(input(code, {}, { lastUsedStep: STEP }))).toMatchObject({ cause: 'replayed', offsetSteps: 0 });
    const later = diagnoseRejectedCode({ ...input(code, {}, { lastUsedStep: STEP }), nowMs: NOW_MS + 120_000 });
    expect(later).toMatchObject({ cause: 'replayed', offsetSteps: -4 });
  });

  it('previous_secret: a code from the old entry, even with the old entry skewed', () => {
    const d = diagnoseRejectedCode(input(oathtoolCode(b32(old), SHA1, NOW_MS - 60_000)));
    expect(d).toMatchObject({ cause: 'previous_secret', offsetSteps: -2, previousSecret: { issuer: 'Old Name' } });
  });

  it('parameter_mismatch: other algorithms, digits and periods on the current secret', () => {
    for (const detected of [
      { algorithm: 'SHA256', digits: 6, periodSeconds: 30 },
      { algorithm: 'SHA512', digits: 6, periodSeconds: 30 },
      { algorithm: 'SHA1', digits: 8, periodSeconds: 30 },
      { algorithm: 'SHA256', digits: 8, periodSeconds: 60 },
      { algorithm: 'SHA1', digits: 6, periodSeconds: 60 },
    ] as TotpParameters[]) {
      const d = diagnoseRejectedCode(input(oathtoolCode(b32(current), detected, NOW_MS)));
      expect(d.cause, JSON.stringify(detected)).toBe('parameter_mismatch');
      expect(d.detectedParameters).toEqual(detected);
    }
    // An 8-digit credential whose app ignored `digits=8`: a 6-digit code is a mismatch, not "malformed".
    const sha256x8: TotpParameters = { algorithm: 'SHA256', digits: 8, periodSeconds: 30 };
    const key = secretFor('SHA256', 'eight');
    const d = diagnoseRejectedCode({ ...input(oathtoolCode(b32(key), { ...sha256x8, digits: 6 }, NOW_MS)), current: { secret: key, parameters: sha256x8, lastUsedStep: null, driftSteps: 0 } });
    expect(d).toMatchObject({ cause: 'parameter_mismatch', detectedParameters: { algorithm: 'SHA256', digits: 6, periodSeconds: 30 } });
  });

  it('no_match: another secret entirely (wrong entry in the app)', () => {
    const other = secretFor('SHA1', 'other service');
    expect(diagnoseRejectedCode(input(oathtoolCode(b32(other), SHA1, NOW_MS))).cause).toBe('no_match');
  });

  it('a drift-centred window: a code inside the learned window is never called skew', () => {
    const code = oathtoolCode(b32(current), SHA1, NOW_MS + 60_000);
    expect(diagnoseRejectedCode(input(code, {}, { driftSteps: 1, lastUsedStep: STEP + 2 })).cause).toBe('replayed');
    expect(diagnoseRejectedCode(input(code)).cause).toBe('clock_skew');
  });
});
