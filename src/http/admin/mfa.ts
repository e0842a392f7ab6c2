/**
 * Helpdesk view of an identity's second factors (Kairos extension of the Kratos admin API):
 * - `GET /admin/identities/{id}/mfa`: the enrolled second factors with their parameters (never a secret or code),
 *   each module's section (`KairosModule.mfaReport`), and the lockout state with the consecutive failures;
 * - `POST /admin/identities/{id}/mfa/unlock` with an optional JSON `{"reason": "…"}`: lifts the delay and the hard
 *   lock, recorded with the admin actor (`lockout.cleared`, `admin.action_performed`).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Deps } from '../../deps.js';
import { errors } from '../../errors/http-error.js';
import type { KairosModule } from '../../module.js';
import { mfaUnlockBodySchema, MAX_REASON_LENGTH, type MfaUnlockBody } from '../bodies.js';

export interface AdminMfaOptions {
  deps: Deps;
  modules: KairosModule[];
  actorOf(request: FastifyRequest): string;
}

const NO_REASON = 'no reason given';

export async function adminMfaRoutes(app: FastifyInstance, options: AdminMfaOptions): Promise<void> {
  const { deps, modules } = options;

  const loadOr404 = async (id: string) => {
    const identity = await deps.identities.get(id);
    if (!identity) throw errors.notFound('Unable to locate the resource');
    return identity;
  };

  const report = async (id: string) => {
    const identity = await loadOr404(id);
    const body: Record<string, unknown> = {
      identity_id: identity.id,
      second_factors: Object.keys(identity.credentials).filter((type) => deps.secondFactorTypes.includes(type)).sort(),
    };
    // Each module contributes its sections ({ <section>: {...} }); the guard's lockout section comes last and wins.
    for (const module of modules) {
      const sections = await module.mfaReport?.(identity);
      if (sections) Object.assign(body, sections);
    }
    body.lockout = await deps.secondFactorGuard.report(identity.id);
    return body;
  };

  app.get('/admin/identities/:id/mfa', async (request, reply) => {
    return reply.send(await report((request.params as { id: string }).id));
  });

  app.post<{ Body: MfaUnlockBody }>('/admin/identities/:id/mfa/unlock', { schema: { body: mfaUnlockBodySchema } }, async (request, reply) => {
    const id = (request.params as { id: string }).id;
    await loadOr404(id);
    const given = request.body?.reason?.trim();
    const reason = given ? given : NO_REASON;
    const actor = options.actorOf(request);
    const cleared = await deps.storage.transaction(async (trx) => {
      const cleared = await deps.secondFactorGuard.clearLockout({ identityId: id, by: 'admin', actor, reason, ipAddress: request.ip });
      await deps.audit.record(trx, { type: 'admin.action_performed', identityId: id, actor, ipAddress: request.ip, details: { action: 'mfa.unlock', reason, cleared } });
      return cleared;
    });
    return reply.send({ cleared, ...(await report(id)) });
  });
}
