import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { Kysely, PostgresAdapter, PostgresDialect, SqliteDialect, sql } from 'kysely';
import SQLite from 'better-sqlite3';
import type pg from 'pg';
import type { Database } from './tables.js';
import { startSqliteCheckpointer, type CheckpointerOptions } from './sqlite-checkpointer.js';
import { runStep, UnitOfWorkDialect } from './unit-of-work.js';

/** A database handle: the root Kysely instance or a step's transaction (a Kysely `Transaction` is one). */
export type Db = Kysely<Database>;

export type DialectName = 'sqlite' | 'postgres';

export interface Storage {
  db: Kysely<Database>;
  dialect: DialectName;
  /** The PostgreSQL schema from `?search_path=` (null: the server default; always null on SQLite). */
  schema: string | null;
  /** A description without credentials, safe to log. */
  description: string;
  ping(): Promise<void>;
  close(): Promise<void>;
  /**
   * Runs `fn` as one unit of work (storage/unit-of-work.ts: isolation, lock order, BEGIN IMMEDIATE on SQLite):
   * everything written through `trx` commits together when `fn` resolves, or not at all when it throws.
   */
  transaction<T>(fn: (trx: Db) => Promise<T>): Promise<T>;
  /**
   * Holds a lock named `key` until `trx`'s transaction ends, so steps that count rows and then insert one (the mail
   * quotas, credentials/code/one-time-codes.ts) decide one after the other, across instances. PostgreSQL: a
   * transaction-scoped advisory lock (READ COMMITTED alone lets two steps both count 4 and both insert the 5th);
   * SQLite: nothing to take, the step's `BEGIN IMMEDIATE` already holds the database's one write lock. Outside a
   * transaction it protects nothing.
   */
  lockUntilCommit(trx: Db, key: string): Promise<void>;
  /**
   * SQLite: a stamp that differs from every earlier one whenever the database may have changed in between, whether
   * this connection wrote (any statement but a SELECT counts, BEGIN, COMMIT and ROLLBACK included) or another
   * connection or process committed (`PRAGMA data_version`, https://www.sqlite.org/pragma.html#pragma_data_version).
   * Costs one statement that reads no page. A value read from the database while the stamp was S is still the
   * database's value while the stamp is S (session/session-service.ts caches the session lookup on it).
   * PostgreSQL: absent; nothing may be cached (another instance can commit at any time, unseen).
   */
  changeStamp?(): string;
}

/** The PostgreSQL driver, loaded on first use: a server on SQLite never loads it (startup time and memory). */
let pgModule: typeof pg | null = null;
function loadPg(): typeof pg {
  if (!pgModule) {
    pgModule = createRequire(import.meta.url)('pg') as typeof pg;
    // PostgreSQL returns int8 (bigint) as strings by default; every bigint column here holds milliseconds or counters
    // well inside Number.MAX_SAFE_INTEGER.
    pgModule.types.setTypeParser(20, (value) => Number(value));
  }
  return pgModule;
}

/**
 * SQLite checkpoints the write-ahead log into the database file when it holds this many pages (SQLite's default is
 * 1,000: https://www.sqlite.org/pragma.html#pragma_wal_autocheckpoint). The checkpoint runs inside the commit that
 * crosses the mark, and copies each page once however often it changed since the last one; hot pages (index roots,
 * the counters, recent flows) change on every step, so a longer log copies far fewer pages per step. Measured in
 * the bench (issue 12): the commit's CPU per TOTP step fell by about 40% at 20,000 pages; 10,000 pages (about
 * 40 MiB of log at 4 KiB pages) keeps most of that while bounding the log's size on disk. The server checkpoints
 * from a worker thread (storage/sqlite-checkpointer.ts), well before this mark: the automatic checkpoint is then a
 * backstop for a worker that fell behind or failed.
 */
const SQLITE_WAL_AUTOCHECKPOINT_PAGES = 10_000;

/**
 * Statements sent to the database by this process, counted only when `KAIROS_COUNT_STATEMENTS=1` (`npm run bench`
 * sets it and prints statements per request for each scenario, so a regression in the hot path shows). Off, the
 * counting wrappers are not installed at all: the query path is the same code as without this feature.
 * Counted where SQL reaches the driver (better-sqlite3 `prepare`, pg `client.query`), so transaction control
 * statements (BEGIN, COMMIT) count like any other.
 */
export const statementCounter = {
  enabled: ['1', 'print', 'time'].includes(process.env.KAIROS_COUNT_STATEMENTS ?? ''),
  total: 0,
  byKind: {} as Record<string, number>,
  /** `KAIROS_COUNT_STATEMENTS=time` (SQLite): executions and microseconds spent in the driver per SQL text. */
  byText: {} as Record<string, { count: number; micros: number; cpuMicros: number }>,
};
const timeStatements = process.env.KAIROS_COUNT_STATEMENTS === 'time';
/** `KAIROS_COUNT_STATEMENTS=print`: each statement's SQL text (placeholders, never values) on stderr, for development. */
const printStatements = process.env.KAIROS_COUNT_STATEMENTS === 'print';

function countStatement(sqlText: string): void {
  if (printStatements) process.stderr.write(`SQL ${sqlText.replace(/\s+/g, ' ').slice(0, 20000)}\n`);
  const kind = /^\s*(\w+)/.exec(sqlText)?.[1]?.toLowerCase() ?? 'other';
  statementCounter.total++;
  statementCounter.byKind[kind] = (statementCounter.byKind[kind] ?? 0) + 1;
}

export function dialectOf(dsn: string): DialectName {
  if (/^postgres(ql)?:\/\//.test(dsn)) return 'postgres';
  if (dsn === 'memory' || dsn.startsWith('sqlite:') || dsn.startsWith('file:')) return 'sqlite';
  throw new TypeError(`dsn: unsupported scheme in "${dsn.replace(/\/\/[^@]*@/, '//***@')}" (use sqlite://… or postgres://…)`);
}

/** The dialect a Kysely instance (or a step's transaction) speaks, for SQL that differs by dialect. */
export function dialectOfDb(db: Db): DialectName {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

/** `sqlite:///abs/path.db`, `sqlite://./relative.db?_fk=true`, `sqlite://file::memory:`, `memory`. */
export function sqlitePath(dsn: string): string {
  if (dsn === 'memory' || dsn.includes(':memory:')) return ':memory:';
  const withoutScheme = dsn.replace(/^sqlite:\/\//, '').replace(/^file:/, '');
  const path = withoutScheme.split('?')[0]!;
  return resolve(path);
}

export interface OpenStorageOptions {
  poolSize?: number;
  readOnly?: boolean;
  /**
   * SQLite file (the server, registry.ts): checkpoint the write-ahead log from a worker thread instead of inside the
   * commit that crosses the mark (storage/sqlite-checkpointer.ts); `onError` hears a checkpoint that failed.
   */
  backgroundCheckpoint?: CheckpointerOptions;
}

export function openStorage(dsn: string, options: OpenStorageOptions = {}): Storage {
  const dialect = dialectOf(dsn);
  if (dialect === 'sqlite') {
    const path = sqlitePath(dsn);
    // Read-only (kairos doctor): the file must exist and nothing can be written, not even the journal mode.
    if (path !== ':memory:' && !options.readOnly) mkdirSync(dirname(path), { recursive: true });
    const database = options.readOnly ? new SQLite(path, { readonly: true, fileMustExist: true }) : new SQLite(path);
    if (!options.readOnly) database.pragma('journal_mode = WAL');
    database.pragma('foreign_keys = ON');
    database.pragma('busy_timeout = 5000');
    if (!options.readOnly) database.pragma('synchronous = NORMAL');
    if (!options.readOnly) database.pragma(`wal_autocheckpoint = ${SQLITE_WAL_AUTOCHECKPOINT_PAGES}`);
    const checkpointer =
      options.backgroundCheckpoint && !options.readOnly && path !== ':memory:'
        ? startSqliteCheckpointer(path, options.backgroundCheckpoint)
        : null;
    const writes = { count: 0, noted: checkpointer ? () => checkpointer.noteWrite() : null };
    const dataVersion = database.prepare('PRAGMA data_version').pluck();
    const db = new Kysely<Database>({
      dialect: new UnitOfWorkDialect(new SqliteDialect({ database: withStatementCache(database, writes) }), { beginStatement: 'begin immediate' }),
    });
    return {
      db,
      dialect,
      schema: null,
      description: `sqlite ${path}`,
      ping: async () => {
        await sql`select 1`.execute(db);
      },
      close: async () => {
        await checkpointer?.stop();
        await db.destroy();
      },
      transaction: (fn) => runStep(db, fn),
      lockUntilCommit: async () => {},
      changeStamp: () => {
        if (statementCounter.enabled) countStatement('pragma data_version');
        return `${dataVersion.get() as number}.${writes.count}`;
      },
    };
  }
  const url = new URL(dsn);
  // Kairos extension: ?search_path=schema puts every table in that schema (tests use one schema per run).
  const searchPath = url.searchParams.get('search_path');
  url.searchParams.delete('search_path');
  // Kairos extension ?prepared_statements=false: for poolers that cannot keep a session's prepared statements
  // (PgBouncer in transaction mode).
  const preparedStatements = url.searchParams.get('prepared_statements') !== 'false';
  url.searchParams.delete('prepared_statements');
  // Session settings sent when connecting. jit=off: Kairos sends short statements, and PostgreSQL (JIT on by default
  // since 12) compiles every execution of a statement whose estimated cost passes jit_above_cost, which the session
  // lookup's correlated subqueries reach while statistics are stale (measured in the bench right after a bulk import
  // of 90,000 identities: 1.3 s per lookup, nearly all of it JIT). Poolers in transaction mode
  // (?prepared_statements=false) may refuse startup options: there, set it on the role (`ALTER ROLE … SET jit = off`).
  const sessionSettings = [
    searchPath ? `-c search_path=${searchPath}` : '',
    options.readOnly ? '-c default_transaction_read_only=on' : '',
    preparedStatements ? '-c jit=off' : '',
  ].filter(Boolean);
  const pool = new (loadPg().Pool)({
    connectionString: url.toString(),
    max: options.poolSize ?? 10,
    ...(sessionSettings.length ? { options: sessionSettings.join(' ') } : {}),
  });
  if (preparedStatements) pool.on('connect', (client) => useNamedStatements(client));
  if (statementCounter.enabled) {
    pool.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as { query: unknown }).query = (...args: unknown[]) => {
        const first = args[0] as string | { text?: string };
        countStatement(typeof first === 'string' ? first : (first?.text ?? ''));
        return query(...args);
      };
    });
  }
  const db = new Kysely<Database>({ dialect: new UnitOfWorkDialect(new PostgresDialect({ pool }), { beginStatement: null }) });
  return {
    db,
    dialect,
    schema: searchPath,
    description: `postgres ${url.host}${url.pathname}${searchPath ? ` (schema ${searchPath})` : ''}`,
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: () => db.destroy(),
    transaction: (fn) => runStep(db, fn),
    lockUntilCommit: async (trx, key) => {
      await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(trx);
    },
  };
}

/**
 * PostgreSQL: statements that recur are sent as named prepared statements, so each connection parses and plans them
 * once (node-postgres sends Parse only the first time a name is used on a connection; issue 12, "prepared
 * statements reused on both dialects"). A text is named from its third use (one-off statements, such as a batch
 * insert of some row count, stay unnamed) and at most NAMED_STATEMENTS_MAX texts are named per process, which bounds
 * what each server connection keeps. The name is derived from the text, so every connection and instance agrees.
 */
const NAMED_STATEMENTS_MAX = 500;
const NAME_FROM_USE = 3;
const statementUses = new Map<string, number>();
const statementNames = new Map<string, string>();

function statementName(text: string): string | undefined {
  const named = statementNames.get(text);
  if (named !== undefined || statementNames.size >= NAMED_STATEMENTS_MAX) return named;
  const uses = (statementUses.get(text) ?? 0) + 1;
  if (uses < NAME_FROM_USE) {
    if (statementUses.size < NAMED_STATEMENTS_MAX * 4) statementUses.set(text, uses);
    return undefined;
  }
  statementUses.delete(text);
  const name = 'kairos_' + createHash('sha1').update(text).digest('hex').slice(0, 20);
  statementNames.set(text, name);
  return name;
}

function useNamedStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as { query: unknown }).query = (...args: unknown[]) => {
    const [text, values] = args;
    if (typeof text === 'string' && Array.isArray(values) && values.length > 0 && args.length === 2) {
      const name = statementName(text);
      if (name) return query({ name, text, values });
    }
    return query(...args);
  };
}

/** A statement that cannot change data: a plain SELECT (a WITH … might hold an INSERT and counts as a write). */
const READ_ONLY_STATEMENT = /^\s*select\s/i;

/** Statements kept compiled per SQLite connection; the SQL texts Kairos issues are a few hundred at most. */
const STATEMENT_CACHE_SIZE = 1000;

/**
 * Kysely's SQLite driver calls `prepare()` for every query, and better-sqlite3 compiles the SQL each time (about a
 * tenth of a TOTP step's CPU in the bench profile). Statements are reusable once a query has run to completion, so
 * they are cached by SQL text. The one exception is a statement being iterated (Kysely's `.stream()`, which Kairos
 * does not use): a busy statement is never handed out, a fresh one is prepared instead.
 */
function withStatementCache(database: SQLite.Database, writes: { count: number; noted: (() => void) | null }): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  const prepare = database.prepare.bind(database);
  const cachedPrepare = (source: string): SQLite.Statement => {
    // Every statement but a SELECT may change data (Storage.changeStamp), and may give a retired background
    // checkpoint work (storage/sqlite-checkpointer.ts); counted per execution, as Kysely prepares once per execution.
    if (!READ_ONLY_STATEMENT.test(source)) {
      writes.count++;
      writes.noted?.();
    }
    const cached = cache.get(source);
    if (cached && !cached.busy) return cached;
    const statement = prepare(source);
    if (!cached) {
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      cache.set(source, statement);
    }
    return statement;
  };
  // Kysely prepares once per execution, so counting prepares counts statements.
  const counted = (source: string): SQLite.Statement => {
    countStatement(source);
    return timeStatements ? timed(source, cachedPrepare(source)) : cachedPrepare(source);
  };
  database.prepare = (statementCounter.enabled ? counted : cachedPrepare) as SQLite.Database['prepare'];
  return database;
}

/** Development only (`KAIROS_COUNT_STATEMENTS=time`): the statement's run/all/get timed into `statementCounter.byText`. */
function timed(source: string, statement: SQLite.Statement): SQLite.Statement {
  const entry = (statementCounter.byText[source] ??= { count: 0, micros: 0, cpuMicros: 0 });
  const wrap = <F extends (...args: never[]) => unknown>(fn: F): F =>
    ((...args: Parameters<F>) => {
      const started = process.hrtime.bigint();
      const cpu = process.cpuUsage();
      try {
        return fn.apply(statement, args);
      } finally {
        const used = process.cpuUsage(cpu);
        entry.count++;
        entry.micros += Number(process.hrtime.bigint() - started) / 1000;
        entry.cpuMicros += used.user + used.system;
      }
    }) as F;
  return {
    reader: statement.reader,
    get busy() {
      return statement.busy;
    },
    run: wrap(statement.run),
    all: wrap(statement.all),
    get: wrap(statement.get),
    iterate: statement.iterate.bind(statement),
  } as unknown as SQLite.Statement;
}

/** A unique-constraint violation, whatever the dialect. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/**
 * Which constraint a database error broke, whatever the dialect (for the error handler's 404/409/400 answers):
 * `foreign_key` (PostgreSQL 23503, SQLite SQLITE_CONSTRAINT_FOREIGNKEY), `unique`, or `invalid_text` (PostgreSQL
 * 22021 invalid byte sequence, 22P05 untranslatable character, 22001 value too long); null for anything else.
 */
export function databaseConstraintError(error: unknown): 'foreign_key' | 'unique' | 'invalid_text' | null {
  const code = (error as { code?: string } | null)?.code;
  if (code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return 'foreign_key';
  if (isUniqueViolation(error)) return 'unique';
  if (code === '22021' || code === '22P05' || code === '22001') return 'invalid_text';
  return null;
}

/** Rows changed by an UPDATE/DELETE, as a number (Kysely reports bigint). */
export function affectedRows(result: { numUpdatedRows?: bigint; numDeletedRows?: bigint } | undefined): number {
  return Number(result?.numUpdatedRows ?? result?.numDeletedRows ?? 0n);
}
