/**
 * Kratos's admin session APIs that are not per identity (session/handler.go): `GET /admin/sessions` (keyset
 * pagination with page_size/page_token and a Link header, `active` filter, `expand=identity|devices`) and
 * `PATCH /admin/sessions/{id}/extend`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Deps } from '../../deps.js';
import { errors } from '../../errors/http-error.js';
import { identityToJson } from '../../identity/identity.js';
import { sessionToJson } from '../../session/session.js';
import type { SessionCursor } from '../../session/session-listing.js';
import { parseDurationMs } from '../../config/duration.js';

/** Kratos's keysetpagination defaults: 250 per page, at most 1000. */
const DEFAULT_PAGE_SIZE = 250;
const MAX_PAGE_SIZE = 1000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function encodeCursor(cursor: SessionCursor): string {
  return Buffer.from(JSON.stringify({ c: cursor.createdAtMs, i: cursor.id })).toString('base64url');
}

function decodeCursor(token: string): SessionCursor {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (typeof parsed.c === 'number' && typeof parsed.i === 'string') return { createdAtMs: parsed.c, id: parsed.i };
  } catch {
    /* fall through */
  }
  throw errors.badRequest('could not parse parameter page_token');
}

export async function adminSessionRoutes(app: FastifyInstance, options: { deps: Deps; actorOf(request: FastifyRequest): string }) {
  const { deps } = options;

  app.get('/admin/sessions', async (request, reply) => {
    const q = request.query as Record<string, unknown>;
    let active: boolean | undefined;
    if (q.active !== undefined && q.active !== '') {
      if (q.active !== 'true' && q.active !== 'false') throw errors.badRequest('could not parse parameter active');
      active = q.active === 'true';
    }
    const rawSize = q.page_size === undefined ? DEFAULT_PAGE_SIZE : Number(q.page_size);
    if (!Number.isInteger(rawSize) || rawSize < 1) throw errors.badRequest('could not parse parameter page_size');
    const pageSize = Math.min(rawSize, MAX_PAGE_SIZE);
    const expand = q.expand === undefined ? [] : Array.isArray(q.expand) ? q.expand.map(String) : [String(q.expand)];
    for (const e of expand) if (e !== 'identity' && e !== 'devices') throw errors.badRequest(`Could not parse expand option: ${e}`);
    const after = typeof q.page_token === 'string' && q.page_token !== '' ? decodeCursor(q.page_token) : null;
    const now = deps.clock.nowMs();
    const page = await deps.sessions.list({ active, nowMs: now, pageSize, after });
    if (page.length === pageSize) {
      const last = page.at(-1)!;
      const next = new URL('/admin/sessions', deps.config.serve.admin.base_url);
      next.searchParams.set('page_size', String(pageSize));
      next.searchParams.set('page_token', encodeCursor({ createdAtMs: last.createdAtMs, id: last.session.id }));
      if (active !== undefined) next.searchParams.set('active', String(active));
      for (const e of expand) next.searchParams.append('expand', e);
      reply.header('link', `<${next.pathname}${next.search}>; rel="next"`);
    }
    const withIdentity = expand.includes('identity');
    const identityJsonOf = async (identityId: string) => {
      const identity = withIdentity ? await deps.identities.get(identityId) : null;
      return identity ? identityToJson(identity, { schemaUrl: deps.schemas.urlFor(identity.schemaId), includeMetadataAdmin: true }) : null;
    };
    const out = [];
    for (const { session } of page) {
      const json = sessionToJson(session, now, await identityJsonOf(session.identityId));
      if (!withIdentity) delete json.identity;
      out.push(json);
    }
    return reply.send(out);
  });

  app.patch('/admin/sessions/:id/extend', async (request, reply) => {
    const id = (request.params as { id: string }).id;
    if (!UUID.test(id)) throw errors.badRequest('could not parse UUID');
    const earliest = deps.config.session.earliest_possible_extend;
    const now = deps.clock.nowMs();
    // One unit of work: the extension and its audit event.
    const { outcome, session } = await deps.storage.transaction(async (trx) => {
      const outcome = await deps.sessions.extend(id, {
        nowMs: now,
        lifespanMs: parseDurationMs(deps.config.session.lifespan),
        earliestPossibleExtendMs: earliest ? parseDurationMs(earliest) : null,
      }, trx);
      if (outcome === 'not_found') return { outcome, session: null };
      const session = (await deps.sessions.findById(id))!;
      if (outcome === 'extended') {
        await deps.audit.record(trx, {
          type: 'admin.action_performed',
          identityId: session.identityId,
          sessionId: id,
          actor: options.actorOf(request),
          ipAddress: request.ip,
          details: { action: 'session.extended', expires_at: new Date(session.expiresAtMs).toISOString() },
        });
      }
      return { outcome, session };
    });
    if (outcome === 'not_found' || !session) throw errors.notFound('Unable to locate the resource');
    if (deps.config.feature_flags.faster_session_extend) return reply.code(204).send();
    const identity = await deps.identities.get(session.identityId);
    return reply.send(sessionToJson(session, now, identity ? identityToJson(identity, { schemaUrl: deps.schemas.urlFor(identity.schemaId), includeMetadataAdmin: true }) : null));
  });
}
