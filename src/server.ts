import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Deps } from './deps.js';
import { HttpError, errors } from './errors/http-error.js';
import { FlowEngine } from './flows/engine.js';
import { Csrf } from './http/plugins/csrf.js';
import { registerRateLimits } from './http/plugins/rate-limit.js';
import { installInputGuard } from './http/plugins/input-guard.js';
import { databaseConstraintError } from './storage/db.js';
import { LoginFlows } from './flows/login/handler.js';
import { RegistrationFlows } from './flows/registration/handler.js';
import { SettingsFlows } from './flows/settings/handler.js';
import { selfServiceRoutes, type FlowHandlers } from './http/public/self-service.js';
import { holdStepAnswers } from './http/request.js';
import { adminIdentityRoutes } from './http/admin/identities.js';
import { adminMfaRoutes } from './http/admin/mfa.js';
import { adminAuditRoutes } from './http/admin/audit.js';
import { adminSessionRoutes } from './http/admin/sessions.js';
import { adminIdentityBatchRoutes } from './http/admin/identities-batch.js';
import { adminSchemaRoutes } from './http/admin/schemas.js';
import { validationError } from './http/bodies.js';
import { publicSessionRoutes } from './http/public/sessions.js';
import { registerCors } from './http/plugins/cors.js';
import { hostedUiRoutes } from './ui/hosted/pages.js';
import type { Strategies } from './flows/strategy.js';
import type { FlowKind } from './flows/flow.js';
import type { KairosModule, ModuleContext } from './module.js';
import { accessLogger, registerSecondFactorTypes } from './registry.js';
import { pendingMigrations } from './storage/migrate.js';
import { instrumentHttp } from './audit/http-metrics.js';
import { registerOperationalGauges } from './audit/operational-gauges.js';
import { listenFailure } from './errors/fatal.js';
import { registerOpenApi } from './http/openapi.js';
import { statementCounter } from './storage/db.js';
import { configureHooks } from './hooks/configure.js';

import { KAIROS_VERSION } from './version.js';
import { MaintenanceJob } from './maintenance/job.js';
import { parseDurationMs } from './config/duration.js';

export { KAIROS_VERSION };

export interface KairosServer {
  publicApp: FastifyInstance;
  adminApp: FastifyInstance;
  engine: FlowEngine;
  modules: KairosModule[];
  deps: Deps;
  /** The periodic retention purges of every module (maintenance/job.ts), started with the server. */
  maintenance: MaintenanceJob;
  /** Listens on both ports, then starts the modules' background work (`start`). */
  listen(): Promise<{ publicUrl: string; adminUrl: string }>;
  /**
   * Starts the modules' background work without listening: for callers that drive the apps in-process with
   * `inject()` (the integration tests). `listen()` calls it.
   */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Kratos's error envelope for everything Fastify itself rejects (bad JSON, wrong content type, body too large…). */
function installErrorHandling(app: FastifyInstance, deps: Deps): void {
  app.setErrorHandler((error: FastifyError | HttpError, request, reply) => {
    if (error instanceof HttpError) {
      if (error.body.id) reply.header('ory-error-id', error.body.id);
      return reply.code(error.status).send(error.toJSON());
    }
    const status = (error as FastifyError).statusCode ?? 500;
    if (status === 429) return reply.code(429).send(errors.tooManyRequests('Too many requests from this client. Retry later.').toJSON());
    if (status >= 400 && status < 500) {
      const code = (error as FastifyError).code;
      let err: HttpError;
      if (code === 'FST_ERR_VALIDATION') err = validationError(error as FastifyError);
      else if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') err = errors.payloadTooLarge('The request body exceeds the size limit.');
      else if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') err = errors.unsupportedMediaType('Send application/json or application/x-www-form-urlencoded.');
      else err = errors.badRequest(code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'The JSON body is empty.' : error.message.replace(/^Body is not valid JSON.*$/, 'The request body is not valid JSON.'));
      if (status !== err.status && status !== 400) err.body.code = status;
      return reply.code(err.status).send(err.toJSON());
    }
    // A row this request refers to vanished or appeared meanwhile (an identity deleted while its settings flow is
    // created; two requests creating the same row): the answer is the one for the state the request lost to.
    const constraint = databaseConstraintError(error);
    if (constraint === 'foreign_key') {
      const err = errors.notFound('A resource this request refers to does not exist (any more).');
      return reply.code(404).send(err.toJSON());
    }
    if (constraint === 'unique') return reply.code(409).send(errors.conflict('The resource was created by a concurrent request.').toJSON());
    if (constraint === 'invalid_text') return reply.code(400).send(errors.badRequest('The request contains characters that cannot be stored.').toJSON());
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send(errors.internal().toJSON());
  });
  app.setNotFoundHandler((_request, reply) => reply.code(404).send(errors.notFound().toJSON()));
}

/**
 * Fastify's ajv for the route schemas (http/bodies.ts): a body is validated as sent: no coercion ("1" is not 1, a
 * string is not made an array), nothing removed, nothing defaulted, and the first problem is the one reported.
 */
// validateSchema false: the route schemas are Kairos's own (http/bodies.ts), checked against the meta-schema by
// http/bodies.test.ts; compiling ajv's meta-schema at every start cost 30–50 ms (issue 12: start-up).
const BODY_AJV_OPTIONS = { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false, validateSchema: false } as const;

function hashApiKey(key: string): string {
  return 'sha256:' + createHash('sha256').update(key).digest('hex');
}

/** Builds both listeners (public and admin) with every module; nothing listens until `listen()`. */
export async function buildServer(deps: Deps, modules: KairosModule[]): Promise<KairosServer> {
  const { config } = deps;
  registerSecondFactorTypes(deps, modules);
  const strategies: Strategies = { login: [], registration: [], settings: [] };
  for (const module of modules) {
    for (const key of Object.keys(strategies) as (keyof Strategies)[]) {
      (strategies[key] as unknown[]).push(...((module.strategies?.[key] as unknown[] | undefined) ?? []));
    }
  }
  const secure = config.serve.public.base_url.startsWith('https:');
  const engine = new FlowEngine(deps, new Csrf(config.secrets.cookie, secure), strategies);

  const apiKeyHashes = config.serve.admin.api_keys.map((k) => (k.startsWith('sha256:') ? k : hashApiKey(k)));
  const adminActorOf = (request: FastifyRequest) => (request as FastifyRequest & { kairosActor?: string }).kairosActor ?? 'admin';
  const context: ModuleContext = { deps, engine, adminActorOf };

  const handlers: Partial<Record<FlowKind, FlowHandlers>> = {
    login: new LoginFlows(engine),
    registration: new RegistrationFlows(engine),
    settings: new SettingsFlows(engine),
  };
  for (const module of modules) Object.assign(handlers, module.flowHandlers?.(context) ?? {});
  for (const module of modules) await module.init?.({ ...context, handlers });
  // Kratos's self-service hooks from the config, into the flows' registry (hooks/configure.ts).
  const configuredHooks = configureHooks(engine.hooks, deps);

  const trustProxy = config.serve.public.trusted_proxies.length > 0 ? config.serve.public.trusted_proxies : false;
  const publicApp = Fastify({
    loggerInstance: deps.logger.child({ listener: 'public' }) as unknown as FastifyBaseLogger,
    // Kairos logs its own one line per request (onResponse below); Fastify's own request lines are off.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.serve.public.request_body_limit_bytes,
    trustProxy,
    genReqId: () => deps.random.uuid(),
    requestIdHeader: false,
    ajv: { customOptions: BODY_AJV_OPTIONS },
  });
  const adminApp = Fastify({
    loggerInstance: deps.logger.child({ listener: 'admin' }) as unknown as FastifyBaseLogger,
    // Kairos logs its own one line per request (onResponse below); Fastify's own request lines are off.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    genReqId: () => deps.random.uuid(),
    requestIdHeader: false,
    ajv: { customOptions: BODY_AJV_OPTIONS },
  });

  registerOperationalGauges(deps);
  for (const app of [publicApp, adminApp]) {
    installErrorHandling(app, deps);
    installInputGuard(app);
    instrumentHttp(app, deps.metrics, app === publicApp ? 'public' : 'admin');
    await registerOpenApi(app, {
      title: app === publicApp ? 'public' : 'admin',
      version: KAIROS_VERSION,
      serverUrl: app === publicApp ? config.serve.public.base_url : config.serve.admin.base_url,
    });
    // Only JSON and forms are accepted; anything else (text/plain included) is a 415.
    app.removeContentTypeParser('text/plain');
    await app.register(cookie);
    await app.register(formbody, { bodyLimit: config.serve.public.request_body_limit_bytes });
    // serve.public.cors (Kratos's keys), before any route so preflights are answered for all of them.
    if (app === publicApp) await registerCors(app, config.serve.public.cors, deps.logger);
    // One line per request, without the query string (flow ids, tokens and codes travel there).
    const access = accessLogger(deps.logger, { listener: app === publicApp ? 'public' : 'admin' });
    app.addHook('onResponse', (request, reply, done) => {
      const query = request.url.indexOf('?');
      access.info({ req_id: request.id, method: request.method, url: query === -1 ? request.url : request.url.slice(0, query), status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request completed');
      done();
    });
    const health = async (_r: FastifyRequest, reply: import('fastify').FastifyReply) => reply.send({ status: 'ok' });
    app.get('/health/alive', health);
    // Public port: ready or not ready, nothing else (Kratos answers {"status":"ok"}). The database error, the courier
    // and the clock details stay on the admin port, which is not reachable from the internet.
    const detailed = app === adminApp;
    app.get('/health/ready', async (_request, reply) => {
      const readiness = await readinessOf(deps, modules, detailed);
      if (!readiness.ready) return reply.code(503).send(detailed ? { status: 'unavailable', errors: readiness.errors } : { status: 'unavailable' });
      return reply.send(detailed && readiness.details ? { status: 'ok', details: readiness.details } : { status: 'ok' });
    });
    app.get('/version', async (_r, reply) => reply.send({ version: KAIROS_VERSION }));
  }

  // Per-IP and per-identity limits on every endpoint that checks a secret, shared by all instances (http/plugins/rate-limit.ts).
  const closeRateLimits = await registerRateLimits(publicApp, deps, engine);

  // Every step's answer (flow submissions, and the links modules serve) waits for its commit.
  publicApp.addHook('onSend', holdStepAnswers);
  await publicApp.register(selfServiceRoutes, { engine, handlers });
  await publicApp.register(publicSessionRoutes, { engine });
  await publicApp.register(hostedUiRoutes, { engine, flowKinds: Object.keys(handlers) as FlowKind[] });
  for (const module of modules) await module.publicRoutes?.(publicApp, context);

  // Admin API: loopback by default; with api_keys every request needs `Authorization: Bearer <key>`.
  if (apiKeyHashes.length > 0) {
    adminApp.addHook('onRequest', async (request) => {
      if (request.url.startsWith('/health/')) return;
      // The operator console authenticates its own users (operators' Kairos sessions at aal2, src/console).
      if (config.console.enabled && config.console.listener === 'admin' && /^\/console(\/|\?|$)/.test(request.url)) return;
      const header = request.headers.authorization ?? '';
      const key = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
      const presented = Buffer.from(hashApiKey(key));
      const match = apiKeyHashes.findIndex((h) => h.length === presented.length && timingSafeEqual(Buffer.from(h), presented));
      if (!key || match === -1) throw errors.unauthorized('A valid admin API key is required (Authorization: Bearer <key>).');
      (request as FastifyRequest & { kairosActor?: string }).kairosActor = `admin:key-${match + 1}:${apiKeyHashes[match]!.slice(7, 15)}`;
    });
  }
  await adminApp.register(adminIdentityRoutes, {
    deps,
    adapters: Object.fromEntries(modules.flatMap((m) => m.adapters ?? []).map((a) => [a.type, a])),
    actorOf: adminActorOf,
    extras: (identity) => Object.assign({}, ...modules.map((m) => m.identityExtras?.(identity) ?? {})),
  });
  await adminApp.register(adminMfaRoutes, { deps, modules, actorOf: adminActorOf });
  await adminApp.register(adminAuditRoutes, { deps });
  if (statementCounter.enabled) {
    // Only with KAIROS_COUNT_STATEMENTS=1 (the bench): statements this process sent to the database so far.
    adminApp.get('/debug/statements', async (_r, reply) => reply.send({ total: statementCounter.total, by_kind: statementCounter.byKind, by_text: statementCounter.byText }));
  }
  await adminApp.register(adminSessionRoutes, { deps, actorOf: adminActorOf });
  await adminApp.register(adminIdentityBatchRoutes);
  await adminApp.register(adminSchemaRoutes, { config });
  adminApp.get('/metrics', async (_r, reply) => reply.header('content-type', deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()));
  for (const module of modules) await module.adminRoutes?.(adminApp, context);

  const maintenance = new MaintenanceJob(
    modules.flatMap((m) => m.maintenance ?? []),
    { intervalMs: parseDurationMs(config.maintenance.interval), logger: deps.logger },
  );
  let started = false;
  const start = async () => {
    if (started) return;
    await Promise.all([publicApp.ready(), adminApp.ready()]);
    started = true;
    for (const module of modules) await module.start?.(context);
    if (config.maintenance.enabled) maintenance.start();
  };
  return {
    publicApp,
    adminApp,
    engine,
    modules,
    deps,
    maintenance,
    async listen() {
      const listenOn = async (listener: 'public' | 'admin', app: FastifyInstance) => {
        const { host, port } = config.serve[listener];
        try {
          return await app.listen({ host, port });
        } catch (err) {
          throw listenFailure(err, { listener, host, port }) ?? err;
        }
      };
      const publicAddress = await listenOn('public', publicApp);
      const adminAddress = await listenOn('admin', adminApp);
      await start();
      return { publicUrl: publicAddress, adminUrl: adminAddress };
    },
    start,
    async close() {
      await maintenance.stop();
      if (started) for (const module of modules) await module.stop?.();
      await Promise.allSettled([publicApp.close(), adminApp.close()]);
      await closeRateLimits();
      await configuredHooks.close();
    },
  };
}

/** The database answers; with details, each module's readiness details (courier queue, clock health…). */
async function readinessOf(
  deps: Deps,
  modules: KairosModule[],
  detailed: boolean,
): Promise<{ ready: true; details?: Record<string, unknown> } | { ready: false; errors: Record<string, string> }> {
  try {
    await deps.storage.ping();
  } catch {
    return { ready: false, errors: { database: 'the database is not reachable' } };
  }
  if (!detailed) return { ready: true };
  const details: Record<string, unknown> = {};
  for (const module of modules) if (module.health) details[module.name] = await module.health();
  return { ready: true, ...(Object.keys(details).length ? { details } : {}) };
}

/** Refuses to serve an unmigrated database (Kratos does the same) unless told to migrate. */
export async function assertMigrated(deps: Deps): Promise<void> {
  const pending = await pendingMigrations(deps.storage);
  if (pending.length > 0) {
    throw new Error(`the database has ${pending.length} pending migration(s) (${pending.join(', ')}): run "kairos migrate sql -e --yes -c <config>" or start with "kairos serve --migrate"`);
  }
}
