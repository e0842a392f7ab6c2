/**
 * Kratos's public session management (session/handler.go): a signed-in person lists and revokes their *other*
 * sessions. `GET /sessions` (page/per_page, X-Total-Count and Link headers), `DELETE /sessions` (all others,
 * answers `{count}`), `DELETE /sessions/{id}` (one other; the current one is ended by logging out).
 *
 * Kairos asks for the session's AAL on all three (whoami's `required_aal`), not only on the list: revoking the
 * owner's sessions with a password alone would let someone who knows only the password sign the owner out.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errors } from '../../errors/http-error.js';
import type { CurrentSession, FlowEngine } from '../../flows/engine.js';
import { sessionToJson } from '../../session/session.js';
import { noStore } from '../request.js';

/** Kratos's x/pagination.go: page from 0, per_page 250 by default and at most 1000. */
const DEFAULT_PER_PAGE = 250;
const MAX_PER_PAGE = 1000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function publicSessionRoutes(app: FastifyInstance, options: { engine: FlowEngine }) {
  const { engine } = options;
  const { deps } = engine;

  async function signedIn(request: FastifyRequest): Promise<CurrentSession> {
    const current = await engine.currentSession(request);
    if (!current) throw errors.unauthorized('No valid session cookie found.');
    if (!engine.satisfiesAal(current, deps.config.session.whoami.required_aal)) {
      throw errors.sessionAal2Required(deps.urls.browserInit('login', { aal: 'aal2' }));
    }
    return current;
  }

  app.get('/sessions', async (request, reply) => {
    noStore(reply);
    const current = await signedIn(request);
    const q = request.query as Record<string, unknown>;
    const page = Math.max(0, Math.trunc(Number(q.page ?? 0)) || 0);
    const perPage = Math.min(Math.max(Math.trunc(Number(q.per_page ?? q.page_size ?? DEFAULT_PER_PAGE)) || DEFAULT_PER_PAGE, 1), MAX_PER_PAGE);
    const now = deps.clock.nowMs();
    const { sessions, total } = await deps.sessions.listOtherActive({ identityId: current.identity.id, exceptId: current.session.id, nowMs: now, page, perPage });
    reply.header('x-total-count', String(total));
    const link = (p: number, rel: string) => `</sessions?page=${p}&per_page=${perPage}>; rel="${rel}"`;
    const lastPage = Math.max(0, Math.ceil(total / perPage) - 1);
    const links = [link(0, 'first')];
    if (page < lastPage) links.push(link(page + 1, 'next'));
    if (page > 0) links.push(link(page - 1, 'prev'));
    links.push(link(lastPage, 'last'));
    reply.header('link', links.join(','));
    const identity = engine.identityJson(current.identity);
    return reply.send(sessions.map((s) => sessionToJson(s, now, identity)));
  });

  app.delete('/sessions', async (request, reply) => {
    noStore(reply);
    const current = await signedIn(request);
    const count = await deps.storage.transaction(async (trx) => {
      const count = await deps.sessions.revokeAllForIdentity(current.identity.id, current.session.id);
      await deps.audit.record(trx, {
        type: 'session.revoked',
        identityId: current.identity.id,
        sessionId: current.session.id,
        actor: 'self',
        ipAddress: request.ip,
        userAgent: request.headers['user-agent'] ?? null,
        details: { via: 'revoke_other_sessions', count },
      });
      return count;
    });
    return reply.code(200).send({ count });
  });

  app.delete('/sessions/:id', async (request, reply) => {
    noStore(reply);
    const id = (request.params as { id: string }).id;
    const current = await signedIn(request);
    if (!UUID.test(id)) throw errors.badRequest('could not parse UUID');
    if (id === current.session.id) throw errors.badRequest('cannot revoke current session; use the logout flow instead');
    // Kratos answers 204 also for a session that is not the caller's; nothing of another identity is touched.
    await deps.storage.transaction(async (trx) => {
      if (!(await deps.sessions.revokeOwn(current.identity.id, id, deps.clock.nowMs(), trx))) return;
      await deps.audit.record(trx, {
        type: 'session.revoked',
        identityId: current.identity.id,
        sessionId: id,
        actor: 'self',
        ipAddress: request.ip,
        userAgent: request.headers['user-agent'] ?? null,
        details: { via: 'revoke_session', by_session_id: current.session.id },
      });
    });
    return reply.code(204).send();
  });
}
