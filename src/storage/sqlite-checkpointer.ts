/**
 * SQLite's write-ahead log, checkpointed from a worker thread (issue 12: TOTP p99 < 50 ms at 50 connections).
 *
 * With SQLite's automatic checkpoint, the commit that crosses `wal_autocheckpoint` pages copies the log into the
 * database file before it returns, on the event loop: the bench logged one TOTP step in about a thousand taking
 * 30–200 ms instead of 1 ms, and every request queued behind it waited as long, which is the whole p99. Here a
 * second connection, in a worker thread, runs `PRAGMA wal_checkpoint(PASSIVE)` every CHECKPOINT_INTERVAL_MS: PASSIVE
 * copies what it can without waiting for (or blocking) the server's reader or writer
 * (https://www.sqlite.org/pragma.html#pragma_wal_checkpoint, https://www.sqlite.org/wal.html#concurrency), and the
 * server's next write transaction rewinds the log once it was copied whole. The server connection keeps its
 * automatic checkpoint as a backstop (storage/db.ts SQLITE_WAL_AUTOCHECKPOINT_PAGES); with the worker keeping up it
 * is never reached.
 *
 * A checkpoint changes no data, so it does not change `PRAGMA data_version` for the server's connection (the session
 * lookup cache relies on that: session/session-cache.ts).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * How often the worker checkpoints. At the bench's TOTP rate (about 1,000 steps/s, 10–15 log pages each) a quarter
 * of a second is 2,500–4,000 pages per checkpoint, well under the backstop, and each checkpoint takes a few ms of
 * the worker's own thread.
 */
export const CHECKPOINT_INTERVAL_MS = 250;

/**
 * The worker ends itself after this many checkpoints in a row found the log unchanged (10 s at the default
 * interval), and the next write starts a new one: an idle server carries no second thread and connection (7.5 MiB of
 * RSS, measured with the worker alone in an idle process; issue 12's idle target is 90 MiB).
 */
export const IDLE_CHECKS_BEFORE_EXIT = 40;

// CommonJS, evaluated in the worker: better-sqlite3 is required from the path the server resolved.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
let lastLog = -1;
let unchanged = 0;
const end = () => { clearInterval(timer); db.close(); parentPort.close(); };
const timer = setInterval(() => {
  try {
    const { log } = checkpoint.get();
    parentPort.postMessage({ checkpoint: true });
    unchanged = log === lastLog ? unchanged + 1 : 0;
    lastLog = log;
    if (unchanged >= workerData.idleChecks) end();
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message || error) });
  }
}, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message === 'stop') end();
});
`;

export interface SqliteCheckpointer {
  /** A statement that may have written ran: starts the worker when none is running. */
  noteWrite(): void;
  /** Is a worker thread running now? */
  running(): boolean;
  /** Checkpoints the workers ran so far (tests). */
  checkpoints(): number;
  /** Stops the timer, closes the worker's connection and ends the thread. */
  stop(): Promise<void>;
}

export interface CheckpointerOptions {
  intervalMs?: number;
  idleChecks?: number;
  /** A checkpoint or the worker failed (the connection's own checkpoint stays in charge). */
  onError?: (message: string) => void;
  /** A worker thread started (at open, or on a write after one retired) or ended (idle, stopped, failed). */
  onWorker?: (event: 'started' | 'ended') => void;
}

export function startSqliteCheckpointer(
  path: string,
  options: CheckpointerOptions = {},
): SqliteCheckpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  let worker: Worker | null = null;
  let exited: Promise<void> = Promise.resolve();
  let stopped = false;
  // A worker that failed (say, the file is gone) is not started again: the connection's own checkpoint is in charge.
  let failed = false;
  let checkpoints = 0;
  const start = () => {
    const current = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver, path, intervalMs: options.intervalMs ?? CHECKPOINT_INTERVAL_MS, idleChecks: options.idleChecks ?? IDLE_CHECKS_BEFORE_EXIT },
      // The worker only runs one prepared statement: a small heap keeps its memory to a few MiB.
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 },
    });
    current.unref();
    worker = current;
    options.onWorker?.('started');
    exited = new Promise<void>((resolve) =>
      current.once('exit', () => {
        if (worker === current) worker = null;
        options.onWorker?.('ended');
        resolve();
      }),
    );
    current.on('message', (message: { error?: string; checkpoint?: boolean }) => {
      if (message.checkpoint) checkpoints++;
      if (message.error !== undefined) options.onError?.(message.error);
    });
    current.on('error', (error) => {
      failed = true;
      options.onError?.(error.message);
    });
  };
  start();
  return {
    noteWrite() {
      if (worker === null && !stopped && !failed) start();
    },
    running: () => worker !== null,
    checkpoints: () => checkpoints,
    async stop() {
      if (stopped) return;
      stopped = true;
      const current = worker;
      if (!current) return;
      // Referenced while it stops: a process with nothing else to do (a CLI command closing its storage) must wait
      // for the worker to end instead of leaving this promise unsettled with an empty event loop.
      current.ref();
      current.postMessage('stop');
      const timeout = setTimeout(() => void current.terminate(), 1_000);
      await exited;
      clearTimeout(timeout);
    },
  };
}
