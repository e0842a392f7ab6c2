/**
 * Periodic maintenance: retention purges that used to run on request paths (previous TOTP secrets on every rejected
 * code, rate-limit windows on every 500th request) run here instead, off the hot path. Modules contribute tasks
 * (`KairosModule.maintenance`); every instance runs the job every `maintenance.interval`. Tasks are idempotent
 * deletes of what is past its retention, computed from the injected clock (or the database's, for rate-limit
 * windows), so two instances running at once, or a run repeated, remove nothing twice and need no coordination.
 */
import type { Logger } from 'pino';

export interface MaintenanceTask {
  /** Names the task in logs and in `runOnce`'s result. */
  readonly name: string;
  /** Removes what is past its retention now; returns how many rows it removed. Safe to run concurrently and again. */
  run(): Promise<number>;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const handle = setTimeout(fn, ms);
    // Never keeps the process alive on its own (a stopping server does not wait for the next run).
    handle.unref();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** The first run waits at most this long after start: start-up does no work it can defer. */
const FIRST_RUN_AFTER_MS = 60_000;

export class MaintenanceJob {
  private timer: unknown = null;
  private running: Promise<Record<string, number>> | null = null;
  private stopped = true;

  constructor(
    readonly tasks: readonly MaintenanceTask[],
    private readonly options: { intervalMs: number; logger: Logger; timers?: Timers },
  ) {}

  private get timers(): Timers {
    return this.options.timers ?? realTimers;
  }

  /** Runs every task once, one after the other; a failing task is logged and does not stop the others. */
  async runOnce(): Promise<Record<string, number>> {
    if (this.running) return this.running;
    this.running = (async () => {
      const removed: Record<string, number> = {};
      for (const task of this.tasks) {
        try {
          removed[task.name] = await task.run();
        } catch (err) {
          this.options.logger.warn({ task: task.name, err: { message: (err as Error).message } }, 'maintenance task failed; it runs again at the next interval');
        }
      }
      if (Object.values(removed).some((n) => n > 0)) this.options.logger.info({ removed }, 'maintenance: removed rows past their retention');
      return removed;
    })();
    try {
      return await this.running;
    } finally {
      this.running = null;
    }
  }

  start(): void {
    if (!this.stopped || this.tasks.length === 0) return;
    this.stopped = false;
    this.schedule(Math.min(this.options.intervalMs, FIRST_RUN_AFTER_MS));
  }

  private schedule(ms: number): void {
    this.timer = this.timers.setTimeout(() => {
      void this.runOnce().finally(() => {
        if (!this.stopped) this.schedule(this.options.intervalMs);
      });
    }, ms);
  }

  /** Stops scheduling; waits for a run in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => {});
  }
}
