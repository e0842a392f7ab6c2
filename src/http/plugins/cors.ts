/**
 * CORS for the public API with Kratos's `serve.public.cors` keys, through @fastify/cors.
 *
 * - `allowed_origins`: exact origins, or with one wildcard (`https://*.example.org`); a matching Origin is echoed.
 *   `*` answers a literal `Access-Control-Allow-Origin: *` (as rs/cors does in Kratos), never an echo of any origin,
 *   so browsers refuse credentialed cross-origin reads from arbitrary sites even with `allow_credentials`.
 * - A refused origin gets no CORS headers at all, so the browser blocks the response; the request itself is
 *   answered as usual (CSRF protection still applies to browser flows).
 * - `options_passthrough` hands preflights on to the routes; `debug` logs every decision at debug level.
 */
import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { CorsConfig } from '../../config/schema.js';
import { corsOriginMatcher } from '../../config/cors.js';

export async function registerCors(app: FastifyInstance, config: CorsConfig, logger: Logger): Promise<void> {
  if (!config.enabled) return;
  const any = config.allowed_origins.includes('*');
  const allowed = corsOriginMatcher(config.allowed_origins);
  await app.register(cors, {
    origin: any
      ? '*'
      : (origin, callback) => {
          // No Origin header: not a cross-origin browser request, nothing to decide.
          if (origin === undefined) return callback(null, false);
          const ok = allowed(origin);
          if (config.debug) logger.debug({ origin, allowed: ok }, 'cors: origin checked');
          callback(null, ok);
        },
    credentials: config.allow_credentials,
    methods: config.allowed_methods,
    allowedHeaders: config.allowed_headers,
    exposedHeaders: config.exposed_headers,
    ...(config.max_age > 0 ? { maxAge: config.max_age } : {}),
    preflightContinue: config.options_passthrough,
    // Kratos (rs/cors) answers a preflight without Access-Control-Request-Method as a plain OPTIONS, not an error.
    strictPreflight: false,
  });
}
