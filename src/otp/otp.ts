import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { HOTP, Secret } from 'otpauth';
import type { Random } from '../support/random.js';
import { copyToArrayBuffer } from './base32.js';
import { assertTotpParameters, SECRET_BYTES_BY_ALGORITHM, type TotpAlgorithm, type TotpParameters } from './totp-parameters.js';

/**
 * TOTP (RFC 6238) over HOTP (RFC 4226), computed by otpauth. This module adds what Kairos needs around it: typed
 * per-credential parameters, a window check that compares every candidate in constant time, and a bounded scan for
 * diagnosing rejected codes. Replay protection and attempt limits belong to the caller (the TOTP strategy).
 */

export { encodeBase32, decodeBase32 } from './base32.js';
export {
  assertTotpParameters,
  DEFAULT_TOTP_PARAMETERS,
  SECRET_BYTES_BY_ALGORITHM,
  TOTP_ALGORITHMS,
  type TotpAlgorithm,
  type TotpParameters,
} from './totp-parameters.js';

/**
 * The most time steps one `matchTotpCode` or `scanTotpCode` call computes: ±14 hours of 30-second steps, the span of
 * the world's UTC offsets, so a diagnosis can recognise a phone whose clock was set by hand in the wrong time zone.
 * One step costs one HMAC (about 4 µs for SHA-1, 5 µs for SHA-512 here), so the cap bounds a call to ~15 ms.
 */
export const MAX_CANDIDATE_STEPS = 3_361;

/** A new random secret as long as the algorithm's hash output (`SECRET_BYTES_BY_ALGORITHM`). */
export function generateTotpSecret(random: Random, algorithm: TotpAlgorithm): Uint8Array {
  const length = SECRET_BYTES_BY_ALGORITHM[algorithm];
  if (length === undefined) throw new TypeError('TOTP algorithm must be SHA1, SHA256 or SHA512');
  const secret = random.bytes(length);
  if (secret.length !== length) throw new TypeError(`Random returned ${secret.length} bytes, expected ${length}`);
  return secret;
}

/** RFC 6238 §4.2: T = floor((unix time − T0) / X) with T0 = 0; here in milliseconds. */
export function timeStep(nowMs: number, periodSeconds: number): number {
  if (!Number.isSafeInteger(periodSeconds) || periodSeconds < 1) throw new TypeError('periodSeconds must be a positive integer');
  if (!Number.isFinite(nowMs)) throw new TypeError('nowMs must be a finite number');
  return Math.floor(nowMs / (periodSeconds * 1000));
}

/** The code for one time step (RFC 6238 §4.2: HOTP with the step as counter). */
export function totpCodeAt(secret: Uint8Array, parameters: TotpParameters, step: number): string {
  return new CodeGenerator(secret, parameters).codeAt(step);
}

/**
 * What a person typed or pasted, reduced to what an authenticator displays: NFKC first (full-width digits from an
 * IME become ASCII), then every whitespace (incl. no-break and thin spaces), invisible format character (zero-width
 * space, bidi marks pasted along with a code) and dash ("123-456", "123–456") is removed. Nothing is validated here:
 * letters survive, and `matchTotpCode` rejects them.
 */
export function normalizeTotpCode(input: string): string {
  return input.normalize('NFKC').replace(/[\s\p{Cf}\p{Pd}\u2212]/gu, '');
}

export interface TotpMatchInput {
  secret: Uint8Array;
  parameters: TotpParameters;
  /** Already normalized (`normalizeTotpCode`). */
  code: string;
  nowMs: number;
  /** Steps accepted on each side of the centre (RFC 6238 §5.2 recommends at most one). */
  windowSteps: number;
  /** Shift of the window's centre from the current step, e.g. a credential's learned clock drift. Default 0. */
  centerOffsetSteps?: number;
}

export interface TotpMatch {
  /** The matched time step; the strategy stores it and refuses it (and earlier steps) next time (replay). */
  step: number;
  /** Matched step − current step: negative when the authenticator is behind the server's clock. */
  offsetSteps: number;
}

/**
 * Checks `code` against steps T+centre−window … T+centre+window (T = current step). Every candidate is computed and
 * compared with `crypto.timingSafeEqual`, and the loop does not stop at a match, so the time taken does not reveal
 * which step matched. A code of the wrong length or with non-digits returns null before any code is computed (its
 * length and form are not secret). If several steps match (about 10^-digits per extra step), the one nearest the
 * centre wins, the earlier one on a tie, so a coincidence never burns future steps for replay protection.
 */
export function matchTotpCode(input: TotpMatchInput): TotpMatch | null {
  const { parameters, code, nowMs, windowSteps } = input;
  const centerOffsetSteps = input.centerOffsetSteps ?? 0;
  if (!Number.isSafeInteger(windowSteps) || windowSteps < 0) throw new TypeError('windowSteps must be a non-negative integer');
  if (!Number.isSafeInteger(centerOffsetSteps)) throw new TypeError('centerOffsetSteps must be an integer');
  const generator = new CodeGenerator(input.secret, parameters);
  if (!isWellFormedCode(code, parameters.digits)) return null;

  const currentStep = timeStep(nowMs, parameters.periodSeconds);
  const centerStep = currentStep + centerOffsetSteps;
  const matchedSteps = generator.matchingSteps(code, centerStep - windowSteps, centerStep + windowSteps);
  let best: number | null = null;
  for (const step of matchedSteps) {
    if (best === null || Math.abs(step - centerStep) < Math.abs(best - centerStep)) best = step;
  }
  return best === null ? null : { step: best, offsetSteps: best - currentStep };
}

export interface TotpScanInput {
  secret: Uint8Array;
  parameters: TotpParameters;
  code: string;
  nowMs: number;
  /** First offset (relative to the current step) to try, e.g. −20. */
  fromOffsetSteps: number;
  /** Last offset to try, inclusive, e.g. +20. */
  toOffsetSteps: number;
}

/**
 * Every offset from the current step at which `code` matches, ascending; for diagnosing a rejected code (clock
 * skew and its size). Same constant-time comparison per candidate as `matchTotpCode`. The range is bounded by
 * `MAX_CANDIDATE_STEPS`. Cost: one HMAC per step with a key object built once per call; ±20 steps (41 HMACs) takes
 * about 0.15 ms. With 6 digits, a random code matches some step of a ±20 scan with probability about 4·10^-5.
 */
export function scanTotpCode(input: TotpScanInput): number[] {
  const { parameters, code, nowMs, fromOffsetSteps, toOffsetSteps } = input;
  if (!Number.isSafeInteger(fromOffsetSteps) || !Number.isSafeInteger(toOffsetSteps) || fromOffsetSteps > toOffsetSteps) {
    throw new TypeError('fromOffsetSteps and toOffsetSteps must be integers with from <= to');
  }
  const generator = new CodeGenerator(input.secret, parameters);
  if (!isWellFormedCode(code, parameters.digits)) return [];
  const currentStep = timeStep(nowMs, parameters.periodSeconds);
  return generator
    .matchingSteps(code, currentStep + fromOffsetSteps, currentStep + toOffsetSteps)
    .map((step) => step - currentStep);
}

function isWellFormedCode(code: string, digits: number): boolean {
  return code.length === digits && /^[0-9]+$/.test(code);
}

/**
 * One secret and parameter set, ready to compute many steps: otpauth does HOTP (counter encoding, dynamic
 * truncation, RFC 4226 §5.3) and calls back here for the HMAC, which reuses one Node KeyObject instead of importing
 * the raw key again for every step.
 */
class CodeGenerator {
  private readonly secret: Secret;
  private readonly key: KeyObject;
  private readonly hmac = (algorithm: string, _key: Uint8Array, message: Uint8Array): Uint8Array =>
    createHmac(algorithm, this.key).update(message).digest();

  constructor(
    secret: Uint8Array,
    private readonly parameters: TotpParameters,
  ) {
    assertTotpParameters(parameters);
    if (!(secret instanceof Uint8Array) || secret.length === 0) throw new TypeError('TOTP secret must be non-empty bytes');
    this.secret = new Secret({ buffer: copyToArrayBuffer(secret) });
    this.key = createSecretKey(this.secret.bytes);
  }

  codeAt(step: number): string {
    if (!Number.isSafeInteger(step) || step < 0) throw new TypeError('time step must be a non-negative integer');
    return HOTP.generate({
      secret: this.secret,
      algorithm: this.parameters.algorithm,
      digits: this.parameters.digits,
      counter: step,
      hmac: this.hmac,
    });
  }

  /** Steps in [first, last] whose code equals `code`, comparing all of them (no early exit). */
  matchingSteps(code: string, firstStep: number, lastStep: number): number[] {
    if (lastStep - firstStep + 1 > MAX_CANDIDATE_STEPS) {
      throw new TypeError(`at most ${MAX_CANDIDATE_STEPS} time steps can be checked at once`);
    }
    const submitted = Buffer.from(code, 'latin1');
    const matched: number[] = [];
    // Steps before the Unix epoch do not exist; skipping them depends only on the (public) time.
    for (let step = Math.max(firstStep, 0); step <= lastStep; step++) {
      const candidate = Buffer.from(this.codeAt(step), 'latin1');
      if (timingSafeEqual(candidate, submitted)) matched.push(step);
    }
    return matched;
  }
}
