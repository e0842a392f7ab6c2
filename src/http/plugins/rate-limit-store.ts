/**
 * Stores for `@fastify/rate-limit`: the database's counters (storage/rate-limit-counters.ts), so every instance
 * sharing the database shares them, and the wrapper that makes any store's failure a 503.
 *
 * The plugin makes one child store per route (`child`), as its Redis store does: counters are per route and key.
 */
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import RedisStore from '@fastify/rate-limit/store/RedisStore.js';
import type { Redis } from 'ioredis';
import type { RateLimitCounters } from '../../storage/rate-limit-counters.js';

type Callback = (error: Error | null, result?: { current: number; ttl: number }) => void;
type RouteParams = Parameters<FastifyRateLimitStore['child']>[0];

export function databaseRateLimitStore(counters: RateLimitCounters): FastifyRateLimitStoreCtor {
  const increment = (key: string, windowMs: number, max: number) => counters.increment(key, windowMs, max);
  const read = (key: string) => counters.read(key);

  class DatabaseStore implements FastifyRateLimitStore {
    private readonly prefix: string;
    // The plugin constructs the root store with its options object; only children get a (string) prefix.
    constructor(prefix?: unknown) {
      this.prefix = typeof prefix === 'string' ? prefix : '';
    }

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

/** The plugin's own Redis store (the one it builds from its `redis` option), built here so it can be wrapped. */
export function redisRateLimitStore(redis: Redis, nameSpace: string): FastifyRateLimitStoreCtor {
  return class {
    constructor(options: { continueExceeding?: boolean; exponentialBackoff?: boolean }) {
      return new RedisStore(options.continueExceeding ?? false, options.exponentialBackoff ?? false, redis, nameSpace);
    }
  } as unknown as FastifyRateLimitStoreCtor;
}

/**
 * `Store` whose failures (the database or Redis unreachable, a statement refused) reach the plugin as
 * `asError(cause)` instead of the store's own error. The plugin throws what the store reports from the route's
 * hook, before the handler runs, so a limited request whose count cannot be taken fails closed and writes nothing;
 * `asError` decides what the client sees (a 503 in Kratos's shape, rate-limit.ts), instead of a 500 that says
 * Kairos broke.
 */
export function failingAs(Store: FastifyRateLimitStoreCtor, asError: (cause: Error) => Error): FastifyRateLimitStoreCtor {
  const wrap = (store: FastifyRateLimitStore): FastifyRateLimitStore => {
    const answer = (callback: Callback): Callback => (error, result) => (error ? callback(asError(error)) : callback(null, result));
    const read = (store as { read?: (key: string, callback: Callback, timeWindow: number, max: number) => void }).read?.bind(store);
    return {
      incr: (key, callback, timeWindow, max) => store.incr(key, answer(callback), timeWindow, max),
      ...(read ? { read: (key: string, callback: Callback, timeWindow: number, max: number) => read(key, answer(callback), timeWindow, max) } : {}),
      child: (routeOptions: RouteParams) => wrap(store.child(routeOptions)),
    };
  };
  return class {
    constructor(options: ConstructorParameters<FastifyRateLimitStoreCtor>[0]) {
      return wrap(new Store(options));
    }
  } as unknown as FastifyRateLimitStoreCtor;
}
