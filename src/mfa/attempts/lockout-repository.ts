import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../../storage/db.js';
import { affectedRows } from '../../storage/db.js';

/** One identity's second-factor failure state (table `mfa_lockouts`). Times are Unix milliseconds. */
export interface LockoutState {
  identityId: string;
  consecutiveFailures: number;
  lastFailureAtMs: number | null;
  nextAttemptAtMs: number | null;
  lockedAtMs: number | null;
  /** Whether the row exists (false: the identity never failed a second factor). */
  stored: boolean;
}

const EMPTY = (identityId: string): LockoutState => ({
  identityId,
  consecutiveFailures: 0,
  lastFailureAtMs: null,
  nextAttemptAtMs: null,
  lockedAtMs: null,
  stored: false,
});

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * Every write is a single statement whose WHERE clause re-checks what the caller read, checked by its row count, so
 * instances sharing the database never both take the same slot (compare-and-swap on `consecutive_failures`). Under
 * PostgreSQL's READ COMMITTED a conditional UPDATE that waited for a concurrent one re-evaluates its WHERE clause on
 * the committed row (storage/unit-of-work.ts).
 *
 * Delays: with `databaseNow` (the database's clock, an SQL expression) the next allowed attempt is set and compared
 * with it inside those statements, so an instance whose own clock runs ahead cannot skip a delay (issue 14, finding
 * 4); without it (an injected clock) `nowMs` is used.
 */
export class LockoutRepository {
  constructor(private readonly db: Db) {}

  async get(identityId: string, db: Db = this.db): Promise<LockoutState> {
    const row = await db.selectFrom('mfa_lockouts').selectAll().where('identity_id', '=', identityId).executeTakeFirst();
    if (!row) return EMPTY(identityId);
    return {
      identityId,
      consecutiveFailures: Number(row.consecutive_failures),
      lastFailureAtMs: num(row.last_failure_at),
      nextAttemptAtMs: num(row.next_attempt_at),
      lockedAtMs: num(row.locked_at),
      stored: true,
    };
  }

  /**
   * Counts one failure, if and only if the identity's state is still the one read (`expectedFailures`), nothing is
   * locked, the delay has passed and the count is below `maxFailures`; sets the next delay and, when `lock`, the hard
   * lock, in the same statement (an upsert: the row is created by the first failure). True: this failure counted.
   */
  async chargeFailure(
    db: Db,
    input: {
      identityId: string;
      expectedFailures: number;
      failures: number;
      maxFailures: number;
      nowMs: number;
      /** The wait before the next attempt (null: none). */
      delayMs: number | null;
      lock: boolean;
      databaseNow: RawBuilder<number> | null;
    },
  ): Promise<boolean> {
    const now = input.databaseNow ?? input.nowMs;
    const values = {
      consecutive_failures: input.failures,
      last_failure_at: input.nowMs,
      next_attempt_at: input.delayMs === null ? null : input.databaseNow ? sql<number>`${input.databaseNow} + ${input.delayMs}` : input.nowMs + input.delayMs,
      locked_at: input.lock ? input.nowMs : null,
      updated_at: input.nowMs,
    };
    const row = await db
      .insertInto('mfa_lockouts')
      .values({ identity_id: input.identityId, ...values })
      .onConflict((oc) =>
        oc
          .column('identity_id')
          .doUpdateSet(values)
          .where('mfa_lockouts.consecutive_failures', '=', input.expectedFailures)
          .where('mfa_lockouts.consecutive_failures', '<', input.maxFailures)
          .where('mfa_lockouts.locked_at', 'is', null)
          .where((eb) => eb.or([eb('mfa_lockouts.next_attempt_at', 'is', null), eb('mfa_lockouts.next_attempt_at', '<=', now)])),
      )
      .returning('consecutive_failures')
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Resets the counter after a right code if the state is still the one read and not locked or delayed. */
  async resetIfUnchanged(db: Db, identityId: string, expectedFailures: number, nowMs: number, databaseNow: RawBuilder<number> | null): Promise<boolean> {
    const now = databaseNow ?? nowMs;
    const result = await db
      .updateTable('mfa_lockouts')
      .set({ consecutive_failures: 0, last_failure_at: null, next_attempt_at: null, updated_at: nowMs })
      .where('identity_id', '=', identityId)
      .where('consecutive_failures', '=', expectedFailures)
      .where('locked_at', 'is', null)
      .where((eb) => eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', now)]))
      .executeTakeFirst();
    return affectedRows(result) === 1;
  }

  /** Clears counter, delay and lock. True when there was something to clear. */
  async reset(identityId: string, nowMs: number, db: Db = this.db): Promise<boolean> {
    const result = await db
      .updateTable('mfa_lockouts')
      .set({ consecutive_failures: 0, last_failure_at: null, next_attempt_at: null, locked_at: null, updated_at: nowMs })
      .where('identity_id', '=', identityId)
      .where((eb) => eb.or([eb('consecutive_failures', '>', 0), eb('locked_at', 'is not', null)]))
      .executeTakeFirst();
    return affectedRows(result) === 1;
  }
}

/** The identity `i.id`'s lockout row as one JSON scalar (a session fact), so a second-factor step reads no row of its own. */
export function lockoutFact(dialect: 'sqlite' | 'postgres'): RawBuilder<unknown> {
  if (dialect === 'postgres') return sql`(select json_build_array(l.consecutive_failures, l.last_failure_at, l.next_attempt_at, l.locked_at) from mfa_lockouts l where l.identity_id = i.id)`;
  return sql`(select json_array(l.consecutive_failures, l.last_failure_at, l.next_attempt_at, l.locked_at) from mfa_lockouts l where l.identity_id = i.id)`;
}

/** The state a `lockoutFact` loaded (no row: never failed). */
export function lockoutFromFact(identityId: string, value: unknown): LockoutState {
  if (value === null || value === undefined) return EMPTY(identityId);
  const [failures, last, next, locked] = (typeof value === 'string' ? JSON.parse(value) : value) as (number | null)[];
  return { identityId, consecutiveFailures: Number(failures), lastFailureAtMs: num(last), nextAttemptAtMs: num(next), lockedAtMs: num(locked), stored: true };
}
