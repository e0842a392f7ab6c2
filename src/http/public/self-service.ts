import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors, HttpError } from '../../errors/http-error.js';
import { sessionToJson } from '../../session/session.js';
import { clearSessionCookie, type FlowEngine } from '../../flows/engine.js';
import type { FlowKind, FlowType } from '../../flows/flow.js';
import type { FlowHandlers } from '../../flows/request.js';
import { asStep, flowRequestOf, isJsonRequest, noStore, sessionTokenOf } from '../request.js';
import { docsOnly, FORM_OR_JSON, flowSubmissionSchema, nativeLogoutBodySchema, type NativeLogoutBody } from '../bodies.js';

export type { FlowHandlers };

/** The Kratos self-service routes for every flow kind that has handlers, plus whoami and logout. */
export async function selfServiceRoutes(app: FastifyInstance, options: { engine: FlowEngine; handlers: Partial<Record<FlowKind, FlowHandlers>> }) {
  const { engine, handlers } = options;
  const { deps } = engine;

  for (const [kind, handler] of Object.entries(handlers) as [FlowKind, FlowHandlers][]) {
    app.get(`/self-service/${kind}/browser`, (request, reply) => handler.init(flowRequestOf(request), noStore(reply), 'browser'));
    app.get(`/self-service/${kind}/api`, (request, reply) => handler.init(flowRequestOf(request), noStore(reply), 'api'));
    app.get(`/self-service/${kind}/flows`, async (request, reply) => {
      noStore(reply);
      try {
        const flow = await engine.loadFlow(kind, (request.query as Record<string, unknown>).id);
        if (handler.fetchCheck) await handler.fetchCheck(flowRequestOf(request), flow);
        if (engine.isExpired(flow)) {
          const err = engine.expiredError(flow, null);
          err.body.details = { ...err.body.details, redirect_to: deps.urls.browserInit(kind), return_to: flow.returnTo ?? undefined };
          throw err;
        }
        return await engine.respondFlow(flowRequestOf(request), reply, flow);
      } catch (err) {
        if (err instanceof HttpError) {
          if (err.body.id) reply.header('ory-error-id', err.body.id);
          return reply.code(err.status).send(err.toJSON());
        }
        throw err;
      }
    });
    // Documented, checked by the flow's strategies: a bad submission is answered inside the flow (http/bodies.ts).
    const submission = { schema: { body: flowSubmissionSchema(kind), consumes: FORM_OR_JSON }, validatorCompiler: docsOnly };
    app.post(`/self-service/${kind}`, submission, (request, reply) => asStep(reply, () => handler.submit(flowRequestOf(request), noStore(reply))));
  }

  app.get('/self-service/errors', async (request, reply) => {
    const id = (request.query as Record<string, unknown>).id;
    if (typeof id !== 'string') throw errors.badRequest('The id query parameter is missing.');
    const stored = await deps.flows.getError(id);
    if (!stored) throw errors.notFound('Unable to locate the error.');
    const iso = new Date(stored.createdAtMs).toISOString();
    return reply.send({ id: stored.id, error: stored.error, created_at: iso, updated_at: iso });
  });

  // whoami accepts any method (Kratos).
  app.route({
    method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    url: '/sessions/whoami',
    handler: async (request, reply) => {
      noStore(reply);
      // Read only: the session and identity may be shared with other whoami requests (engine.currentSession).
      const current = await engine.currentSession(request, undefined, [], { shared: true });
      if (!current) throw errors.sessionInactive();
      if (!engine.satisfiesAal(current, deps.config.session.whoami.required_aal)) {
        throw errors.sessionAal2Required(deps.urls.browserInit('login', { aal: 'aal2' }));
      }
      for (const gate of engine.sessionGates) {
        const refused = await gate(current);
        if (refused) throw refused;
      }
      reply.header('x-kratos-authenticated-identity-id', current.identity.id);
      const extras = await engine.sessionExtras(current);
      return reply.send(sessionToJson(current.session, deps.clock.nowMs(), engine.identityJson(current.identity), extras));
    },
  });

  // Logout, browser: get a logout URL, then follow it.
  app.get('/self-service/logout/browser', async (request, reply) => {
    noStore(reply);
    const current = await engine.currentSession(request);
    if (!current || sessionTokenOf(request, deps.config.session.cookie.name)?.via !== 'cookie') throw errors.unauthorized('No active session was found in this request.');
    const logoutToken = await deps.sessions.issueLogoutToken(current.session.id);
    const returnTo = engine.returnToOf(request);
    return reply.send({ logout_url: deps.urls.public('/self-service/logout', { token: logoutToken, return_to: returnTo ?? undefined }), logout_token: logoutToken });
  });

  app.get('/self-service/logout', async (request, reply) => {
    noStore(reply);
    const query = request.query as Record<string, unknown>;
    const token = typeof query.token === 'string' ? query.token : '';
    const session = token ? await deps.sessions.findByLogoutToken(token) : null;
    if (!session) throw errors.unauthorized('The logout token is invalid or has already been used.');
    await deps.storage.transaction(async (trx) => {
      await deps.sessions.revoke(session.id);
      await deps.audit.record(trx, { type: 'session.revoked', identityId: session.identityId, sessionId: session.id, actor: 'self', ipAddress: request.ip, details: { via: 'logout' } });
    });
    clearSessionCookie(engine, reply);
    const returnTo = engine.returnToOf(request) ?? deps.config.selfservice.flows.logout.after.default_browser_return_url ?? deps.urls.browserInit('login');
    if (isJsonRequest(request)) return reply.code(204).send();
    return reply.redirect(returnTo, 303);
  });

  app.delete<{ Body: NativeLogoutBody }>('/self-service/logout/api', { schema: { body: nativeLogoutBodySchema, consumes: FORM_OR_JSON } }, async (request, reply) => {
    const token = request.body.session_token;
    const session = await deps.sessions.findByToken(token);
    if (!session) throw errors.forbidden('The provided session token is invalid or the session has expired.');
    await deps.storage.transaction(async (trx) => {
      await deps.sessions.revoke(session.id);
      await deps.audit.record(trx, { type: 'session.revoked', identityId: session.identityId, sessionId: session.id, actor: 'self', ipAddress: request.ip, details: { via: 'logout_api' } });
    });
    return reply.code(204).send();
  });

  app.get('/schemas/:id', async (request, reply) => {
    const raw = (request.params as { id: string }).id;
    const id = Buffer.from(raw, 'base64url').toString('utf8');
    const schema = deps.schemas.get(id) ?? deps.schemas.get(raw);
    if (!schema) throw errors.notFound('Identity schema not found.');
    return reply.send(schema.schema);
  });
  app.get('/schemas', async (_request, reply) =>
    reply.send(deps.schemas.list().map((s) => ({ id: s.id, schema: s.schema }))),
  );
}
