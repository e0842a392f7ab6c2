/** Kratos's courier admin API: `GET /admin/courier/messages` and `GET /admin/courier/messages/{id}`. */
import type { FastifyInstance } from 'fastify';
import type { Deps } from '../deps.js';
import { errors } from '../errors/http-error.js';
import type { CourierMessageDispatchesTable, CourierMessagesTable } from '../storage/tables.js';

/** What the admin API shows instead of the body of a message that carries a one-time code or link. */
export const REDACTED_BODY = '[redacted: this message carries a one-time code]';

const STATUSES = ['queued', 'sent', 'processing', 'abandoned'] as const;
const DEFAULT_PAGE_SIZE = 250;
const MAX_PAGE_SIZE = 1000;
const iso = (ms: number) => new Date(ms).toISOString();

export function messageToJson(row: CourierMessagesTable, dispatches?: CourierMessageDispatchesTable[]): Record<string, unknown> {
  return {
    id: row.id,
    type: row.type,
    channel: row.type,
    status: row.status,
    template_type: row.template_type,
    recipient: row.recipient,
    subject: row.subject,
    // Bodies carrying codes are encrypted at rest and never leave through the API; others are shown as stored.
    body: row.carries_secret === 1 || row.body_encrypted === 1 ? REDACTED_BODY : row.body,
    send_count: row.send_count,
    ...(dispatches
      ? {
          dispatches: dispatches.map((d) => ({
            id: d.id,
            message_id: d.message_id,
            status: d.status,
            ...(d.error ? { error: JSON.parse(d.error) } : {}),
            created_at: iso(d.created_at),
            updated_at: iso(d.created_at),
          })),
        }
      : {}),
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  };
}

function encodeToken(row: { created_at: number; id: string }): string {
  return Buffer.from(`${row.created_at}:${row.id}`).toString('base64url');
}

function decodeToken(token: string): { createdAtMs: number; id: string } {
  const text = Buffer.from(token, 'base64url').toString('utf8');
  const match = /^(\d{1,16}):([0-9a-f-]{36})$/.exec(text);
  if (!match) throw errors.badRequest('The page_token is invalid.');
  return { createdAtMs: Number(match[1]), id: match[2]! };
}

export async function courierAdminRoutes(app: FastifyInstance, deps: Pick<Deps, 'db' | 'urls' | 'config'>): Promise<void> {
  app.get('/admin/courier/messages', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const pageSize = query.page_size === undefined ? DEFAULT_PAGE_SIZE : Number(query.page_size);
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) throw errors.badRequest(`page_size must be an integer between 1 and ${MAX_PAGE_SIZE}.`);
    const status = query.status;
    if (status !== undefined && !STATUSES.includes(status as (typeof STATUSES)[number])) throw errors.badRequest(`status must be one of ${STATUSES.join(', ')}.`);
    let q = deps.db.selectFrom('courier_messages').selectAll();
    if (typeof status === 'string') q = q.where('status', '=', status as CourierMessagesTable['status']);
    if (typeof query.recipient === 'string' && query.recipient !== '') q = q.where('recipient', '=', query.recipient);
    if (typeof query.page_token === 'string' && query.page_token !== '') {
      const after = decodeToken(query.page_token);
      q = q.where((eb) => eb.or([eb('created_at', '<', after.createdAtMs), eb.and([eb('created_at', '=', after.createdAtMs), eb('id', '<', after.id)])]));
    }
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(pageSize + 1).execute();
    const page = rows.slice(0, pageSize);
    if (rows.length > pageSize) {
      const next = new URL('admin/courier/messages', deps.config.serve.admin.base_url);
      next.searchParams.set('page_size', String(pageSize));
      next.searchParams.set('page_token', encodeToken(page.at(-1)!));
      if (typeof status === 'string') next.searchParams.set('status', status);
      if (typeof query.recipient === 'string' && query.recipient !== '') next.searchParams.set('recipient', query.recipient);
      reply.header('link', `<${next.pathname}${next.search}>; rel="next"`);
    }
    return reply.send(page.map((row) => messageToJson(row)));
  });

  app.get('/admin/courier/messages/:id', async (request, reply) => {
    const id = (request.params as { id: string }).id;
    if (!/^[0-9a-f-]{36}$/i.test(id)) throw errors.notFound('Unable to locate the courier message.');
    const row = await deps.db.selectFrom('courier_messages').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw errors.notFound('Unable to locate the courier message.');
    const dispatches = await deps.db.selectFrom('courier_message_dispatches').selectAll().where('message_id', '=', id).orderBy('created_at').orderBy('id').execute();
    return reply.send(messageToJson(row, dispatches));
  });
}
