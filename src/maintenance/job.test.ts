import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { MaintenanceJob, type MaintenanceTask, type Timers } from './job.js';

/** Timers driven by the test: `fire()` runs the pending callback, `delays` records what was asked. */
function manualTimers() {
  const pending: { fn: () => void; ms: number }[] = [];
  const timers: Timers = {
    setTimeout: (fn, ms) => {
      const entry = { fn, ms };
      pending.push(entry);
      return entry;
    },
    clearTimeout: (handle) => {
      const i = pending.indexOf(handle as (typeof pending)[number]);
      if (i >= 0) pending.splice(i, 1);
    },
  };
  return {
    timers,
    delays: () => pending.map((p) => p.ms),
    async fire() {
      const next = pending.shift();
      if (!next) throw new Error('nothing scheduled');
      next.fn();
      // Let the run and its rescheduling finish.
      for (let i = 0; i < 10; i++) await Promise.resolve();
    },
  };
}

const silent = pino({ level: 'silent' });
const HOUR = 3_600_000;

describe('maintenance job', () => {
  it('runs every task once at most a minute after start, then every interval, until stopped', async () => {
    const t = manualTimers();
    const runs: string[] = [];
    const task = (name: string): MaintenanceTask => ({ name, run: async () => (runs.push(name), 1) });
    const job = new MaintenanceJob([task('a'), task('b')], { intervalMs: HOUR, logger: silent, timers: t.timers });
    job.start();
    expect(t.delays()).toEqual([60_000]);
    await t.fire();
    expect(runs).toEqual(['a', 'b']);
    expect(t.delays()).toEqual([HOUR]);
    await t.fire();
    expect(runs).toEqual(['a', 'b', 'a', 'b']);
    await job.stop();
    expect(t.delays()).toEqual([]);
  });

  it('a failing task is logged and does not keep the others from running', async () => {
    const job = new MaintenanceJob(
      [
        { name: 'broken', run: async () => Promise.reject(new Error('database gone')) },
        { name: 'fine', run: async () => 3 },
      ],
      { intervalMs: HOUR, logger: silent },
    );
    expect(await job.runOnce()).toEqual({ fine: 3 });
  });

  it('a run asked for while one is in progress joins it instead of running the tasks twice at once', async () => {
    let release!: () => void;
    let calls = 0;
    const job = new MaintenanceJob([{ name: 'slow', run: () => (calls++, new Promise<number>((r) => (release = () => r(2)))) }], { intervalMs: HOUR, logger: silent });
    const first = job.runOnce();
    const second = job.runOnce();
    release();
    expect(await first).toEqual({ slow: 2 });
    expect(await second).toEqual({ slow: 2 });
    expect(calls).toBe(1);
  });

  it('a job with no task schedules nothing', () => {
    const t = manualTimers();
    new MaintenanceJob([], { intervalMs: HOUR, logger: silent, timers: t.timers }).start();
    expect(t.delays()).toEqual([]);
  });
});
