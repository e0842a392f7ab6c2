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

// CommonJS, evaluated in the worker: better-sqlite3 is required from the path the server resolved.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
let checkpoints = 0;
const timer = setInterval(() => {
  try {
    checkpoint.get();
    checkpoints++;
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message || error) });
  }
}, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message === 'count') { parentPort.postMessage({ checkpoints }); return; }
  if (message === 'stop') { clearInterval(timer); db.close(); parentPort.close(); }
});
`;

export interface SqliteCheckpointer {
  /** Checkpoints the worker ran so far (tests). */
  checkpoints(): Promise<number>;
  /** Stops the timer, closes the worker's connection and ends the thread. */
  stop(): Promise<void>;
}

export function startSqliteCheckpointer(
  path: string,
  options: { intervalMs?: number; onError?: (message: string) => void } = {},
): SqliteCheckpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { driver, path, intervalMs: options.intervalMs ?? CHECKPOINT_INTERVAL_MS },
    // The worker only runs one prepared statement: a small heap keeps its memory to a few MiB.
    resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 },
  });
  worker.unref();
  let stopped = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const waiting: ((count: number) => void)[] = [];
  worker.on('message', (message: { error?: string; checkpoints?: number }) => {
    if (message.error !== undefined) options.onError?.(message.error);
    if (message.checkpoints !== undefined) waiting.shift()?.(message.checkpoints);
  });
  // A worker that fails to start (say, the file is gone) leaves the connection's automatic checkpoint in charge.
  worker.on('error', (error) => options.onError?.(error.message));
  return {
    checkpoints: () =>
      new Promise<number>((resolve) => {
        waiting.push(resolve);
        worker.postMessage('count');
      }),
    async stop() {
      if (stopped) return;
      stopped = true;
      // Referenced while it stops: a process with nothing else to do (a CLI command closing its storage) must wait
      // for the worker to end instead of leaving this promise unsettled with an empty event loop.
      worker.ref();
      worker.postMessage('stop');
      const timeout = setTimeout(() => void worker.terminate(), 1_000);
      await exited;
      clearTimeout(timeout);
    },
  };
}
