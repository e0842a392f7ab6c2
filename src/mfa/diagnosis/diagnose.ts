/**
 * Why was a TOTP code rejected? The runbook "user insists the code is correct, the server says invalid"
 * (seeds/000) as a pure function: given the rejected code, the credential, its previous secrets and the time, it
 * names the most likely cause. It never accepts anything: the caller has already refused the code, and nothing here
 * writes or returns a code.
 *
 * Causes, in order (the first that applies wins):
 * 1. `malformed`: not digits, or a length no candidate produces (a wrong-length code that nothing matches is
 *    malformed too; a 6-digit code for an 8-digit credential that matches the 6-digit variant is a mismatch);
 * 2. `replayed`: the code of a step inside the accepted window that was already used (or refused);
 * 3. `clock_skew`: the current secret matches at an offset outside the window, up to ±`maxSkewSeconds`;
 * 4. `previous_secret`: a removed or replaced secret of this identity matches (±`maxSkewSeconds`);
 * 5. `parameter_mismatch`: the current secret matches with another algorithm, digit count or period;
 * 6. `no_match`: nothing matches (wrong entry in the app, badly scanned secret).
 *
 * Work is bounded and independent of the cause: every candidate is computed and compared in constant time
 * (`scanTotpCode`), all searches run whatever an earlier one found, and only then is the cause picked. With the
 * defaults (±10 min at 30 s, two previous secrets, 11 other parameter sets over ±1 step) that is about 160 HMACs.
 */
import {
  scanTotpCode,
  timeStep,
  TOTP_ALGORITHMS,
  type TotpAlgorithm,
  type TotpParameters,
} from '../../otp/otp.js';

export const REJECTION_CAUSES = ['malformed', 'replayed', 'clock_skew', 'previous_secret', 'parameter_mismatch', 'no_match'] as const;
export type RejectionCause = (typeof REJECTION_CAUSES)[number];

/** Periods an authenticator may use when it ignores the QR code's `period` (30 s is the Key URI default; 60 s occurs). */
export const CANDIDATE_PERIODS_SECONDS: readonly number[] = [30, 60];
/** Digit counts Kairos and authenticators support (RFC 4226 §5.3 allows 6 to 8; apps offer 6 and 8). */
export const CANDIDATE_DIGITS: readonly (6 | 8)[] = [6, 8];

export interface DiagnosisSecret {
  secret: Uint8Array;
  parameters: TotpParameters;
}

export interface PreviousSecret extends DiagnosisSecret {
  enrolledAtMs: number;
  retiredAtMs: number;
  issuer: string | null;
  accountName: string;
}

export interface DiagnosisInput {
  /** Already normalized (`normalizeTotpCode`). */
  code: string;
  nowMs: number;
  current: DiagnosisSecret & {
    lastUsedStep: number | null;
    /** Centre of the accepted window (learned drift), in steps. */
    driftSteps: number;
    /** Steps a previous diagnosis revealed and that are never accepted. */
    refusedSteps?: readonly number[];
  };
  windowSteps: number;
  /** How far the clock-skew search goes each way (`diagnostics.max_skew`). */
  maxSkewSeconds: number;
  previous?: readonly PreviousSecret[];
}

export interface Diagnosis {
  cause: RejectionCause;
  /** Matched step − server's current step (positive: the device is ahead); null when nothing matched. */
  offsetSteps: number | null;
  offsetSeconds: number | null;
  /** `malformed`: why. */
  malformed?: 'not_digits' | 'too_short' | 'too_long';
  expectedDigits: number;
  actualLength: number;
  /** `previous_secret`: which one (dates only). */
  previousSecret?: { enrolledAtMs: number; retiredAtMs: number; issuer: string | null; accountName: string };
  /** `parameter_mismatch`: the parameters the code was generated with. */
  detectedParameters?: TotpParameters;
  /** `clock_skew`: the matched step (for refusing it later if it lies in the future). */
  matchedStep?: number;
}

interface Found {
  offsetSteps: number;
  periodSeconds: number;
}

/** The match nearest to offset 0 (ties: the past one), or null. */
function nearest(offsets: number[], periodSeconds: number): Found | null {
  let best: number | null = null;
  for (const offset of offsets) {
    if (best === null || Math.abs(offset) < Math.abs(best) || (Math.abs(offset) === Math.abs(best) && offset < best)) best = offset;
  }
  return best === null ? null : { offsetSteps: best, periodSeconds };
}

export function diagnoseRejectedCode(input: DiagnosisInput): Diagnosis {
  const { code, nowMs, current, windowSteps } = input;
  const expectedDigits = current.parameters.digits;
  const base = { expectedDigits, actualLength: code.length };
  const digitsOnly = /^[0-9]+$/.test(code);
  if (!digitsOnly) return { cause: 'malformed', malformed: 'not_digits', offsetSteps: null, offsetSeconds: null, ...base };
  const lengthProblem = code.length < expectedDigits ? 'too_short' : code.length > expectedDigits ? 'too_long' : null;
  if (!(CANDIDATE_DIGITS as readonly number[]).includes(code.length)) {
    return { cause: 'malformed', malformed: lengthProblem ?? 'too_short', offsetSteps: null, offsetSeconds: null, ...base };
  }

  // Every search runs (bounded, constant time per candidate); the cause is picked afterwards.
  const period = current.parameters.periodSeconds;
  const skewSteps = Math.max(windowSteps, Math.floor(input.maxSkewSeconds / period));
  const currentStep = timeStep(nowMs, period);
  const currentOffsets = scanTotpCode({ secret: current.secret, parameters: current.parameters, code, nowMs, fromOffsetSteps: -skewSteps, toOffsetSteps: skewSteps });
  const lowEdge = current.driftSteps - windowSteps;
  const highEdge = current.driftSteps + windowSteps;
  const inWindow = currentOffsets.filter((offset) => offset >= lowEdge && offset <= highEdge);
  const usedStep = current.lastUsedStep;
  const refused = new Set(current.refusedSteps ?? []);
  const usedOutside = currentOffsets.filter((offset) => (usedStep !== null && currentStep + offset === usedStep) || refused.has(currentStep + offset));
  const outside = currentOffsets.filter((offset) => offset < lowEdge || offset > highEdge);

  const previousFound: { found: Found; previous: PreviousSecret }[] = [];
  for (const previous of input.previous ?? []) {
    const previousSkew = Math.max(windowSteps, Math.floor(input.maxSkewSeconds / previous.parameters.periodSeconds));
    const offsets = scanTotpCode({ secret: previous.secret, parameters: previous.parameters, code, nowMs, fromOffsetSteps: -previousSkew, toOffsetSteps: previousSkew });
    const found = nearest(offsets, previous.parameters.periodSeconds);
    if (found) previousFound.push({ found, previous });
  }

  let mismatch: { found: Found; parameters: TotpParameters } | null = null;
  const mismatchSteps = Math.max(windowSteps, 1);
  for (const algorithm of TOTP_ALGORITHMS as readonly TotpAlgorithm[]) {
    for (const digits of CANDIDATE_DIGITS) {
      for (const periodSeconds of new Set([...CANDIDATE_PERIODS_SECONDS, period])) {
        const parameters: TotpParameters = { algorithm, digits, periodSeconds };
        if (algorithm === current.parameters.algorithm && digits === expectedDigits && periodSeconds === period) continue;
        const offsets = scanTotpCode({ secret: current.secret, parameters, code, nowMs, fromOffsetSteps: -mismatchSteps, toOffsetSteps: mismatchSteps });
        const found = nearest(offsets, periodSeconds);
        if (found && !mismatch) mismatch = { found, parameters };
      }
    }
  }

  const result = (cause: RejectionCause, found: Found | null, extra: Partial<Diagnosis> = {}): Diagnosis => ({
    cause,
    offsetSteps: found ? found.offsetSteps : null,
    offsetSeconds: found ? found.offsetSteps * found.periodSeconds : null,
    ...base,
    ...extra,
  });

  if (inWindow.length > 0) return result('replayed', nearest(inWindow, period));
  if (usedOutside.length > 0) return result('replayed', nearest(usedOutside, period));
  const skew = nearest(outside, period);
  if (skew) return result('clock_skew', skew, { matchedStep: currentStep + skew.offsetSteps });
  // The most recently retired entry first: it is the one most likely still in the app.
  previousFound.sort((a, b) => b.previous.retiredAtMs - a.previous.retiredAtMs);
  const previous = previousFound[0];
  if (previous) {
    const { enrolledAtMs, retiredAtMs, issuer, accountName } = previous.previous;
    return result('previous_secret', previous.found, { previousSecret: { enrolledAtMs, retiredAtMs, issuer, accountName } });
  }
  if (mismatch) return result('parameter_mismatch', mismatch.found, { detectedParameters: mismatch.parameters });
  if (lengthProblem) return result('malformed', null, { malformed: lengthProblem });
  return result('no_match', null);
}

/** "2 minutes 30 seconds", "1 hour 5 minutes", "30 seconds". */
export function humanizeSeconds(totalSeconds: number): string {
  let rest = Math.round(Math.abs(totalSeconds));
  const parts: string[] = [];
  const unit = (n: number, name: string) => `${n} ${name}${n === 1 ? '' : 's'}`;
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  const seconds = rest - minutes * 60;
  if (hours) parts.push(unit(hours, 'hour'));
  if (minutes) parts.push(unit(minutes, 'minute'));
  if (seconds || parts.length === 0) parts.push(unit(seconds, 'second'));
  return parts.join(' ');
}

/** "about 2 minutes 30 seconds behind" / "about 30 seconds ahead" (sign as `offsetSeconds`). */
export function describeDeviceOffset(offsetSeconds: number): string {
  return `about ${humanizeSeconds(offsetSeconds)} ${offsetSeconds < 0 ? 'behind' : 'ahead'}`;
}
