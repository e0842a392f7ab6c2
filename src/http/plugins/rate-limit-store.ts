/**
 * A store for `@fastify/rate-limit` in Kairos's own database, so every instance sharing the database shares the
 * counters: N instances enforce one limit, not N × the limit (issue 14, finding 3). PostgreSQL deployments need
 * nothing new; on SQLite (one instance) it is the same code.
 *
 * A counter is a fixed window: one atomic upsert per request (`INSERT … ON CONFLICT DO UPDATE … RETURNING`, on both
 * dialects) either starts a new window or adds one hit, and returns the hits and the time left. The window is
 * measured with the database's clock, so instances whose clocks disagree still share one window. Expired rows are
 * deleted now and then by the instance that happens to write.
 *
 * The plugin makes one child store per route (`child`), as its Redis store does: counters are per route and key.
 */
import { sql, type Kysely } from 'kysely';
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Database } from '../../storage/tables.js';
import type { DialectName } from '../../storage/db.js';

/** One upsert in this many also deletes windows that ended more than a minute ago. */
const CLEANUP_EVERY_N_WRITES = 500;
const CLEANUP_GRACE_MS = 60_000;

/** The database's clock in epoch milliseconds (the one place this store's SQL differs by dialect). */
function databaseNowMs(dialect: DialectName) {
  return dialect === 'postgres'
    ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`
    : sql<number>`cast(unixepoch('subsec') * 1000 as integer)`;
}

type Callback = (error: Error | null, result?: { current: number; ttl: number }) => void;

export function databaseRateLimitStore(db: Kysely<Database>, dialect: DialectName): FastifyRateLimitStoreCtor {
  const now = databaseNowMs(dialect);
  let writes = 0;

  async function increment(key: string, windowMs: number): Promise<{ current: number; ttl: number }> {
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
    if (++writes % CLEANUP_EVERY_N_WRITES === 0) {
      await db.deleteFrom('rate_limit_counters').where('window_ends_at', '<', sql<number>`${now} - ${CLEANUP_GRACE_MS}`).execute();
    }
    return { current: Number(row.hits), ttl: Math.max(0, Number(row.ttl_ms)) };
  }

  async function read(key: string): Promise<{ current: number; ttl: number }> {
    const row = await db
      .selectFrom('rate_limit_counters')
      .select(['hits', sql<number>`window_ends_at - ${now}`.as('ttl_ms')])
      .where('key', '=', key)
      .where('window_ends_at', '>', now)
      .executeTakeFirst();
    return row ? { current: Number(row.hits), ttl: Number(row.ttl_ms) } : { current: 0, ttl: 0 };
  }

  class DatabaseStore implements FastifyRateLimitStore {
    constructor(private readonly prefix = '') {}

    incr(key: string, callback: Callback, timeWindow: number): void {
      increment(this.prefix + key, timeWindow).then((r) => callback(null, r), (err: Error) => callback(err));
    }

    read(key: string, callback: Callback): void {
      read(this.prefix + key).then((r) => callback(null, r), (err: Error) => callback(err));
    }

    // The plugin passes its merged route parameters with `routeInfo` (the route), as its Redis store expects.
    child(routeOptions: object): FastifyRateLimitStore {
      const route = (routeOptions as { routeInfo?: { method?: string | string[]; url?: string } }).routeInfo;
      const method = route?.method;
      return new DatabaseStore(`${this.prefix}${Array.isArray(method) ? method.join(',') : method ?? ''}${route?.url ?? ''}-`);
    }
  }
  return DatabaseStore as unknown as FastifyRateLimitStoreCtor;
}
