import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import type { Database } from './tables.js';

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
}

// PostgreSQL returns int8 (bigint) as strings by default; every bigint column here holds milliseconds or counters
// well inside Number.MAX_SAFE_INTEGER.
pg.types.setTypeParser(20, (value) => Number(value));

export function dialectOf(dsn: string): DialectName {
  if (/^postgres(ql)?:\/\//.test(dsn)) return 'postgres';
  if (dsn === 'memory' || dsn.startsWith('sqlite:') || dsn.startsWith('file:')) return 'sqlite';
  throw new TypeError(`dsn: unsupported scheme in "${dsn.replace(/\/\/[^@]*@/, '//***@')}" (use sqlite://… or postgres://…)`);
}

/** `sqlite:///abs/path.db`, `sqlite://./relative.db?_fk=true`, `sqlite://file::memory:`, `memory`. */
export function sqlitePath(dsn: string): string {
  if (dsn === 'memory' || dsn.includes(':memory:')) return ':memory:';
  const withoutScheme = dsn.replace(/^sqlite:\/\//, '').replace(/^file:/, '');
  const path = withoutScheme.split('?')[0]!;
  return resolve(path);
}

export function openStorage(dsn: string, options: { poolSize?: number; readOnly?: boolean } = {}): Storage {
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
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) });
    return {
      db,
      dialect,
      schema: null,
      description: `sqlite ${path}`,
      ping: async () => {
        await sql`select 1`.execute(db);
      },
      close: () => db.destroy(),
    };
  }
  const url = new URL(dsn);
  // Kairos extension: ?search_path=schema puts every table in that schema (tests use one schema per run).
  const searchPath = url.searchParams.get('search_path');
  url.searchParams.delete('search_path');
  const pool = new pg.Pool({
    connectionString: url.toString(),
    max: options.poolSize ?? 10,
    ...(searchPath || options.readOnly
      ? { options: [searchPath ? `-c search_path=${searchPath}` : '', options.readOnly ? '-c default_transaction_read_only=on' : ''].filter(Boolean).join(' ') }
      : {}),
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    dialect,
    schema: searchPath,
    description: `postgres ${url.host}${url.pathname}${searchPath ? ` (schema ${searchPath})` : ''}`,
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: () => db.destroy(),
  };
}

/** Statements kept compiled per SQLite connection; the SQL texts Kairos issues are a few hundred at most. */
const STATEMENT_CACHE_SIZE = 1000;

/**
 * Kysely's SQLite driver calls `prepare()` for every query, and better-sqlite3 compiles the SQL each time (about a
 * tenth of a TOTP step's CPU in the bench profile). Statements are reusable once a query has run to completion, so
 * they are cached by SQL text. The one exception is a statement being iterated (Kysely's `.stream()`, which Kairos
 * does not use): a busy statement is never handed out, a fresh one is prepared instead.
 */
function withStatementCache(database: SQLite.Database): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  const prepare = database.prepare.bind(database);
  const cachedPrepare = (source: string): SQLite.Statement => {
    const cached = cache.get(source);
    if (cached && !cached.busy) return cached;
    const statement = prepare(source);
    if (!cached) {
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      cache.set(source, statement);
    }
    return statement;
  };
  database.prepare = cachedPrepare as SQLite.Database['prepare'];
  return database;
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
