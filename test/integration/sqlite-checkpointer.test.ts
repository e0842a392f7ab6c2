/**
 * SQLite's write-ahead log is checkpointed by a worker thread, not by the commit of a request
 * (storage/sqlite-checkpointer.ts; issue 12, TOTP p99).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openStorage } from '../../src/storage/db.js';
import { startSqliteCheckpointer } from '../../src/storage/sqlite-checkpointer.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kairos-checkpoint-'));
  dirs.push(dir);
  return join(dir, 'kairos.db');
}

/** Polls `check` every 10 ms for up to 10 s (a worker thread's timer, not a TOTP window). */
async function eventually(check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in 10 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('SQLite background checkpoint', () => {
  it('pages a commit wrote reach the database file without any commit running a checkpoint', async () => {
    const path = tempDb();
    const db = new SQLite(path);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0'); // this connection never checkpoints: only the worker can
    db.exec('create table t (id integer primary key, payload blob)');
    const insert = db.prepare('insert into t (payload) values (?)');
    db.transaction(() => {
      for (let i = 0; i < 500; i++) insert.run(Buffer.alloc(2_000, i % 256));
    })();
    const before = statSync(path).size;
    expect(before).toBeLessThan(100_000); // ~1 MB of rows sits in the log, not in the file
    const checkpointer = startSqliteCheckpointer(path, { intervalMs: 20 });
    try {
      await eventually(() => statSync(path).size > 900_000);
      expect(checkpointer.checkpoints()).toBeGreaterThan(0);
      // The log was copied whole, so the next write transaction rewinds it: the log holds only the new frames.
      db.prepare('insert into t (payload) values (?)').run(Buffer.alloc(10));
      const [state] = db.pragma('wal_checkpoint(NOOP)') as { log: number }[];
      expect(state!.log).toBeLessThan(10);
      expect((db.prepare('select count(*) as n from t').get() as { n: number }).n).toBe(501);
    } finally {
      await checkpointer.stop();
      db.close();
    }
  });

  it('a checkpoint is not a change: PRAGMA data_version stays the same for the server connection', async () => {
    const path = tempDb();
    const db = new SQLite(path);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec('create table t (id integer primary key, payload blob)');
    db.prepare('insert into t (payload) values (?)').run(Buffer.alloc(50_000));
    const version = db.pragma('data_version', { simple: true });
    const checkpointer = startSqliteCheckpointer(path, { intervalMs: 20 });
    try {
      await eventually(() => checkpointer.checkpoints() >= 3);
      expect(db.pragma('data_version', { simple: true })).toBe(version);
    } finally {
      await checkpointer.stop();
      db.close();
    }
  });

  it('the server storage runs it on a file database and stops it on close', async () => {
    const path = tempDb();
    const errors: string[] = [];
    const storage = openStorage(`sqlite://${path}`, { backgroundCheckpoint: { onError: (m) => errors.push(m) } });
    await sql`create table t (id integer primary key, payload blob)`.execute(storage.db);
    for (let i = 0; i < 20; i++) await sql`insert into t (payload) values (${Buffer.alloc(20_000)})`.execute(storage.db);
    await eventually(() => statSync(path).size > 300_000);
    await storage.close(); // resolves: the worker ended
    expect(errors).toEqual([]);
  });

  it('an idle worker ends itself (an idle server carries no second thread), and the next write starts a new one', async () => {
    const path = tempDb();
    const events: string[] = [];
    const storage = openStorage(`sqlite://${path}`, { backgroundCheckpoint: { intervalMs: 10, idleChecks: 5, onWorker: (e) => events.push(e) } });
    try {
      await sql`create table t (id integer primary key, payload blob)`.execute(storage.db);
      // Five checkpoints in a row with nothing new in the log: the worker ended by itself.
      await eventually(() => events.at(-1) === 'ended');
      expect(events).toEqual(['started', 'ended']);
      for (let i = 0; i < 20; i++) await sql`insert into t (payload) values (${Buffer.alloc(20_000)})`.execute(storage.db);
      expect(events).toEqual(['started', 'ended', 'started']);
      // The new worker copies the new rows into the database file.
      await eventually(() => statSync(path).size > 300_000);
    } finally {
      await storage.close();
    }
    expect(events.at(-1)).toBe('ended');
  });

  it('a database file that does not exist is reported, and the server connection keeps its own checkpoint', async () => {
    const errors: string[] = [];
    const checkpointer = startSqliteCheckpointer(join(tmpdir(), 'kairos-no-such-dir', 'missing.db'), { onError: (m) => errors.push(m) });
    await eventually(() => errors.length > 0);
    expect(errors[0]).toMatch(/unable to open|directory does not exist|no such file/i);
    await checkpointer.stop();
  });

  it('a process with nothing else to do (a CLI command) waits for the worker when it closes its storage, and goes on', () => {
    const path = tempDb();
    const script = join(path, '..', 'close.mts');
    const dbModule = resolve('src/storage/db.ts');
    writeFileSync(
      script,
      `import { openStorage } from ${JSON.stringify(dbModule)};
const storage = openStorage('sqlite://${path}', { backgroundCheckpoint: {} });
await storage.ping();
await storage.close();
console.log('after close');
`,
    );
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000 });
    // Node exits with 13 when a top-level await never settles because the event loop emptied.
    expect({ status: run.status, stdout: run.stdout.trim() }).toEqual({ status: 0, stdout: 'after close' });
  });
});
