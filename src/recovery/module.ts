import { sql } from 'kysely';
/**
 * Recovery, tiers 2 and 3 (issue 6): the Kratos recovery flow with the `code` method, MFA reset requests for
 * identities with a second factor, their cancel links, the whoami gate that makes a reset identity enroll again,
 * and the admin recovery API (`POST /admin/recovery/{code,link}`).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { escapeHtml, readerShell } from '../ui/hosted/pages.js';
import { page } from '../ui/hosted/layout.js';
import { renderMessage } from '../ui/hosted/render.js';
import type { Language } from '../ui/i18n/catalogue.js';
import type { UiText } from '../ui/messages.js';
import type { Deps } from '../deps.js';
import type { KairosModule } from '../module.js';
import { HttpError } from '../errors/http-error.js';
import { asStep, flowRequestOf, isJsonRequest, noStore, requestInfo } from '../http/request.js';
import { docsOnly, FORM_OR_JSON, mfaResetCancelFormSchema, type MfaResetCancelForm } from '../http/bodies.js';
import { RecoveryFlows } from '../flows/recovery/handler.js';
import type { SettingsFlows } from '../flows/settings/handler.js';
import { RecoveryCodes } from './codes.js';
import { CodeRecoveryStrategy } from './code-strategy.js';
import { MFA_RESET_CANCEL_PATH, MfaResets } from './mfa-reset.js';
import { recoveryMsg } from './messages.js';
import { adminRecoveryRoutes, issueAdminRecovery } from './admin.js';
import type { ModuleContext } from '../module.js';

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


/** The recovery module, with the admin services the operator console calls (src/console). */
export interface RecoveryModule extends KairosModule {
  readonly resets: MfaResets;
  issueRecovery(request: FastifyRequest, kind: 'code' | 'link', input: Parameters<typeof issueAdminRecovery>[3]): ReturnType<typeof issueAdminRecovery>;
}

export function recoveryModule(deps: Deps): RecoveryModule {
  const codes = new RecoveryCodes(deps);
  const resets = new MfaResets(deps);
  let flows: RecoveryFlows | null = null;
  let moduleContext: ModuleContext | null = null;
  return {
    name: 'recovery',
    resets,
    issueRecovery(request, kind, input) {
      if (!moduleContext || !flows) throw new Error('recovery module not initialised');
      return issueAdminRecovery({ context: moduleContext, codes, flows: () => flows! }, request, kind, input);
    },
    flowHandlers(context) {
      flows = new RecoveryFlows(context.engine, [new CodeRecoveryStrategy(deps, codes, resets)]);
      return { recovery: flows };
    },
    init(context) {
      moduleContext = context;
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
      /**
       * The link in the `mfa_reset_requested` mail. Opening it only shows what was requested and a button: the POST
       * cancels. Mail scanners and link previews open links (a GET that cancelled would cancel a real user's reset
       * before they read the mail); only a person pressing the button does. The token is the POST's credential
       * (256 bits, in the body; a third-party page cannot know it), so no CSRF token is needed. Both are limited per
       * IP like every secret-checking link (http/plugins/rate-limit.ts).
       */
      const languages = deps.config.ui.languages as Language[];
      const cancelPage = (request: FastifyRequest, reply: FastifyReply, status: number, message: UiText, form: string) => {
        const shell = readerShell(request, languages);
        const t = shell.t;
        const body = `<h1>${escapeHtml(t.t('mfaReset.title'))}</h1><div class="card">${renderMessage(message, { t })}${form}</div>`;
        return reply.code(status).header('content-type', 'text/html; charset=utf-8').header('content-language', t.language).header('referrer-policy', 'no-referrer').send(page(t.t('mfaReset.title'), deps.config.ui.brand, body, shell));
      };
      app.get(MFA_RESET_CANCEL_PATH, async (request: FastifyRequest, reply) => {
        noStore(reply);
        const token = (request.query as Record<string, unknown>).token;
        const pending = await resets.pendingByCancelToken(token);
        if (!pending) {
          const message = recoveryMsg.mfaResetAlreadyClosed();
          if (isJsonRequest(request)) return reply.code(404).send({ pending: false, message });
          return cancelPage(request, reply, 404, message, '');
        }
        const message = recoveryMsg.mfaResetConfirmCancel(pending.not_before);
        if (isJsonRequest(request)) return reply.send({ pending: true, completes_at: new Date(pending.not_before).toISOString(), message });
        const t = readerShell(request, languages).t;
        const form = `<form method="POST" action="${escapeHtml(MFA_RESET_CANCEL_PATH)}"><input type="hidden" name="token" value="${escapeHtml(String(token))}"><div class="actions"><button type="submit" class="danger" data-testid="mfa-reset/cancel">${escapeHtml(t.t('mfaReset.cancel'))}</button></div></form>`;
        return cancelPage(request, reply, 200, message, form);
      });
      // Documented, checked here: an unusable token is answered by the page (404), never with Fastify's 400.
      const cancelForm = { schema: { body: mfaResetCancelFormSchema, consumes: FORM_OR_JSON }, validatorCompiler: docsOnly };
      app.post<{ Body: MfaResetCancelForm | undefined }>(MFA_RESET_CANCEL_PATH, cancelForm, async (request, reply) => {
        noStore(reply);
        const given = request.body?.token;
        const token = typeof given === 'string' ? given : '';
        const identityId = token ? await resets.cancel(token, requestInfo(flowRequestOf(request))) : null;
        const message = identityId ? recoveryMsg.mfaResetCancelledPage() : recoveryMsg.mfaResetAlreadyClosed();
        const status = identityId ? 200 : 404;
        if (isJsonRequest(request)) return reply.code(status).send({ cancelled: identityId !== null, message });
        return cancelPage(request, reply, status, message, '');
      });
    },
    adminRoutes(app, context) {
      return adminRecoveryRoutes(app, { context, codes, flows: () => flows! });
    },
  };
}
