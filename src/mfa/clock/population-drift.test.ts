import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PopulationDriftEstimator, type DriftSample } from './population-drift.js';

const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);
const MINUTE_MS = 60_000;

/** Deterministic PRNG (mulberry32) so "random" populations are the same on every run. */
function seededInts(seed: number, min: number, max: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const unit = ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    return min + Math.floor(unit * (max - min + 1));
  };
}

function sample(i: number, offsetSteps: number, atMs = T0, periodSeconds = 30): DriftSample {
  return { identityId: `identity-${i}`, offsetSteps, periodSeconds, atMs };
}

describe('PopulationDriftEstimator', () => {
  it('50 identities all one step in the future → server suspected ~30 s behind', () => {
    const estimator = new PopulationDriftEstimator();
    for (let i = 0; i < 50; i += 1) estimator.record(sample(i, +1, T0 + i * 1000));
    expect(estimator.estimate(T0 + MINUTE_MS)).toEqual({
      identities: 50,
      medianOffsetSeconds: 30,
      suspectServerOffsetSeconds: 30,
    });
  });

  it('a server 60 s behind is found through scattered device skew (runbook case)', () => {
    const estimator = new PopulationDriftEstimator();
    const deviceSkew = seededInts(7, -1, 1);
    for (let i = 0; i < 40; i += 1) estimator.record(sample(i, 2 + deviceSkew(), T0));
    expect(estimator.estimate(T0).suspectServerOffsetSeconds).toBe(60);
  });

  it('scattered device skews around 0 (−3..+3 steps) do not accuse the server', () => {
    const estimator = new PopulationDriftEstimator();
    const skew = seededInts(42, -3, 3);
    // A symmetric population (each skew with its mirror) has median exactly 0 by construction.
    for (let i = 0; i < 25; i += 1) {
      const steps = skew();
      estimator.record(sample(2 * i, steps));
      estimator.record(sample(2 * i + 1, -steps));
    }
    const estimate = estimator.estimate(T0);
    expect(estimate.identities).toBe(50);
    expect(estimate.medianOffsetSeconds).toBe(0);
    expect(estimate.suspectServerOffsetSeconds).toBeNull();
  });

  it('property: any population whose median is under one step is never reported', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 20, maxLength: 200 }), (skews) => {
        const estimator = new PopulationDriftEstimator();
        skews.forEach((steps, i) => estimator.record(sample(i, steps)));
        const estimate = estimator.estimate(T0);
        const reported = estimate.suspectServerOffsetSeconds !== null;
        expect(reported).toBe(Math.abs(estimate.medianOffsetSeconds) >= 30);
        if (reported) expect(estimate.suspectServerOffsetSeconds).toBe(estimate.medianOffsetSeconds);
      }),
    );
  });

  it('fewer than minIdentities identities → null, however skewed', () => {
    const estimator = new PopulationDriftEstimator({ minIdentities: 20 });
    for (let i = 0; i < 19; i += 1) estimator.record(sample(i, +3));
    const estimate = estimator.estimate(T0);
    expect(estimate).toEqual({ identities: 19, medianOffsetSeconds: 90, suspectServerOffsetSeconds: null });
    estimator.record(sample(19, +3));
    expect(estimator.estimate(T0).suspectServerOffsetSeconds).toBe(90);
  });

  it('one identity repeating 1000 skewed samples counts once (cannot fake a population)', () => {
    const estimator = new PopulationDriftEstimator({ minIdentities: 20 });
    for (let n = 0; n < 1000; n += 1) estimator.record(sample(0, +5, T0 + n));
    expect(estimator.estimate(T0 + 1000)).toEqual({
      identities: 1,
      medianOffsetSeconds: 150,
      suspectServerOffsetSeconds: null,
    });
    expect(estimator.size).toBe(1);
  });

  it("keeps only each identity's latest sample, even when an older one arrives late", () => {
    const estimator = new PopulationDriftEstimator();
    estimator.record(sample(0, +2, T0 + 10));
    estimator.record(sample(0, 0, T0));
    expect(estimator.samples()).toEqual([sample(0, +2, T0 + 10)]);
  });

  it('samples older than the window are dropped', () => {
    const estimator = new PopulationDriftEstimator({ windowMs: 60 * MINUTE_MS });
    for (let i = 0; i < 30; i += 1) estimator.record(sample(i, +1, T0));
    for (let i = 30; i < 40; i += 1) estimator.record(sample(i, 0, T0 + 30 * MINUTE_MS));
    expect(estimator.estimate(T0 + 60 * MINUTE_MS)).toMatchObject({ identities: 40, suspectServerOffsetSeconds: 30 });
    // One minute later the first 30 samples are more than an hour old.
    expect(estimator.estimate(T0 + 61 * MINUTE_MS)).toEqual({
      identities: 10,
      medianOffsetSeconds: 0,
      suspectServerOffsetSeconds: null,
    });
    expect(estimator.size).toBe(10);
  });

  it('converts steps with each sample’s own period', () => {
    const estimator = new PopulationDriftEstimator({ minIdentities: 3 });
    estimator.record(sample(0, +1, T0, 60));
    estimator.record(sample(1, +2, T0, 30));
    estimator.record(sample(2, +1, T0, 60));
    expect(estimator.estimate(T0)).toEqual({ identities: 3, medianOffsetSeconds: 60, suspectServerOffsetSeconds: 60 });
  });

  it('a negative median reports a server clock ahead', () => {
    const estimator = new PopulationDriftEstimator();
    for (let i = 0; i < 25; i += 1) estimator.record(sample(i, -1));
    expect(estimator.estimate(T0).suspectServerOffsetSeconds).toBe(-30);
  });

  it('memory stays bounded: beyond maxIdentities the oldest identities are evicted', () => {
    const estimator = new PopulationDriftEstimator({ minIdentities: 5, maxIdentities: 100 });
    for (let i = 0; i < 10_000; i += 1) estimator.record(sample(i, 0, T0 + i));
    expect(estimator.size).toBe(100);
    const kept = estimator.samples().map((s) => s.identityId);
    expect(kept[0]).toBe('identity-9900');
    expect(kept.at(-1)).toBe('identity-9999');
  });

  it('restore() seeds from stored rows, keeps the latest per identity and skips malformed rows', () => {
    const estimator = new PopulationDriftEstimator();
    const rows: DriftSample[] = [];
    for (let i = 0; i < 25; i += 1) rows.push(sample(i, +1, T0 + i));
    rows.unshift(sample(3, -4, T0 - 5)); // an older row for identity 3, listed first
    rows.push({ identityId: '', offsetSteps: 1, periodSeconds: 30, atMs: T0 });
    rows.push({ identityId: 'x', offsetSteps: Number.NaN, periodSeconds: 30, atMs: T0 });
    expect(estimator.restore(rows)).toBe(26);
    expect(estimator.estimate(T0 + MINUTE_MS)).toEqual({
      identities: 25,
      medianOffsetSeconds: 30,
      suspectServerOffsetSeconds: 30,
    });
  });

  it('record() rejects malformed samples as misuse', () => {
    const estimator = new PopulationDriftEstimator();
    expect(() => estimator.record({ ...sample(0, 1), offsetSteps: 0.5 })).toThrow(TypeError);
    expect(() => estimator.record({ ...sample(0, 1), periodSeconds: 0 })).toThrow(TypeError);
    expect(() => estimator.record({ ...sample(0, 1), identityId: '' })).toThrow(TypeError);
  });

  it('property: the running median and count equal a sort of the samples inside the window', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ id: fc.integer({ min: 0, max: 40 }), offsetSteps: fc.integer({ min: -4, max: 4 }), period: fc.constantFrom(30, 60), advanceMs: fc.integer({ min: 0, max: 20 * MINUTE_MS }) }), { maxLength: 120 }),
        (events) => {
          const estimator = new PopulationDriftEstimator({ windowMs: 60 * MINUTE_MS, minIdentities: 1 });
          const latest = new Map<string, DriftSample>();
          let now = T0;
          for (const e of events) {
            now += e.advanceMs;
            const sample = { identityId: `id-${e.id}`, offsetSteps: e.offsetSteps, periodSeconds: e.period, atMs: now };
            estimator.record(sample);
            latest.set(sample.identityId, sample);
          }
          const inside = [...latest.values()].filter((s) => s.atMs >= now - 60 * MINUTE_MS).map((s) => s.offsetSteps * s.periodSeconds).sort((a, b) => a - b);
          const middle = inside.length >> 1;
          const expected = inside.length === 0 ? 0 : inside.length % 2 === 1 ? inside[middle]! : (inside[middle - 1]! + inside[middle]!) / 2;
          const estimate = estimator.estimate(now);
          expect(estimate.identities).toBe(inside.length);
          expect(estimate.medianOffsetSeconds).toBe(expected);
        },
      ),
    );
  });

  it('an empty window reports nothing', () => {
    expect(new PopulationDriftEstimator().estimate(T0)).toEqual({
      identities: 0,
      medianOffsetSeconds: 0,
      suspectServerOffsetSeconds: null,
    });
  });
});
