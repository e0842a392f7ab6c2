/**
 * A store for `@fastify/rate-limit` over the database's counters (storage/rate-limit-counters.ts), so every instance
 * sharing the database shares them.
 *
 * The plugin makes one child store per route (`child`), as its Redis store does: counters are per route and key.
 */
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { RateLimitCounters } from '../../storage/rate-limit-counters.js';

type Callback = (error: Error | null, result?: { current: number; ttl: number }) => void;

export function databaseRateLimitStore(counters: RateLimitCounters): FastifyRateLimitStoreCtor {
  const increment = (key: string, windowMs: number, max: number) => counters.increment(key, windowMs, max);
  const read = (key: string) => counters.read(key);

  class DatabaseStore implements FastifyRateLimitStore {
    constructor(private readonly prefix = '') {}

    incr(key: string, callback: Callback, timeWindow: number, max: number): void {
      increment(this.prefix + key, timeWindow, max).then((r) => callback(null, r), (err: Error) => callback(err));
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
