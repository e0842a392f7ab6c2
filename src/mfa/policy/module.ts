/**
 * MFA policy by role as a Kairos module: the enforcer behind the flows' policy port, the whoami gate, the session
 * facts (the identity's rule states, loaded with the session: whoami stays one statement), remembered devices in
 * settings and on the admin API, revocation on password change, MFA reset and recovery (audit subscribers), the
 * `mfa_policy` sections of the admin identity JSON and MFA report, and the Prometheus gauges.
 *
 * Without policies configured (or with rules that require, forbid and remember nothing) the module stays out of the
 * way: no port, no gate, no fact, and the server behaves exactly as before.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Deps } from '../../deps.js';
import { errors } from '../../errors/http-error.js';
import type { Identity } from '../../identity/identity.js';
import type { KairosModule, ModuleContext } from '../../module.js';
import { PolicyEnforcer } from './enforcer.js';
import { registerPolicyGauges } from './gauges.js';
import { PolicyRepository, type RememberedDevice, type RevocationReason } from './repository.js';
import { compilePolicies, enabledPolicyMethods, policyJson, policyStatus, type MfaPolicies } from './rules.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_REASON_LENGTH = 1000;

/**
 * The body of the revoking DELETEs: an optional reason (the query's `reason` also works); the same shape as
 * http/bodies.ts `mfaUnlockBodySchema`, declared here because this module must not import http/ at runtime.
 */
const optionalReasonBodySchema = {
  type: ['object', 'null'],
  properties: { reason: { type: ['string', 'null'], maxLength: MAX_REASON_LENGTH, description: 'Why (recorded in the audit trail)' } },
  additionalProperties: true,
} as const;
type OptionalReasonBody = { reason?: string | null; [key: string]: unknown } | null;
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The compiled `selfservice.mfa` of a loaded configuration (validated already by config/load.ts). */
export function policiesOf(config: Deps['config']): MfaPolicies {
  return compilePolicies(config.selfservice.mfa, {
    enabled: enabledPolicyMethods(config.selfservice.methods, config.courier.channels),
    recoveryCodesAtEnrollment: config.selfservice.methods.totp.config.require_recovery_codes,
    webauthnPasswordless: config.selfservice.methods.webauthn.config.passwordless === true,
  });
}

export function deviceJson(d: RememberedDevice): Record<string, unknown> {
  return {
    id: d.id,
    method: d.method,
    rule_id: d.ruleId,
    user_agent: d.userAgent,
    ip_address: d.ipAddress,
    created_at: iso(d.createdAtMs),
    expires_at: iso(d.expiresAtMs),
    last_used_at: iso(d.lastUsedAtMs),
  };
}

/** Audit events after which an identity's remembered browsers are revoked, and the reason recorded. */
const REVOKING_EVENTS: Partial<Record<string, RevocationReason>> = {
  'password.changed': 'password_changed',
  'mfa_reset.completed': 'mfa_reset',
  'recovery.completed': 'recovery',
};

export interface PolicyModule extends KairosModule {
  enforcer: PolicyEnforcer;
  /** False when the rules require, forbid and remember nothing: then nothing is enforced. */
  active: boolean;
}

export function policyModule(deps: Deps): PolicyModule {
  const policies = policiesOf(deps.config);
  const repository = new PolicyRepository(deps.db, deps.storage.dialect);
  const enforcer = new PolicyEnforcer(deps, policies, repository);
  const active = !policies.inert;

  return {
    name: 'mfa_policy',
    enforcer,
    active,

    init({ engine }) {
      if (!active) return;
      engine.policy = enforcer;
      deps.identities.methodFilter = (identity, method) => enforcer.allows(identity, method);
      engine.sessionFacts.push({ name: 'mfa_policy_states', expression: () => repository.statesFact() });
      engine.sessionGates.push((current) => enforcer.gate(current));
      engine.sessionExtraProviders.push((_identityId, facts, identity) => (identity ? enforcer.sessionExtras(identity, facts) : {}));
      deps.audit.subscribers.push(async (trx, event) => {
        if (!event.identityId) return;
        const reason = REVOKING_EVENTS[event.type];
        if (reason) {
          await enforcer.revokeDevices(trx, { identityId: event.identityId, reason, actor: event.actor ?? 'system', ipAddress: event.ipAddress ?? null, sessionId: event.sessionId ?? null });
          return;
        }
        // A removed second factor takes the browsers remembered with it (once no credential of its kind is left).
        // (An MFA reset removes its factors first and then records mfa_reset.completed, which revokes them all.)
        if ((event.type === 'second_factor.removed' || event.type === 'credential.deleted') && event.details?.via !== 'mfa_reset') {
          const method = event.details?.method ?? event.details?.credential_type;
          if (typeof method === 'string' && !(await repository.hasCredential(trx, event.identityId, method))) {
            await enforcer.revokeDevices(trx, { identityId: event.identityId, reason: 'factor_removed', method, actor: event.actor ?? 'system', ipAddress: event.ipAddress ?? null });
          }
        }
      });
      registerPolicyGauges(deps, enforcer);
    },

    /** `kairos.mfa_policy` on admin identity JSON: the rule in force (Kratos clients ignore the member). */
    identityExtras(identity: Identity) {
      return { mfa_policy: policyJson(enforcer.resolve(identity)) };
    },

    /** The `mfa_policy` section of GET /admin/identities/{id}/mfa: rule, status, grace, remembered browsers. */
    async mfaReport(identity: Identity) {
      const policy = enforcer.resolve(identity);
      const state = (await repository.states(identity.id)).find((s) => s.ruleId === policy.ruleId) ?? null;
      const status = policyStatus(policy, enforcer.enrolledMethods(identity), state);
      return {
        mfa_policy: {
          ...policyJson(policy),
          status: status.status,
          first_applied_at: iso(state?.firstAppliedAtMs ?? null),
          logins_under_rule: state?.loginCount ?? 0,
          enrollment_deadline: iso(status.graceDeadlineMs),
          logins_left: status.loginsLeft,
          enrolled_methods: enforcer.enrolledMethods(identity),
          remembered_devices: (await repository.activeDevices(identity.id, deps.clock.nowMs())).length,
        },
      };
    },

    adminRoutes(app: FastifyInstance, context: ModuleContext) {
      const loadOr404 = async (id: string) => {
        const identity = UUID.test(id) ? await deps.identities.get(id) : null;
        if (!identity) throw errors.notFound('Unable to locate the resource');
        return identity;
      };
      /** The reason from the (schema-checked) body, or the query string. */
      const reasonOf = (request: FastifyRequest<{ Body: OptionalReasonBody }>): string => {
        const given = request.body?.reason ?? (request.query as Record<string, unknown>).reason;
        if (given !== undefined && given !== null && typeof given !== 'string') throw errors.badRequest('reason must be a string');
        if (typeof given === 'string' && given.length > MAX_REASON_LENGTH) throw errors.badRequest(`reason must be at most ${MAX_REASON_LENGTH} characters`);
        return typeof given === 'string' && given.trim() ? given.trim() : 'no reason given';
      };

      app.get('/admin/identities/:id/remembered-devices', async (request, reply) => {
        const identity = await loadOr404((request.params as { id: string }).id);
        const list = await repository.activeDevices(identity.id, deps.clock.nowMs());
        return reply.send(list.map(deviceJson));
      });

      const revoke = async (request: FastifyRequest<{ Body: OptionalReasonBody }>, deviceId: string | undefined) => {
        const identity = await loadOr404((request.params as { id: string }).id);
        if (deviceId !== undefined && !UUID.test(deviceId)) throw errors.notFound('Unable to locate the resource');
        const reason = reasonOf(request);
        const actor = context.adminActorOf(request);
        return deps.identities.inTransaction(deps.db, async (trx) => {
          const count = await enforcer.revokeDevices(trx, { identityId: identity.id, reason: 'admin', ...(deviceId ? { deviceId: deviceId.toLowerCase() } : {}), actor, ipAddress: request.ip });
          if (deviceId && count === 0) throw errors.notFound('Unable to locate the resource');
          await deps.audit.record(trx, { type: 'admin.action_performed', identityId: identity.id, actor, ipAddress: request.ip, details: { action: 'mfa_policy.revoke_devices', reason, count, ...(deviceId ? { device_id: deviceId } : {}) } });
          return count;
        });
      };
      const schema = { body: optionalReasonBodySchema };
      app.delete<{ Body: OptionalReasonBody }>('/admin/identities/:id/remembered-devices/:device', { schema }, async (request, reply) => {
        await revoke(request, (request.params as { device: string }).device);
        return reply.code(204).send();
      });
      app.delete<{ Body: OptionalReasonBody }>('/admin/identities/:id/remembered-devices', { schema }, async (request, reply) => {
        return reply.send({ count: await revoke(request, undefined) });
      });
    },
  };
}
