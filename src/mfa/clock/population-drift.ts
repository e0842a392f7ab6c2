/**
 * Detects a wrong SERVER clock from the users' side: when most recent TOTP users are off by the same amount, the
 * common factor is the server (runbook: "server is 60s behind real time → user codes are 'from the future'").
 * One user's phone being off says nothing about the server; twenty independent users agreeing does.
 *
 * Sign convention (shared with the TOTP verifier and rejection diagnosis):
 *   offsetSteps = (time step the user's code belongs to) − (server's current time step).
 *   Positive = the user's code is from the future = the user's device is ahead of the server.
 * A positive median across the population therefore means the SERVER clock is BEHIND by about that much, which is
 * also the sign of `ServerClockMonitor`'s `offsetMs` (positive = server behind), so the two can be compared directly.
 *
 * Callers must record EVERY accepted TOTP code, including offset 0, not only skewed ones: the median is only
 * meaningful over the whole population of recent users. Rejected codes that the diagnosis attributes to clock skew
 * (matched at a step outside the accepted window) are recorded too, since a server 60 s behind makes most codes
 * fall outside the window.
 *
 * Memory is bounded: one sample per identity (the latest), at most `maxIdentities` identities (oldest evicted), and
 * only samples within `windowMs` count.
 */

/** One observation, as stored in the database for `restore()`. */
export interface DriftSample {
  identityId: string;
  /** Step of the user's code minus the server's current step; positive = user's code from the future. */
  offsetSteps: number;
  /** The credential's TOTP period (steps are converted to seconds with it). */
  periodSeconds: number;
  /** When the code was checked, by the server's (injected) clock. */
  atMs: number;
}

export interface PopulationDriftOptions {
  /** Samples older than this no longer count; default 1 h. */
  windowMs?: number;
  /** Distinct identities needed before the estimator names a suspect offset; default 20. */
  minIdentities?: number;
  /** Memory cap: identities kept at most (oldest evicted); default 10 000. */
  maxIdentities?: number;
}

export interface PopulationDriftEstimate {
  /** Distinct identities with a sample inside the window. */
  identities: number;
  /** Median of the identities' offsets in seconds (0 when there are none). Positive = codes from the future. */
  medianOffsetSeconds: number;
  /**
   * How far the SERVER clock is probably BEHIND real time (negative = ahead), or null when the evidence is
   * insufficient: fewer than `minIdentities` identities, or |median| smaller than one time step.
   */
  suspectServerOffsetSeconds: number | null;
}

export const DEFAULT_DRIFT_WINDOW_MS = 60 * 60 * 1000;
/**
 * Twenty independent users: with device skews scattered around 0, the chance that a majority of them is off by a
 * full step in the same direction is negligible, while a real server skew moves all of them together.
 */
export const DEFAULT_DRIFT_MIN_IDENTITIES = 20;
export const DEFAULT_DRIFT_MAX_IDENTITIES = 10_000;

export class PopulationDriftEstimator {
  readonly windowMs: number;
  readonly minIdentities: number;
  readonly maxIdentities: number;
  /** Latest sample per identity, in the order recorded (Map keeps insertion order), so the first is the oldest. */
  private readonly latest = new Map<string, DriftSample>();
  /** Samples in `latest` per offset in seconds, and per period: the median and shortest period without a sort. */
  private readonly offsetCounts = new Map<number, number>();
  private readonly periodCounts = new Map<number, number>();

  constructor(options: PopulationDriftOptions = {}) {
    this.windowMs = options.windowMs ?? DEFAULT_DRIFT_WINDOW_MS;
    this.minIdentities = options.minIdentities ?? DEFAULT_DRIFT_MIN_IDENTITIES;
    this.maxIdentities = options.maxIdentities ?? DEFAULT_DRIFT_MAX_IDENTITIES;
    if (!(this.windowMs > 0)) throw new TypeError('windowMs must be positive');
    if (!(Number.isInteger(this.minIdentities) && this.minIdentities >= 1)) {
      throw new TypeError('minIdentities must be a positive integer');
    }
    if (!(Number.isInteger(this.maxIdentities) && this.maxIdentities >= this.minIdentities)) {
      throw new TypeError('maxIdentities must be an integer ≥ minIdentities');
    }
  }

  /** Records one observation. Throws a TypeError on a malformed sample (a programming error, not user input). */
  record(sample: DriftSample): void {
    const problem = invalidSample(sample);
    if (problem) throw new TypeError(`invalid drift sample: ${problem}`);
    this.put(sample);
  }

  /**
   * Seeds the estimator, e.g. from the samples table at startup. Malformed rows are skipped rather than stopping the
   * server. Returns how many samples were applied.
   */
  restore(samples: Iterable<DriftSample>): number {
    const valid = [...samples].filter((sample) => invalidSample(sample) === null);
    // Oldest first, so each identity ends with its latest sample and eviction order follows time.
    valid.sort((a, b) => a.atMs - b.atMs);
    for (const sample of valid) this.put(sample);
    return valid.length;
  }

  /**
   * The estimate now. Cheap enough for every accepted code (issue 12: it runs on the TOTP step's hot path): stale
   * samples are pruned from the oldest end, and the median and shortest period come from running counts per
   * distinct value (a handful: offsets are whole steps), not from sorting every identity's sample.
   */
  estimate(nowMs: number): PopulationDriftEstimate {
    this.dropOlderThan(nowMs - this.windowMs);
    const identities = this.latest.size;
    const medianOffsetSeconds = medianOfCounts(this.offsetCounts, identities);
    let shortestPeriodSeconds = Infinity;
    for (const periodSeconds of this.periodCounts.keys()) shortestPeriodSeconds = Math.min(shortestPeriodSeconds, periodSeconds);
    // "At least one step": the shortest period in use (30 s for almost everyone). Less than a step of common skew
    // is within what TOTP's ±1 window absorbs and within ordinary device and typing delay.
    const suspect = identities >= this.minIdentities && Math.abs(medianOffsetSeconds) >= shortestPeriodSeconds;
    return { identities, medianOffsetSeconds, suspectServerOffsetSeconds: suspect ? medianOffsetSeconds : null };
  }

  /** The samples currently kept (latest per identity), oldest first; for diagnostics and `kairos doctor`. */
  samples(): DriftSample[] {
    return [...this.latest.values()].map((sample) => ({ ...sample }));
  }

  /** Identities currently kept (inside or not yet pruned from the window). */
  get size(): number {
    return this.latest.size;
  }

  clear(): void {
    this.latest.clear();
    this.offsetCounts.clear();
    this.periodCounts.clear();
  }

  private put(sample: DriftSample): void {
    const existing = this.latest.get(sample.identityId);
    // Keep only the latest observation per identity, so one busy (or hostile) account counts once.
    if (existing && existing.atMs > sample.atMs) return;
    if (existing) this.remove(sample.identityId, existing); // re-inserted at the end: most recent
    const kept = { identityId: sample.identityId, offsetSteps: sample.offsetSteps, periodSeconds: sample.periodSeconds, atMs: sample.atMs };
    this.latest.set(sample.identityId, kept);
    adjust(this.offsetCounts, kept.offsetSteps * kept.periodSeconds, 1);
    adjust(this.periodCounts, kept.periodSeconds, 1);
    // Cheap pruning from the oldest end while recording; estimate() prunes by time too.
    const horizonMs = sample.atMs - this.windowMs;
    for (const [identityId, oldest] of this.latest) {
      if (oldest.atMs >= horizonMs && this.latest.size <= this.maxIdentities) break;
      this.remove(identityId, oldest);
    }
  }

  private remove(identityId: string, sample: DriftSample): void {
    this.latest.delete(identityId);
    adjust(this.offsetCounts, sample.offsetSteps * sample.periodSeconds, -1);
    adjust(this.periodCounts, sample.periodSeconds, -1);
  }

  /**
   * Drops samples older than `horizonMs` from the oldest end. `latest` is in recording order, which is time order
   * for a clock that does not go back (restore() sorts): the first sample inside the window ends the walk.
   */
  private dropOlderThan(horizonMs: number): void {
    for (const [identityId, sample] of this.latest) {
      if (sample.atMs >= horizonMs) break;
      this.remove(identityId, sample);
    }
  }
}

function adjust(counts: Map<number, number>, key: number, by: number): void {
  const next = (counts.get(key) ?? 0) + by;
  if (next === 0) counts.delete(key);
  else counts.set(key, next);
}

/** The median of `total` values given as counts per distinct value (0 when there are none). */
function medianOfCounts(counts: Map<number, number>, total: number): number {
  if (total === 0) return 0;
  const lowerIndex = (total - 1) >> 1; // the middle element, or the lower of the two middle ones
  const upperIndex = total >> 1;
  let lower: number | undefined;
  let seen = 0;
  for (const value of [...counts.keys()].sort((a, b) => a - b)) {
    seen += counts.get(value)!;
    if (lower === undefined && seen > lowerIndex) lower = value;
    if (seen > upperIndex) return (lower! + value) / 2;
  }
  return lower ?? 0;
}

function invalidSample(sample: DriftSample): string | null {
  if (typeof sample !== 'object' || sample === null) return 'not an object';
  if (typeof sample.identityId !== 'string' || sample.identityId.length === 0) return 'identityId must be non-empty';
  if (!Number.isSafeInteger(sample.offsetSteps)) return 'offsetSteps must be an integer';
  if (!(Number.isFinite(sample.periodSeconds) && sample.periodSeconds > 0)) return 'periodSeconds must be positive';
  if (!Number.isFinite(sample.atMs)) return 'atMs must be a finite number';
  return null;
}

