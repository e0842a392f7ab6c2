import { sql } from 'kysely';
/**
 * Recovery, tiers 2 and 3 (issue 6): the Kratos recovery flow with the `code` method, MFA reset requests for
 * identities with a second factor, their cancel links, the whoami gate that makes a reset identity enroll again,
 * and the admin recovery API (`POST /admin/recovery/{code,link}`).
 */
import type { FastifyRequest } from 'fastify';
import type { Deps } from '../deps.js';
import type { KairosModule } from '../module.js';
import { HttpError } from '../errors/http-error.js';
import { asStep, flowRequestOf, isJsonRequest, noStore, requestInfo } from '../http/request.js';
import { RecoveryFlows } from '../flows/recovery/handler.js';
import type { SettingsFlows } from '../flows/settings/handler.js';
import { RecoveryCodes } from './codes.js';
import { CodeRecoveryStrategy } from './code-strategy.js';
import { MFA_RESET_CANCEL_PATH, MfaResets } from './mfa-reset.js';
import { recoveryMsg } from './messages.js';
import { adminRecoveryRoutes } from './admin.js';

/** 403 at whoami for an identity whose second factor was reset and that has not enrolled one again. */
export function enrollmentRequiredError(settingsUrl: string): HttpError {
  return new HttpError(
    403,
    {
      id: 'kairos_second_factor_enrollment_required',
      code: 403,
      status: 'Forbidden',
      reason: 'The second factor of this identity was reset. Set up a second factor again (in settings) before this session can be used.',
      message: 'Second factor enrollment required',
      details: { redirect_browser_to: settingsUrl },
    },
    { redirect_browser_to: settingsUrl },
  );
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function recoveryModule(deps: Deps): KairosModule {
  const codes = new RecoveryCodes(deps);
  const resets = new MfaResets(deps);
  let flows: RecoveryFlows | null = null;
  return {
    name: 'recovery',
    flowHandlers(context) {
      flows = new RecoveryFlows(context.engine, [new CodeRecoveryStrategy(deps, codes, resets)]);
      return { recovery: flows };
    },
    init(context) {
      if (flows) flows.settings = (context.handlers.settings as SettingsFlows | undefined) ?? null;
      // Whether a completed MFA reset waits for re-enrollment, loaded with the session (no query when none does).
      context.engine.sessionFacts.push({
        name: 'mfa_reset_pending',
        expression: () => sql<unknown>`(select count(*) from mfa_reset_requests m where m.identity_id = i.id and m.status = 'completed' and m.reenrolled_at is null)`,
      });
      context.engine.sessionGates.push(async (current) => {
        if (current.facts.mfa_reset_pending !== undefined && Number(current.facts.mfa_reset_pending) === 0) return null;
        return (await resets.enrollmentRequired(current.identity)) ? enrollmentRequiredError(deps.urls.browserInit('settings')) : null;
      });
    },
    publicRoutes(app) {
      // Kratos's link method: GET /self-service/recovery?flow=&token= (admin recovery links).
      app.get('/self-service/recovery', (request, reply) => asStep(reply, () => flows!.followLink(flowRequestOf(request), noStore(reply))));
      app.get(MFA_RESET_CANCEL_PATH, async (request: FastifyRequest, reply) => {
        noStore(reply);
        const token = (request.query as Record<string, unknown>).token;
        const identityId = typeof token === 'string' ? await resets.cancel(token, requestInfo(request)) : null;
        const message = identityId ? recoveryMsg.mfaResetCancelledPage() : recoveryMsg.mfaResetAlreadyClosed();
        const status = identityId ? 200 : 404;
        if (isJsonRequest(request)) return reply.code(status).send({ cancelled: identityId !== null, message });
        const brand = escapeHtml(deps.config.ui.brand.name);
        return reply
          .code(status)
          .type('text/html; charset=utf-8')
          .send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${brand}: second-factor reset</title></head><body><main><h1>${brand}</h1><p data-message-id="${message.id}">${escapeHtml(message.text)}</p></main></body></html>`);
      });
    },
    adminRoutes(app, context) {
      return adminRecoveryRoutes(app, { context, codes, flows: () => flows! });
    },
  };
}
