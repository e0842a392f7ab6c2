/**
 * Helpdesk recovery (tier 3), in Kratos's shapes (`selfservice/strategy/code/strategy_recovery_admin.go`,
 * `selfservice/strategy/link/strategy_recovery.go`):
 * - `POST /admin/recovery/code` `{identity_id, expires_in?, flow_type?}` → 201 `{recovery_link, recovery_code, expires_at}`
 * - `POST /admin/recovery/link` `{identity_id, expires_in?}` (query `return_to`) → 200 `{recovery_link, expires_at}`
 * Kairos adds an optional `reason` (body or query); without it the audit event says "no reason given". The code or
 * link leads into the same recovery flow as an emailed code: for an identity with a second factor it opens an MFA
 * reset request rather than removing the factor (the helpdesk removes factors explicitly, with
 * `DELETE /admin/identities/{id}/credentials/{type}`).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ModuleContext } from '../module.js';
import { errors } from '../errors/http-error.js';
import { parseDurationMs } from '../config/duration.js';
import { sortNodes } from '../flows/engine.js';
import type { RecoveryFlows } from '../flows/recovery/handler.js';
import { codeNodes } from './code-strategy.js';
import type { RecoveryCodes } from './codes.js';
import {
  createRecoveryCodeBodySchema,
  createRecoveryLinkBodySchema,
  MAX_REASON_LENGTH,
  type CreateRecoveryCodeBody,
  type CreateRecoveryLinkBody,
} from '../http/bodies.js';

/** Longest lifetime an admin may give a recovery code or link. */
const MAX_EXPIRES_IN_MS = 7 * 24 * 3_600_000;
/** The reason from the query string or the (schema-checked) body. */
export function reasonOf(request: FastifyRequest<{ Body: { reason?: string } | null }>): string {
  const q = request.query as Record<string, unknown>;
  const raw = typeof q.reason === 'string' ? q.reason : (request.body?.reason ?? '');
  if (raw.length > MAX_REASON_LENGTH) throw errors.badRequest(`reason must be at most ${MAX_REASON_LENGTH} characters`);
  return raw.trim() ? raw.trim() : 'no reason given';
}

export async function adminRecoveryRoutes(app: FastifyInstance, options: { context: ModuleContext; codes: RecoveryCodes; flows: () => RecoveryFlows }) {
  const { context, codes } = options;
  const { deps, engine } = context;

  async function prepare(request: FastifyRequest<{ Body: CreateRecoveryCodeBody | CreateRecoveryLinkBody }>, kind: 'code' | 'link') {
    // The body was checked by the route's schema (http/bodies.ts); the issuing itself is shared with the console.
    return issueAdminRecovery(options, request, kind, { body: { ...request.body }, actor: context.adminActorOf(request), reason: reasonOf(request), returnTo: engine.returnToOf(request) });
  }

  app.post<{ Body: CreateRecoveryCodeBody }>('/admin/recovery/code', { schema: { body: createRecoveryCodeBodySchema } }, async (request, reply) => {
    const { flow, value } = await prepare(request, 'code');
    return reply.code(201).header('cache-control', 'private, no-store').send({
      recovery_link: deps.urls.public('/self-service/recovery', { flow: flow.id }),
      recovery_code: value,
      expires_at: new Date(flow.expiresAtMs).toISOString(),
    });
  });

  app.post<{ Body: CreateRecoveryLinkBody }>('/admin/recovery/link', { schema: { body: createRecoveryLinkBodySchema } }, async (request, reply) => {
    const { flow, value } = await prepare(request, 'link');
    return reply.header('cache-control', 'private, no-store').send({
      recovery_link: deps.urls.public('/self-service/recovery', { flow: flow.id, token: value }),
      expires_at: new Date(flow.expiresAtMs).toISOString(),
    });
  });
}

/**
 * Issues a one-time recovery code or link for an identity (the admin recovery API, and the operator console, which
 * passes its operator as the actor). `input.body` holds `identity_id` and the optional `expires_in`/`flow_type`.
 */
export async function issueAdminRecovery(
  options: { context: ModuleContext; codes: RecoveryCodes; flows: () => RecoveryFlows },
  request: FastifyRequest,
  kind: 'code' | 'link',
  input: { body: Record<string, unknown>; actor: string; reason: string; returnTo: string | null },
) {
  const { context, codes } = options;
  const { deps } = context;
  const body = input.body;
  if (typeof body.identity_id !== 'string' || body.identity_id === '') throw errors.badRequest('identity_id is required');
  const identity = /^[0-9a-f-]{36}$/i.test(body.identity_id) ? await deps.identities.get(body.identity_id) : null;
  if (!identity) throw errors.notFound('The requested identity could not be found.');
  if (identity.state !== 'active') throw errors.badRequest('The identity is disabled; recovery is not possible.');
  let expiresInMs = parseDurationMs(deps.config.selfservice.flows.recovery.lifespan);
  if (body.expires_in !== undefined) {
    try {
      if (typeof body.expires_in !== 'string') throw new Error();
      expiresInMs = parseDurationMs(body.expires_in);
    } catch {
      throw errors.badRequest('expires_in must be a duration such as "15m" or "1h"');
    }
    if (!(expiresInMs > 0) || expiresInMs > MAX_EXPIRES_IN_MS) throw errors.badRequest('expires_in must be more than 0 and at most 168h');
  }
  const flowType = kind === 'code' && body.flow_type !== undefined ? body.flow_type : 'browser';
  if (flowType !== 'browser' && flowType !== 'api') throw errors.badRequest('flow_type must be "browser" or "api"');
  const returnTo = input.returnTo;
  const flow = options.flows().newFlow(flowType, request.url, returnTo);
  const now = deps.clock.nowMs();
  flow.requestUrl = deps.urls.browserInit('recovery');
  flow.expiresAtMs = now + expiresInMs;
  flow.identityId = identity.id;
  flow.state = 'sent_email';
  flow.internal = { admin_issued: true };
  flow.ui.nodes = sortNodes('recovery', codeNodes(null));
  const { actor, reason } = input;
  let value = '';
  await deps.storage.transaction(async (trx) => {
    await deps.flows.insert(flow, trx);
    value = await codes.issue({ identityId: identity.id, flowId: flow.id, kind, expiresAtMs: flow.expiresAtMs, address: null, issuedBy: actor }, trx);
    await deps.audit.record(trx, { type: 'recovery.requested', identityId: identity.id, flowId: flow.id, actor, ipAddress: request.ip, details: { method: kind === 'code' ? 'admin_code' : 'admin_link', reason, expires_at: new Date(flow.expiresAtMs).toISOString() } });
  });
  return { flow, value };
}
