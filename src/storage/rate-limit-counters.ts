/**
 * Rate-limit counters in Kairos's own database (`rate_limit_counters`), so every instance sharing the database shares
 * them: N instances enforce one limit, not N × the limit (issue 14, finding 3). The Fastify store around them is
 * http/plugins/rate-limit-store.ts.
 *
 * A counter is a fixed window: one atomic upsert per request (`INSERT … ON CONFLICT DO UPDATE … RETURNING`, on both
 * dialects) either starts a new window or adds one hit, and returns the hits and the time left. The window is
 * measured with the database's clock, so instances whose clocks disagree still share one window. Windows that ended
 * are deleted by the periodic maintenance job (`purgeExpired`), never on a request.
 *
 * Leases (issue 12: the limit must not cost a database write on every request of a busy client). A key that keeps
 * coming back to this instance takes several hits at once: the upsert adds `lease` hits and this instance hands out
 * those positions (counts) one by one from memory until they are used or the window ends. The bound stays exact
 * across instances: a position is handed out once, and a request is refused when its position is past `max`, so all
 * instances together never admit more than `max` per window. What a lease costs: positions another instance took
 * but did not use count against the limit, so with several instances a client can be refused up to
 * (instances − 1) × (lease − 1) requests early. The lease starts at 1 (a client's first request in a window costs
 * one upsert, as without leases), doubles each time the key comes back in the same window, and never exceeds
 * max / LEASE_FRACTION_OF_MAX (so it is 1, exact per request, for limits under 32) nor LEASE_MAX_HITS.
 */
import { sql } from 'kysely';
import type { Db, DialectName, Storage } from './db.js';
import { prepareQuery } from './prepared.js';

/** Windows are deleted once they ended more than this long ago (a late request still finds its window). */
const CLEANUP_GRACE_MS = 60_000;

/** The database's clock in epoch milliseconds (the one place this store's SQL differs by dialect). */
function databaseNowMs(dialect: DialectName) {
  return dialect === 'postgres'
    ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`
    : sql<number>`cast(unixepoch('subsec') * 1000 as integer)`;
}

/** A lease is at most this fraction of the limit: with the default 120/min, 7 positions. */
const LEASE_FRACTION_OF_MAX = 16;
/** Positions taken at once at most (a flood beyond the limit then costs one upsert per this many requests). */
const LEASE_MAX_HITS = 64;
/** Keys whose lease this instance remembers; the oldest are forgotten first (a forgotten key just leases anew). */
const LEASES_KEPT = 10_000;

interface Lease {
  /** The next position to hand out, and the last one this instance holds. */
  next: number;
  last: number;
  size: number;
  /** When the window ends, on this process's monotonic clock (performance.now()). */
  endsAtMonotonicMs: number;
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

  private readonly leases = new Map<string, Lease>();
  private readonly pendingLeases = new Map<string, Promise<void>>();

  /**
   * Adds a hit to `key`'s window (starting a new window of `windowMs` when the last one ended) and returns this
   * hit's position in the window; `max` (the limit the caller enforces) sizes the lease, see the file comment.
   */
  async increment(key: string, windowMs: number, max = 1): Promise<RateLimitCount> {
    for (;;) {
      const nowMonotonicMs = performance.now();
      const lease = this.leases.get(key);
      const live = lease !== undefined && nowMonotonicMs < lease.endsAtMonotonicMs;
      if (live && lease.next <= lease.last) return { current: lease.next++, ttl: Math.ceil(lease.endsAtMonotonicMs - nowMonotonicMs) };
      // Requests arriving while this instance is already taking a lease for the key wait for it instead of each
      // sending an upsert of their own (50 concurrent requests of one client: one upsert, not 50).
      const pending = this.pendingLeases.get(key);
      if (pending) {
        await pending;
        continue;
      }
      const cap = Math.max(1, Math.min(LEASE_MAX_HITS, Math.floor(max / LEASE_FRACTION_OF_MAX)));
      if (cap === 1) return this.add(key, windowMs, 1).then(({ hits, ttl }) => ({ current: hits, ttl }));
      const size = live ? Math.min(cap, lease.size * 2) : 1;
      const taking = this.add(key, windowMs, size).then(({ hits, ttl }) => {
        this.leases.delete(key); // re-inserted at the end: the map's order is least recently leased first
        this.leases.set(key, { next: hits - size + 1, last: hits, size, endsAtMonotonicMs: performance.now() + ttl });
        if (this.leases.size > LEASES_KEPT) this.leases.delete(this.leases.keys().next().value!);
      });
      this.pendingLeases.set(key, taking);
      try {
        await taking;
      } finally {
        this.pendingLeases.delete(key);
      }
    }
  }

  /**
   * Adds one hit to `key`'s window inside the caller's transaction `trx` (no lease: the hit commits or rolls back
   * with the step it limits, and costs no commit of its own).
   */
  async incrementIn(trx: Db, key: string, windowMs: number): Promise<RateLimitCount> {
    const { hits, ttl } = await this.add(key, windowMs, 1, trx);
    return { current: hits, ttl };
  }

  /** One upsert: `hits` more in `key`'s window (a new window when the last one ended); the total and time left. */
  private async add(key: string, windowMs: number, hits: number, db: Db = this.storage.db): Promise<{ hits: number; ttl: number }> {
    const row = await this.upsert.takeFirst(db, { key, hits, windowMs });
    return { hits: Number(row!.hits), ttl: Math.max(0, Number(row!.ttl_ms)) };
  }

  /** The upsert, compiled once (storage/prepared.ts). */
  private readonly upsert = prepareQuery((db, p: { key: string; hits: number; windowMs: number }) => {
    const now = this.now;
    return db
      .insertInto('rate_limit_counters')
      .values({ key: p.key, hits: p.hits, window_ends_at: sql<number>`${now} + ${p.windowMs}` })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({
          hits: sql<number>`case when rate_limit_counters.window_ends_at <= ${now} then ${p.hits} else rate_limit_counters.hits + ${p.hits} end`,
          window_ends_at: sql<number>`case when rate_limit_counters.window_ends_at <= ${now} then ${now} + ${p.windowMs} else rate_limit_counters.window_ends_at end`,
        }),
      )
      .returning(['hits', sql<number>`window_ends_at - ${now}`.as('ttl_ms')]);
  }, ['key', 'hits', 'windowMs']);

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
