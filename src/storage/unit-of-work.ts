/**
 * The unit of work: one database transaction per self-service submission (DESIGN §3, issue 12).
 *
 * The flow engine opens it (`Storage.transaction`) and passes the transaction (`trx`, first argument, as in Kysely's
 * examples) to strategies, the second-factor guard, sessions, flows, the courier outbox and the audit log, so
 * everything a step decides commits together or not at all.
 *
 * ## Isolation and lock order (PostgreSQL)
 *
 * READ COMMITTED (PostgreSQL's default), with every single-use and counting decision made by one conditional
 * statement whose row count or RETURNING row is the answer (`UPDATE … WHERE last_used_step < $step`, `… WHERE
 * used_at IS NULL`, `… WHERE consecutive_failures < $max`). Under READ COMMITTED a conditional UPDATE that waited for
 * a concurrent writer re-evaluates its WHERE clause against the committed row, so two steps can never both consume
 * the same code or both take the last attempt; SERIALIZABLE would add retries without adding a guarantee.
 *
 * Rows are locked in one fixed order, so two steps never wait for each other in a cycle (no deadlock):
 *   1. the flow row (`SELECT … FOR UPDATE` when the submission loads it): concurrent submissions of one flow queue;
 *   1b. the identity's per-identity rate-limit counter (`rate_limit_counters`, one upsert; flows/engine.ts
 *      `stepLimits`): steps of one identity on different flows queue here until the first commits;
 *   2. the identity's lockout row (`mfa_lockouts`, charged or reset by one statement);
 *   3. the identity's credential rows (`identity_credentials`, `totp_credentials`, `lookup_secret_codes`): inserted
 *      (enrollment; a concurrent enrollment waits on the unique key, then fails with CredentialExistsError) or
 *      consumed by a conditional UPDATE;
 *   4. the session row (AMR appended by one statement);
 *   5. inserts only (audit events, courier outbox, new sessions), which take no lock another step waits for.
 * A step that does not need a level skips it but never goes back to an earlier one.
 *
 * ## SQLite
 *
 * better-sqlite3 is synchronous and Kysely's SQLite driver has one connection guarded by a mutex: a transaction holds
 * it for its whole length, so steps of one process run one after the other. Step transactions start with
 * `BEGIN IMMEDIATE` (the write lock is taken at the start, so two processes sharing the file never both read and then
 * fail to upgrade: `busy_timeout` makes the second one wait instead of failing with SQLITE_BUSY).
 *
 * ## Code that still uses the root `Db` inside a step
 *
 * A query on the root Kysely instance, issued from inside a step (same async context), joins the step's transaction
 * instead of taking another connection: on SQLite another connection would wait forever for the mutex the step
 * holds, and on PostgreSQL it would commit on its own and could wait for a row lock the step holds. A nested
 * `db.transaction()` inside a step becomes a SAVEPOINT. Passing `trx` explicitly remains the rule; this only keeps
 * code that does not yet take one atomic with its step.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type TransactionSettings,
  sql,
} from 'kysely';

interface StepState {
  /** The connection of the step's transaction, once it began; null after it ended. */
  connection: DatabaseConnection | null;
  /** Nested `db.transaction()` calls inside the step, each a savepoint. */
  savepoints: number;
  /** Callbacks to run once the step committed (outside its context), e.g. waking the courier. */
  afterCommit: (() => void)[];
}

const steps = new AsyncLocalStorage<StepState>();

/** Observer of every statement sent to the database (BEGIN/COMMIT included); for the bench and tests only. */
let statementObserver: ((sql: string) => void) | null = null;

/** Sets (or clears, with null) the statement observer; returns the previous one. */
export function observeStatements(observer: ((sql: string) => void) | null): ((sql: string) => void) | null {
  const previous = statementObserver;
  statementObserver = observer;
  return previous;
}

const observed = new WeakMap<DatabaseConnection, DatabaseConnection>();
const unwrapped = new WeakMap<DatabaseConnection, DatabaseConnection>();

/** The connection, reporting each statement to the observer when one is set. */
function observe(connection: DatabaseConnection): DatabaseConnection {
  let wrapped = observed.get(connection);
  if (!wrapped) {
    wrapped = {
      executeQuery: (query) => {
        statementObserver?.(query.sql);
        return connection.executeQuery(query);
      },
      streamQuery: (query, chunkSize) => {
        statementObserver?.(query.sql);
        return connection.streamQuery(query, chunkSize);
      },
    };
    observed.set(connection, wrapped);
    unwrapped.set(wrapped, connection);
  }
  return wrapped;
}

/** Wraps a dialect so its transactions are step-aware (see the module comment). */
export class UnitOfWorkDialect implements Dialect {
  constructor(
    private readonly inner: Dialect,
    private readonly options: { beginStatement: string | null },
  ) {}

  createDriver(): Driver {
    return new UnitOfWorkDriver(this.inner.createDriver(), this.options.beginStatement);
  }

  createQueryCompiler(): QueryCompiler {
    return this.inner.createQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return this.inner.createAdapter();
  }

  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return this.inner.createIntrospector(db);
  }
}

class UnitOfWorkDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    /** SQLite: `begin immediate`; null: the inner driver's own BEGIN (PostgreSQL, READ COMMITTED). */
    private readonly beginStatement: string | null,
  ) {}

  init(): Promise<void> {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const step = steps.getStore();
    if (step?.connection) return step.connection;
    return observe(await this.inner.acquireConnection());
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const step = steps.getStore();
    if (step && step.connection === connection) {
      step.savepoints++;
      await connection.executeQuery(CompiledQuery.raw(`savepoint kairos_nested_${step.savepoints}`));
      return;
    }
    if (this.beginStatement && !settings.isolationLevel && !settings.accessMode) await connection.executeQuery(CompiledQuery.raw(this.beginStatement));
    else await this.inner.beginTransaction(connection, settings);
    if (step && step.connection === null) step.connection = connection;
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const step = steps.getStore();
    if (step && step.connection === connection && step.savepoints > 0) {
      await connection.executeQuery(CompiledQuery.raw(`release savepoint kairos_nested_${step.savepoints}`));
      step.savepoints--;
      return;
    }
    if (step && step.connection === connection) step.connection = null;
    await this.inner.commitTransaction(connection);
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const step = steps.getStore();
    if (step && step.connection === connection && step.savepoints > 0) {
      await connection.executeQuery(CompiledQuery.raw(`rollback to savepoint kairos_nested_${step.savepoints}`));
      step.savepoints--;
      return;
    }
    if (step && step.connection === connection) step.connection = null;
    await this.inner.rollbackTransaction(connection);
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const step = steps.getStore();
    // A root query that joined the step: the step's transaction releases the connection when it ends.
    if (step?.connection === connection) return;
    await this.inner.releaseConnection(unwrapped.get(connection) ?? connection);
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }

  savepoint(...args: Parameters<NonNullable<Driver['savepoint']>>): Promise<void> {
    return this.inner.savepoint!(...args);
  }

  rollbackToSavepoint(...args: Parameters<NonNullable<Driver['rollbackToSavepoint']>>): Promise<void> {
    return this.inner.rollbackToSavepoint!(...args);
  }

  releaseSavepoint(...args: Parameters<NonNullable<Driver['releaseSavepoint']>>): Promise<void> {
    return this.inner.releaseSavepoint!(...args);
  }
}

/** Runs `fn` as one step: a transaction that root queries issued inside it join (see the module comment). */
export async function runStep<DB, T>(db: Kysely<DB>, fn: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
  // Already inside a step: a savepoint of it, never a second connection.
  if (inStep()) return db.transaction().execute(fn);
  const state: StepState = { connection: null, savepoints: 0, afterCommit: [] };
  const result = await steps.run(state, () => db.transaction().execute(fn));
  // Committed: whatever waited for it runs outside the step's context (it must never join a finished step).
  steps.exit(() => {
    for (const callback of state.afterCommit) callback();
  });
  return result;
}

/**
 * Runs `callback` once the current step committed (never if it rolls back), outside the step's async context; right
 * away (on the next turn) when there is no step. Work started from inside a step would otherwise join it.
 */
export function afterCommit(callback: () => void): void {
  const step = steps.getStore();
  if (step?.connection) step.afterCommit.push(callback);
  else steps.exit(() => setImmediate(callback));
}

/** Whether the caller runs inside a step's transaction. */
export function inStep(): boolean {
  return steps.getStore()?.connection != null;
}

let savepointSequence = 0;

/**
 * Runs `fn` inside a savepoint of the transaction `trx`: when `fn` throws, only its writes are undone and the step's
 * transaction stays usable (PostgreSQL aborts the whole transaction on an error, e.g. an expected unique violation,
 * unless it happened inside a savepoint). Outside a transaction, runs `fn` in one.
 */
export async function withSavepoint<DB, T>(trx: Kysely<DB>, fn: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
  if (!trx.isTransaction) return trx.transaction().execute(fn);
  const name = sql.id(`kairos_sp_${(savepointSequence = (savepointSequence + 1) % 1_000_000)}`);
  await sql`savepoint ${name}`.execute(trx);
  try {
    const result = await fn(trx);
    await sql`release savepoint ${name}`.execute(trx);
    return result;
  } catch (err) {
    await sql`rollback to savepoint ${name}`.execute(trx);
    throw err;
  }
}
