/**
 * `GET /admin/audit-events`: the audit trail, read only (the store is append-only; there is no route that changes
 * it). Filters: `identity_id`, `type` (repeatable), `since`/`until` (RFC 3339, since inclusive, until exclusive),
 * and `page_size`/`page_token` pagination with a `Link: <…>; rel="next"` header, like `GET /admin/identities`.
 */
import type { FastifyInstance } from 'fastify';
import type { Deps } from '../../deps.js';
import { errors } from '../../errors/http-error.js';
import { AUDIT_EVENT_TYPES } from '../../audit/events.js';
import type { AuditFilter } from '../../audit/audit-log.js';

export const AUDIT_DEFAULT_PAGE_SIZE = 250;
export const AUDIT_MAX_PAGE_SIZE = 1000;

export type AuditQuery = AuditFilter;

export function encodeAuditCursor(event: { created_at: string; id: string }): string {
  return Buffer.from(JSON.stringify({ c: Date.parse(event.created_at), i: event.id })).toString('base64url');
}

/** Parses the filters shared by the admin route and `kairos audit`; throws a 400 naming the bad parameter. */
export function parseAuditQuery(q: Record<string, unknown>): AuditQuery {
  const one = (name: string): string | undefined => {
    const v = q[name];
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string') throw errors.badRequest(`${name} must be given once`);
    return v;
  };
  const time = (name: string): number | undefined => {
    const v = one(name);
    if (v === undefined) return undefined;
    const ms = Date.parse(v);
    if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(ms)) throw errors.badRequest(`${name} must be an RFC 3339 time, e.g. 2026-12-01T14:00:00Z`);
    return ms;
  };
  const rawTypes = q.type === undefined ? [] : Array.isArray(q.type) ? q.type.map(String) : String(q.type).split(',');
  const types = rawTypes.map((t) => t.trim()).filter(Boolean);
  for (const t of types) if (!(AUDIT_EVENT_TYPES as readonly string[]).includes(t)) throw errors.badRequest(`type "${t}" is not an audit event type (see src/audit/events.ts)`);
  const sizeRaw = one('page_size') ?? one('per_page');
  const pageSize = sizeRaw === undefined ? AUDIT_DEFAULT_PAGE_SIZE : Number(sizeRaw);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > AUDIT_MAX_PAGE_SIZE) throw errors.badRequest(`page_size must be an integer from 1 to ${AUDIT_MAX_PAGE_SIZE}`);
  const token = one('page_token');
  let after: AuditQuery['after'];
  if (token) {
    try {
      const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
      if (typeof parsed.c === 'number' && typeof parsed.i === 'string') after = { createdAtMs: parsed.c, id: parsed.i };
    } catch {
      /* reported below */
    }
    if (!after) throw errors.badRequest('page_token is malformed');
  }
  const identityId = one('identity_id');
  const sinceMs = time('since');
  const untilMs = time('until');
  return {
    pageSize,
    ...(identityId ? { identityId } : {}),
    ...(types.length ? { types } : {}),
    ...(sinceMs !== undefined ? { sinceMs } : {}),
    ...(untilMs !== undefined ? { untilMs } : {}),
    ...(after ? { after } : {}),
  };
}

export async function adminAuditRoutes(app: FastifyInstance, options: { deps: Deps }) {
  const { deps } = options;
  app.get('/admin/audit-events', async (request, reply) => {
    const q = request.query as Record<string, unknown>;
    const query = parseAuditQuery(q);
    const page = await deps.audit.list(query);
    if (page.length === query.pageSize) {
      const next = new URL('/admin/audit-events', deps.config.serve.admin.base_url);
      for (const [key, value] of Object.entries(q)) {
        if (key === 'page_token') continue;
        for (const v of Array.isArray(value) ? value : [value]) next.searchParams.append(key, String(v));
      }
      next.searchParams.set('page_size', String(query.pageSize));
      next.searchParams.set('page_token', encodeAuditCursor(page.at(-1)!));
      reply.header('link', `<${next.pathname}${next.search}>; rel="next"`);
    }
    return reply.send(page);
  });
}
