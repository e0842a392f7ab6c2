/**
 * The per-identity delay schedule for consecutive wrong second-factor codes (any method).
 *
 * - The first `freeFailures` consecutive failures cost nothing (typos, a code typed just as it rolled over).
 * - From then on each failure doubles the wait before the next code is checked: `baseDelayMs · 2^(n − free)`,
 *   capped at `maxDelayMs`. With the defaults (5 free, 2 s base, 15 min cap) the waits after failure 5, 6, 7… are
 *   2 s, 4 s, 8 s, … 512 s, then 15 min from failure 14 on.
 * - At `maxConsecutiveFailures` (NIST SP 800-63B §5.2.2: "no more than 100 consecutive failed authentication
 *   attempts on a single account") second factors are locked until account recovery or an admin unlock.
 *
 * With the defaults, reaching 100 failures takes at least about 88 × 15 min ≈ 22 hours of continuous guessing.
 */
export interface DelaySchedule {
  freeFailures: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxConsecutiveFailures: number;
}

/** NIST SP 800-63B §5.2.2: a verifier allows no more than 100 consecutive failed attempts on one account. */
export const NIST_MAX_CONSECUTIVE_FAILURES = 100;

export const DEFAULT_DELAY_SCHEDULE: Readonly<DelaySchedule> = Object.freeze({
  freeFailures: 5,
  baseDelayMs: 2_000,
  maxDelayMs: 15 * 60_000,
  maxConsecutiveFailures: NIST_MAX_CONSECUTIVE_FAILURES,
});

/** How long to wait, after the `failures`-th consecutive failure, before the next code may be checked. */
export function delayMsAfter(failures: number, schedule: DelaySchedule): number {
  if (!Number.isSafeInteger(failures) || failures < 0) throw new TypeError('failures must be a non-negative integer');
  if (failures < schedule.freeFailures) return 0;
  const exponent = failures - schedule.freeFailures;
  // 2^40 ms is beyond any sane cap; stop doubling long before floating point matters.
  if (exponent >= 40) return schedule.maxDelayMs;
  return Math.min(schedule.baseDelayMs * 2 ** exponent, schedule.maxDelayMs);
}

/** The least time an attacker needs to make `failures` consecutive wrong guesses under this schedule. */
export function minimumTimeMsFor(failures: number, schedule: DelaySchedule): number {
  let total = 0;
  for (let n = 1; n < failures; n++) total += delayMsAfter(n, schedule);
  return total;
}
