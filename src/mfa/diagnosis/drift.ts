/**
 * Per-credential clock drift (RFC 6238 §6 "Resynchronization": "the validation server SHOULD record the time drift
 * of the prover"). Each accepted code's offset is recorded; when the last `DRIFT_MIN_SAMPLES` successes all sit on
 * the same side of the window's centre (at its edge, since the window accepted them), the centre moves to their
 * median. The window keeps its width (2·window + 1 steps: the total tolerance never grows) and its far edge never
 * passes `max_skew`.
 */

/** Successes kept per credential (stored as `recent_offsets`). */
export const DRIFT_KEPT_SAMPLES = 5;
/** Consecutive successes on one side before the centre moves: one early or late code is ordinary typing delay. */
export const DRIFT_MIN_SAMPLES = 3;

export function parseOffsets(stored: string | null | undefined): number[] {
  if (!stored) return [];
  return stored
    .split(',')
    .map((part) => Number(part))
    .filter((value) => Number.isSafeInteger(value));
}

export function formatOffsets(offsets: readonly number[]): string {
  return offsets.join(',');
}

export interface DriftUpdate {
  recentOffsets: number[];
  driftSteps: number;
}

/**
 * The credential's new drift after accepting a code at `offsetSteps` (matched step − server step).
 * `maxCentreSteps` = floor(max_skew / period) − window, so the window's far edge stays within max_skew.
 */
export function nextDrift(input: { recentOffsets: readonly number[]; driftSteps: number; offsetSteps: number; maxCentreSteps: number }): DriftUpdate {
  const recentOffsets = [...input.recentOffsets, input.offsetSteps].slice(-DRIFT_KEPT_SAMPLES);
  const last = recentOffsets.slice(-DRIFT_MIN_SAMPLES);
  let driftSteps = input.driftSteps;
  if (last.length === DRIFT_MIN_SAMPLES) {
    const allAbove = last.every((offset) => offset > driftSteps);
    const allBelow = last.every((offset) => offset < driftSteps);
    if (allAbove || allBelow) {
      const sorted = [...last].sort((a, b) => a - b);
      driftSteps = sorted[Math.floor(sorted.length / 2)]!;
    }
  }
  const bound = Math.max(0, input.maxCentreSteps);
  driftSteps = Math.max(-bound, Math.min(bound, driftSteps));
  return { recentOffsets, driftSteps };
}
