/**
 * Rate-limit counters in Kairos's own database (`rate_limit_counters`), so every instance sharing the database shares
 * them: N instances enforce one limit, not N × the limit (issue 14, finding 3). The Fastify store around them is
 * http/plugins/rate-limit-store.ts.
 *
 * A counter is a fixed window: one atomic upsert per request (`INSERT … ON CONFLICT DO UPDATE … RETURNING`, on both
 * dialects) either starts a new window or adds one hit, and returns the hits and the time left. The window is
 * measured with the database's clock, so instances whose clocks disagree still share one window. Windows that ended
 * are deleted by the periodic maintenance job (`purgeExpired`), never on a request.
 */
import { sql } from 'kysely';
import type { DialectName, Storage } from './db.js';

/** Windows are deleted once they ended more than this long ago (a late request still finds its window). */
const CLEANUP_GRACE_MS = 60_000;

/** The database's clock in epoch milliseconds (also the lockout delays' clock, mfa/attempts/lockout-repository.ts). */
export function databaseNowMs(dialect: DialectName) {
  return dialect === 'postgres'
    ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`
    : sql<number>`cast(unixepoch('subsec') * 1000 as integer)`;
}

export interface RateLimitCount {
  current: number;
  /** Milliseconds until the window ends. */
  ttl: number;
}

export class RateLimitCounters {
  private readonly now;

  constructor(private readonly storage: Pick<Storage, 'db' | 'dialect'>) {
    this.now = databaseNowMs(storage.dialect);
  }

  /** Adds a hit to `key`'s window (starting a new window of `windowMs` when the last one ended). */
  async increment(key: string, windowMs: number): Promise<RateLimitCount> {
    const { db } = this.storage;
    const now = this.now;
    const row = await db
      .insertInto('rate_limit_counters')
      .values({ key, hits: 1, window_ends_at: sql<number>`${now} + ${windowMs}` })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({
          hits: sql<number>`case when rate_limit_counters.window_ends_at <= ${now} then 1 else rate_limit_counters.hits + 1 end`,
          window_ends_at: sql<number>`case when rate_limit_counters.window_ends_at <= ${now} then ${now} + ${windowMs} else rate_limit_counters.window_ends_at end`,
        }),
      )
      .returning(['hits', sql<number>`window_ends_at - ${now}`.as('ttl_ms')])
      .executeTakeFirstOrThrow();
    return { current: Number(row.hits), ttl: Math.max(0, Number(row.ttl_ms)) };
  }

  /** Deletes windows that ended more than a minute ago, by the database's clock (maintenance job); returns how many. */
  async purgeExpired(): Promise<number> {
    const result = await this.storage.db.deleteFrom('rate_limit_counters').where('window_ends_at', '<', sql<number>`${this.now} - ${CLEANUP_GRACE_MS}`).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async read(key: string): Promise<RateLimitCount> {
    const row = await this.storage.db
      .selectFrom('rate_limit_counters')
      .select(['hits', sql<number>`window_ends_at - ${this.now}`.as('ttl_ms')])
      .where('key', '=', key)
      .where('window_ends_at', '>', this.now)
      .executeTakeFirst();
    return row ? { current: Number(row.hits), ttl: Number(row.ttl_ms) } : { current: 0, ttl: 0 };
  }
}
