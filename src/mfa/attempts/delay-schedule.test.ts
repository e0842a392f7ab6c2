import { describe, expect, it } from 'vitest';
import { DEFAULT_DELAY_SCHEDULE, delayMsAfter, minimumTimeMsFor } from './delay-schedule.js';

describe('delay schedule', () => {
  it('lets the first five failures through, then doubles from 2 s up to the 15 min cap', () => {
    const waits = Array.from({ length: 16 }, (_, n) => delayMsAfter(n, DEFAULT_DELAY_SCHEDULE) / 1000);
    expect(waits).toEqual([0, 0, 0, 0, 0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
    expect(delayMsAfter(99, DEFAULT_DELAY_SCHEDULE)).toBe(900_000);
    expect(delayMsAfter(10_000, DEFAULT_DELAY_SCHEDULE)).toBe(900_000);
  });

  it('makes 100 consecutive failures take at least 21 hours', () => {
    const hours = minimumTimeMsFor(100, DEFAULT_DELAY_SCHEDULE) / 3_600_000;
    expect(hours).toBeGreaterThan(21);
    expect(hours).toBeLessThan(23);
  });

  it('rejects a negative count (misuse)', () => {
    expect(() => delayMsAfter(-1, DEFAULT_DELAY_SCHEDULE)).toThrow(TypeError);
  });
});
