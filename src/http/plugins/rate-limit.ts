/**
 * Request limits on every public endpoint that checks a secret (issue 14, finding 3), shared by all instances.
 *
 * - Which endpoints: every non-GET route under `/self-service/` (flow submissions: passwords, TOTP and recovery
 *   codes, emailed codes; API logout) and the GET routes that take a secret in the query: the verification link
 *   (`?code=`), the recovery link (`?token=`), the MFA-reset cancel link (`?token=`) and browser logout (`?token=`).
 *   Session lookups (`/sessions/whoami`, every flow init) are not limited: a session token carries 256 bits, so
 *   limiting would add a database write to the hottest path and bound nothing an attacker could reach.
 * - Keys: the client IP (`request.ip`: the socket's address, or `X-Forwarded-For` only from
 *   `serve.public.trusted_proxies`; IPv6 clients by their /64, since one host usually holds a whole /64), counted
 *   per route; and, for submissions to a flow that names its identity (second-factor login, re-authentication,
 *   settings), the identity, across routes and IPs (with the database store, charged inside the step's own
 *   transaction; with Redis or memory, before the handler).
 * - Where the counters live: `serve.public.rate_limit.store`: `database` (default; rate-limit-store.ts), `redis`
 *   (the plugin's own Redis store, for deployments that have one), `memory` (this instance only; tests, single-node).
 */
import rateLimit, { normalizeIP, type FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Deps } from '../../deps.js';
import { errors } from '../../errors/http-error.js';
import { RateLimitCounters } from '../../storage/rate-limit-counters.js';
import { databaseRateLimitStore } from './rate-limit-store.js';
import { MFA_RESET_CANCEL_PATH } from '../../recovery/mfa-reset.js';
import { isUuid } from './input-guard.js';
import type { FlowEngine } from '../../flows/engine.js';

/** The fixed window of every limit (the config speaks of "per minute"). */
export const RATE_LIMIT_WINDOW_MS = 60_000;
/** IPv6 clients are counted by their /64 (RFC 6177: a site, often a single host, gets a /64 or more). */
const IPV6_CLIENT_PREFIX_BITS = 64;

/** GET routes that check a secret from the query string. */
export const SECRET_CHECKING_GET_ROUTES = ['/self-service/verification', '/self-service/recovery', MFA_RESET_CANCEL_PATH, '/self-service/logout'];

export function isSecretCheckingRoute(method: string, url: string): boolean {
  if (!url.startsWith('/self-service/')) return false;
  if (method === 'GET' || method === 'HEAD') return SECRET_CHECKING_GET_ROUTES.includes(url);
  return true;
}

export function clientKey(request: FastifyRequest): string {
  return 'ip:' + normalizeIP(request.ip, IPV6_CLIENT_PREFIX_BITS);
}

function tooMany(ttlMs: number) {
  const err = errors.tooManyRequests('Too many requests from this client. Retry later.', Math.ceil(ttlMs / 1000));
  (err as unknown as { statusCode: number }).statusCode = 429;
  return err;
}

/**
 * Registers the limits on `app` (call before any route is added). Returns a function that releases what it opened
 * (the Redis connection), for `close()`.
 */
export async function registerRateLimits(
  app: FastifyInstance,
  deps: Pick<Deps, 'config' | 'storage' | 'flows' | 'logger'>,
  engine: Pick<FlowEngine, 'stepLimits'>,
): Promise<() => Promise<void>> {
  const settings = deps.config.serve.public.rate_limit;
  if (!settings.enabled) return async () => {};
  let redis: Redis | null = null;
  let store: FastifyRateLimitStoreCtor | undefined;
  const counters = settings.store === 'database' ? new RateLimitCounters(deps.storage) : null;
  if (counters) store = databaseRateLimitStore(counters);
  if (settings.store === 'redis') {
    // Loaded only when configured: most deployments never need the client (and it costs start-up time).
    const { Redis: RedisClient } = await import('ioredis');
    redis = new RedisClient(settings.redis_url!, { maxRetriesPerRequest: 2 });
    // Without a listener ioredis prints every reconnect failure; limited endpoints fail closed meanwhile.
    redis.on('error', (err: Error) => deps.logger.warn({ err: { message: err.message } }, 'rate-limit store (Redis) unreachable'));
  }

  // The plugin reads `config.rateLimit` in its own onRoute hook, so this one (added first) runs before it.
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.some((m) => isSecretCheckingRoute(m, route.url))) {
      route.config = { ...(route.config as object), rateLimit: { max: settings.max_per_minute, timeWindow: RATE_LIMIT_WINDOW_MS } };
    }
  });
  await app.register(rateLimit, {
    global: false,
    max: settings.max_per_minute,
    timeWindow: RATE_LIMIT_WINDOW_MS,
    keyGenerator: clientKey,
    ...(store ? { store } : {}),
    ...(redis ? { redis, nameSpace: 'kairos-rate-limit-' } : {}),
    errorResponseBuilder: (_request, context) => tooMany(context.ttl),
  });

  // Per identity: a flow that names its identity is limited across IPs too (a botnet cannot multiply the budget).
  const identityKey = (identityId: string) => `identity:${identityId}`;
  if (counters) {
    // Database store: charged in the step's own transaction once the flow is loaded (flows/engine.ts `stepLimits`),
    // so the limit reads no flow and commits nothing of its own (issue 12: the TOTP step's statements).
    engine.stepLimits.push(async (trx, flow, request) => {
      if (!flow.identityId || request.method === 'GET' || request.method === 'HEAD') return;
      const count = await counters.incrementIn(trx, identityKey(flow.identityId), RATE_LIMIT_WINDOW_MS);
      if (count.current > settings.identity_max_per_minute) throw tooMany(count.ttl);
    });
  } else {
    const perIdentity = app.createRateLimit({
      max: settings.identity_max_per_minute,
      timeWindow: RATE_LIMIT_WINDOW_MS,
      keyGenerator: (request) => (request as FastifyRequest & { kairosLimitIdentity?: string }).kairosLimitIdentity ?? '',
    });
    app.addHook('preHandler', async (request) => {
      if (request.method === 'GET' || request.method === 'HEAD' || !request.url.startsWith('/self-service/')) return;
      const flowId = (request.query as Record<string, unknown> | undefined)?.flow;
      if (typeof flowId !== 'string' || !isUuid(flowId)) return;
      const identityId = await deps.flows.identityOf(flowId);
      if (!identityId) return;
      (request as FastifyRequest & { kairosLimitIdentity?: string }).kairosLimitIdentity = identityKey(identityId);
      const result = await perIdentity(request);
      if (!result.isAllowed && result.isExceeded) throw tooMany(result.ttl);
    });
  }
  return async () => {
    redis?.disconnect();
  };
}
