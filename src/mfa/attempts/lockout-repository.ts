import type { Db } from '../../identity/repository.js';
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
 * instances sharing the database never both take the same slot (compare-and-swap on `consecutive_failures`).
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

  /** Creates the identity's row if it has none (idempotent, safe under concurrency). */
  async ensure(identityId: string, nowMs: number): Promise<void> {
    await this.db
      .insertInto('mfa_lockouts')
      .values({ identity_id: identityId, consecutive_failures: 0, last_failure_at: null, next_attempt_at: null, locked_at: null, updated_at: nowMs })
      .onConflict((oc) => oc.column('identity_id').doNothing())
      .execute();
  }

  /**
   * Counts one failure in advance for an attempt about to be checked, if and only if the state is still the one read
   * (`expectedFailures`), nothing is locked, and the delay has passed. True: this caller owns the slot.
   */
  async chargeFailure(input: { identityId: string; expectedFailures: number; nowMs: number; nextAttemptAtMs: number | null }): Promise<boolean> {
    const result = await this.db
      .updateTable('mfa_lockouts')
      .set({
        consecutive_failures: input.expectedFailures + 1,
        last_failure_at: input.nowMs,
        next_attempt_at: input.nextAttemptAtMs,
        updated_at: input.nowMs,
      })
      .where('identity_id', '=', input.identityId)
      .where('consecutive_failures', '=', input.expectedFailures)
      .where('locked_at', 'is', null)
      .where((eb) => eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', input.nowMs)]))
      .executeTakeFirst();
    return affectedRows(result) === 1;
  }

  /** Sets the hard lock once the count reached `maxFailures`. True only for the caller that set it. */
  async lockIfReached(identityId: string, maxFailures: number, nowMs: number): Promise<boolean> {
    const result = await this.db
      .updateTable('mfa_lockouts')
      .set({ locked_at: nowMs, updated_at: nowMs })
      .where('identity_id', '=', identityId)
      .where('locked_at', 'is', null)
      .where('consecutive_failures', '>=', maxFailures)
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
