/**
 * The operator console (issue 17) as a Kairos module: `/console` on the admin listener (or the public one,
 * `console.listener`), and the sign-in hand-off (`/console-handoff`) on the public listener, where the operator's
 * Kairos session lives (auth.ts). Every page and action checks the operator's role on the server (roles.ts); every
 * response carries a strict CSP (no inline script or style), no-store caching and frame denial.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Deps } from '../deps.js';
import type { KairosModule, ModuleContext } from '../module.js';
import { HttpError } from '../errors/http-error.js';
import { loadIdentities } from '../identity/repository.js';
import { frictionReport, parseSince } from '../reports/friction.js';
import { createRuleOf } from '../reports/rule-of.js';
import { DiagnosisRepository } from '../mfa/diagnosis/repository.js';
import { PopulationDriftEstimator } from '../mfa/clock/population-drift.js';
import { populationDetails } from '../mfa/diagnosis/totp-diagnostics.js';
import { ConsoleAuth, HANDOFF_PATH, type Operator } from './auth.js';
import { can, consoleRolesOf, type Permission } from './roles.js';
import { ConsoleActionError, ConsoleServices, CHECKLIST, MAX_REASON, type ChecklistItem } from './services.js';
import { searchIdentities, SEARCH_MODES, type SearchMode } from './search.js';
import { ASSETS, CONSOLE_PREFIX, consoleCss, consolePage, type ConsoleShell } from './layout.js';
import { approvalsPage, configurationPage, dashboardPage, errorPage, identityPage, searchPage, signInPage, type Flash } from './views.js';
import { CHARTS_SCRIPT } from './charts.js';
import { CONSOLE_FORMS } from './forms.js';
import { configurationRows } from './configuration.js';

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const require = createRequire(import.meta.url);

type Body = Record<string, unknown>;
const str = (v: unknown) => (typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : '');
const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);

export function consoleModule(deps: Deps, modules: () => KairosModule[]): KairosModule {
  const config = deps.config.console;
  let auth: ConsoleAuth | null = null;
  const rules = createRuleOf(deps.config, deps.clock);
  const services = new ConsoleServices(deps, modules, rules);
  const brand = { name: deps.config.ui.brand.name, primary_color: deps.config.ui.brand.primary_color };
  const consoleBase = new URL(config.listener === 'admin' ? deps.config.serve.admin.base_url : deps.config.serve.public.base_url).origin;
  let uplotJs: string | null = null;
  let css: string | null = null;

  const secure = (reply: FastifyReply) =>
    reply.header('content-security-policy', CSP).header('cache-control', 'no-store').header('x-frame-options', 'DENY').header('referrer-policy', 'no-referrer').header('x-content-type-options', 'nosniff');

  const shellOf = (operator: Operator | null, current?: string): ConsoleShell => ({ brand, operator: operator ? { id: operator.id, name: operator.name, roles: operator.roles } : null, csrf: operator?.csrf ?? '', current });
  const html = (reply: FastifyReply, status: number, title: string, shell: ConsoleShell, body: string, scripts?: string[]) =>
    secure(reply).code(status).type('text/html; charset=utf-8').send(consolePage(title, shell, body, { scripts }));

  /**
   * The operator of this request with `permission`, or the answer already sent: no console session → sign-in (GET)
   * or 401 (POST); a session whose operator lost the role, or a role without the permission → 403.
   */
  async function operatorFor(request: FastifyRequest, reply: FastifyReply, permission: Permission): Promise<Operator | null> {
    const result = await auth!.authenticate(request);
    if (typeof result === 'string') {
      // Signed in to Kairos (its session cookie reaches this listener on the same host) as an identity without a
      // console role: that is a refusal, not a sign-in prompt.
      const kairos = result === 'no_session' && engine ? await engine.currentSession(request) : null;
      if (result === 'no_role' || result === 'inactive' || (kairos && consoleRolesOf(kairos.identity).length === 0)) {
        html(reply, 403, 'Not allowed', shellOf(null), errorPage(403, 'Your account has no console role (helpdesk, admin or auditor).'));
        return null;
      }
      if (request.method === 'GET') {
        html(reply, 401, 'Sign in', shellOf(null), signInPage(result === 'no_session' ? null : 'Your console session has ended. Sign in again.'));
        return null;
      }
      html(reply, 401, 'Sign in', shellOf(null), signInPage('Your console session has ended. Sign in again; nothing was changed.'));
      return null;
    }
    if (!can(result.roles, permission)) {
      html(reply, 403, 'Not allowed', shellOf(result), errorPage(403, `Your role (${result.roles.join(', ')}) cannot do this.`));
      return null;
    }
    if (request.method === 'POST' && !auth!.checkCsrf(request, result)) {
      html(reply, 403, 'Not allowed', shellOf(result), errorPage(403, 'The form expired or came from another site. Reload the page and try again.'));
      return null;
    }
    return result;
  }

  function reasonOf(body: Body): string {
    const reason = str(body.reason).trim();
    if (!reason) throw new ConsoleActionError(400, 'A reason is required for every action.');
    if (reason.length > MAX_REASON) throw new ConsoleActionError(400, `The reason must be at most ${MAX_REASON} characters.`);
    return reason;
  }

  function checklistOf(body: Body, required: boolean): ChecklistItem[] {
    const items = list(body.checklist);
    if (items.some((i) => !(i in CHECKLIST))) throw new ConsoleActionError(400, 'Unknown checklist item.');
    if (required && items.length === 0) throw new ConsoleActionError(400, 'Tick at least one verification you completed.');
    return [...new Set(items)] as ChecklistItem[];
  }

  async function renderIdentity(request: FastifyRequest, reply: FastifyReply, operator: Operator, id: string, flash: Flash | null, status = 200) {
    const identity = await services.identity(id);
    if (!identity) return html(reply, 404, 'Not found', shellOf(operator, 'search'), errorPage(404, 'No identity has this id.'));
    const query = request.method === 'GET' ? (request.query as Record<string, unknown>) : {};
    const types = list(query.types).filter((t) => /^[a-z_.]{1,64}$/.test(t)).slice(0, 20);
    let after: { createdAtMs: number; id: string } | undefined;
    const cursor = str(query.after);
    if (cursor) {
      try {
        const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
        if (typeof parsed.t === 'string' && typeof parsed.i === 'string') after = { createdAtMs: Date.parse(parsed.t), id: parsed.i };
      } catch {
        /* a bad cursor shows the first page */
      }
    }
    const events = await services.store.timeline(identity.id, { types: types.length ? types : undefined, before: after, limit: 50 });
    const next = events.length === 50 ? encodeCursorOf(events.at(-1)!) : null;
    const view = await services.view(identity);
    return html(reply, status, identity.id, shellOf(operator, 'search'), identityPage({ view, shell: shellOf(operator, 'search'), flash, timeline: events, timelineTypes: types, timelineNext: next, self: identity.id === operator.id }));
  }

  function encodeCursorOf(event: { created_at: string; id: string }): string {
    return Buffer.from(JSON.stringify({ t: event.created_at, i: event.id })).toString('base64url');
  }

  /** Runs an action on an identity; the identity page shows its outcome. */
  function action(path: string, permission: Permission, body: keyof typeof CONSOLE_FORMS, run: (request: FastifyRequest, operator: Operator, identity: NonNullable<Awaited<ReturnType<ConsoleServices['identity']>>>, body: Body) => Promise<Flash>) {
    return async (app: FastifyInstance) => {
      app.post(`${CONSOLE_PREFIX}/identities/:id/${path}`, CONSOLE_FORMS[body], async (request, reply) => {
        const operator = await operatorFor(request, reply, permission);
        if (!operator) return reply;
        const id = (request.params as { id: string }).id;
        const identity = await services.identity(id);
        if (!identity) return html(reply, 404, 'Not found', shellOf(operator, 'search'), errorPage(404, 'No identity has this id.'));
        if (identity.id === operator.id) return renderIdentity(request, reply, operator, id, { kind: 'error', text: 'Console actions on your own account are refused: use self-service.' }, 403);
        const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Body;
        try {
          const flash = await run(request, operator, identity, body);
          return renderIdentity(request, reply, operator, id, flash);
        } catch (err) {
          if (err instanceof ConsoleActionError) return renderIdentity(request, reply, operator, id, { kind: 'error', text: err.message }, err.status);
          if (err instanceof HttpError) return renderIdentity(request, reply, operator, id, { kind: 'error', text: String(err.body.reason ?? err.body.message) }, err.status);
          throw err;
        }
      });
    };
  }

  const routes = async (app: FastifyInstance) => {
    app.get(`${ASSETS}/console.css`, (_r, reply) => {
      // The hosted UI's styles, the console's, and uPlot's (for the dashboard's charts), as one file.
      css ??= consoleCss(brand) + readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
      return reply.header('content-type', 'text/css; charset=utf-8').header('cache-control', 'public, max-age=300').send(css);
    });
    app.get(`${ASSETS}/charts.js`, (_r, reply) => reply.header('content-type', 'text/javascript; charset=utf-8').header('cache-control', 'public, max-age=300').send(CHARTS_SCRIPT));
    app.get(`${ASSETS}/uplot.js`, (_r, reply) => {
      uplotJs ??= readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
      return reply.header('content-type', 'text/javascript; charset=utf-8').header('cache-control', 'public, max-age=86400').send(uplotJs);
    });

    app.get(CONSOLE_PREFIX, (_r, reply) => reply.redirect(`${CONSOLE_PREFIX}/search`, 303));
    app.get(`${CONSOLE_PREFIX}/`, (_r, reply) => reply.redirect(`${CONSOLE_PREFIX}/search`, 303));
    app.get(`${CONSOLE_PREFIX}/sign-in`, (request, reply) => auth!.startSignIn(request, secure(reply)));
    app.get(`${CONSOLE_PREFIX}/auth/callback`, async (request, reply) => {
      const result = await auth!.callback(request, secure(reply));
      if (!result.ok) return html(reply, result.status, 'Sign in', shellOf(null), signInPage(result.message));
      // A page of our own origin moves on (no script: a meta refresh), so the SameSite=Strict cookie is sent.
      return reply
        .type('text/html; charset=utf-8')
        .send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${CONSOLE_PREFIX}/search"><title>Signed in</title><link rel="stylesheet" href="${ASSETS}/console.css"></head><body><main id="main"><p>Signed in. <a href="${CONSOLE_PREFIX}/search">Continue to the console</a>.</p></main></body></html>`);
    });
    app.post(`${CONSOLE_PREFIX}/sign-out`, CONSOLE_FORMS.signOut, async (request, reply) => {
      const operator = await operatorFor(request, reply, 'view');
      if (!operator) return reply;
      await auth!.signOut(request, reply, operator);
      return html(reply, 200, 'Signed out', shellOf(null), signInPage(null).replace('<h1>Operator console</h1>', '<h1>Operator console</h1><p data-testid="console/signed-out">You are signed out of the console.</p>'));
    });

    app.get(`${CONSOLE_PREFIX}/search`, async (request, reply) => {
      const operator = await operatorFor(request, reply, 'view');
      if (!operator) return reply;
      const query = request.query as Record<string, unknown>;
      const q = str(query.q).slice(0, 256);
      const mode = (SEARCH_MODES as string[]).includes(str(query.mode)) ? (str(query.mode) as SearchMode) : 'any';
      const after = str(query.after).slice(0, 512) || null;
      // Identifiers people type: the password's and the email code's (TOTP and recovery codes are identified by the
      // identity id, which the id search covers; security keys by their user handle).
      const methods = deps.config.selfservice.methods;
      const types = [...(methods.password.enabled ? ['password'] : []), ...(methods.code.enabled || methods.code.mfa_enabled ? ['code'] : []), ...(methods.passkey.enabled ? ['passkey'] : [])];
      const page = await searchIdentities(deps.db, { q, mode, after, credentialTypes: types });
      const identities = new Map((await loadIdentities(deps.db, [...new Set(page.hits.map((h) => h.identityId))])).map((i) => [i.id, i]));
      const hits = page.hits.map((h) => ({ ...h, identity: identities.get(h.identityId) ?? null }));
      return html(reply, 200, 'Find a user', shellOf(operator, 'search'), searchPage({ q, mode, hits, next: page.next, scanned: page.scanned, modes: SEARCH_MODES }));
    });

    app.get(`${CONSOLE_PREFIX}/identities/:id`, async (request, reply) => {
      const operator = await operatorFor(request, reply, 'view');
      if (!operator) return reply;
      return renderIdentity(request, reply, operator, (request.params as { id: string }).id, null);
    });

    await action('diagnose', 'diagnose', 'diagnose', async (request, operator, identity, body) => {
      const reason = reasonOf(body);
      const code = str(body.code);
      if (!code || code.length > 16) throw new ConsoleActionError(400, 'Type the code the user reads out.');
      const result = await services.diagnose(request, operator, identity, code, reason);
      if (!result) throw new ConsoleActionError(409, 'This identity has no TOTP credential.');
      return { kind: 'info', text: result.summary, say: result.say };
    })(app);
    await action('resync', 'resync', 'resync', async (request, operator, identity, body) => {
      const reason = reasonOf(body);
      const result = await services.resync(request, operator, identity, str(body.code1).slice(0, 16), str(body.code2).slice(0, 16), reason);
      if (!result) throw new ConsoleActionError(409, 'This identity has no TOTP credential.');
      return { kind: result.outcome.ok ? 'success' : 'error', text: result.text };
    })(app);
    await action('unlock', 'unlock', 'plain', async (request, operator, identity, body) => {
      const cleared = await services.unlock(request, operator, identity, reasonOf(body));
      return { kind: 'success', text: cleared ? 'Unlocked: the user can enter a code again now.' : 'There was no lockout to clear.' };
    })(app);
    await action('sessions/revoke', 'revoke_sessions', 'plain', async (request, operator, identity, body) => {
      const count = await services.revokeSessions(request, operator, identity, reasonOf(body));
      return { kind: 'success', text: `Revoked ${count} session${count === 1 ? '' : 's'}.` };
    })(app);
    await action('mfa-reset', 'mfa_reset', 'mfaReset', async (request, operator, identity, body) => {
      const reason = reasonOf(body);
      const checklist = checklistOf(body, true);
      const delay = str(body.delay) !== 'no';
      const result = await services.startMfaReset(request, operator, identity, { delay, reason, checklist });
      if (result.kind === 'approval_requested') return { kind: 'info', text: 'This identity is privileged: the reset waits for a second operator\'s approval (Approvals).' };
      return delay
        ? { kind: 'success', text: `MFA reset started: the user is notified and can cancel; it completes when they recover after ${new Date(result.notBeforeMs).toISOString().slice(0, 16).replace('T', ' ')} UTC.` }
        : { kind: 'success', text: result.completed ? 'MFA reset done: second factors and recovery codes removed; the user must set up a second factor at their next sign-in.' : 'The reset could not complete (it was cancelled meanwhile).' };
    })(app);
    await action('recovery', 'recovery_issue', 'recovery', async (request, operator, identity, body) => {
      const reason = reasonOf(body);
      const checklist = checklistOf(body, true);
      const kind = str(body.kind) === 'link' ? 'link' : 'code';
      const issued = await services.issueRecovery(request, operator, identity, kind, reason, checklist);
      const until = new Date(issued.expiresAtMs).toISOString().slice(0, 16).replace('T', ' ');
      return kind === 'code'
        ? { kind: 'success', text: `One-time recovery code issued (valid until ${until} UTC). The user opens the recovery page and enters it.`, secret: { label: `Code (for ${issued.link})`, value: issued.code! } }
        : { kind: 'success', text: `One-time recovery link issued (valid until ${until} UTC).`, secret: { label: 'Link', value: issued.link } };
    })(app);
    await action('deactivate', 'deactivate', 'plain', async (request, operator, identity, body) => {
      await services.setState(request, operator, identity, 'inactive', reasonOf(body));
      return { kind: 'success', text: 'Deactivated; all sessions revoked.' };
    })(app);
    await action('reactivate', 'deactivate', 'plain', async (request, operator, identity, body) => {
      await services.setState(request, operator, identity, 'active', reasonOf(body));
      return { kind: 'success', text: 'Reactivated.' };
    })(app);

    const approvals = async (request: FastifyRequest, reply: FastifyReply, operator: Operator, flash: Flash | null, status = 200) => {
      const rows = await services.store.pendingApprovals(deps.clock.nowMs());
      const people = new Map((await loadIdentities(deps.db, [...new Set(rows.flatMap((r) => [r.identity_id, r.requested_by]))])).map((i) => [i.id, i]));
      return html(reply, status, 'Approvals', shellOf(operator, 'approvals'), approvalsPage({ approvals: rows.map((r) => ({ ...r, identity: people.get(r.identity_id) ?? null, requester: people.get(r.requested_by) ?? null })), shell: shellOf(operator, 'approvals'), flash }));
    };
    app.get(`${CONSOLE_PREFIX}/approvals`, async (request, reply) => {
      const operator = await operatorFor(request, reply, 'view');
      if (!operator) return reply;
      return approvals(request, reply, operator, null);
    });
    app.post(`${CONSOLE_PREFIX}/approvals/:id`, CONSOLE_FORMS.decision, async (request, reply) => {
      const operator = await operatorFor(request, reply, 'approve');
      if (!operator) return reply;
      const body = (request.body ?? {}) as Body;
      try {
        const reason = reasonOf(body);
        const decision = str(body.decision);
        if (decision !== 'approve' && decision !== 'reject') throw new ConsoleActionError(400, 'Approve or reject.');
        const result = await services.decide(request, operator, (request.params as { id: string }).id, decision === 'approve', reason);
        return approvals(request, reply, operator, { kind: 'success', text: result.status === 'approved' ? 'Approved: the MFA reset was carried out.' : 'Rejected: nothing was changed.' });
      } catch (err) {
        if (err instanceof ConsoleActionError) return approvals(request, reply, operator, { kind: 'error', text: err.message }, err.status);
        throw err;
      }
    });

    app.get(`${CONSOLE_PREFIX}/dashboard`, async (request, reply) => {
      const operator = await operatorFor(request, reply, 'view');
      if (!operator) return reply;
      const period = str((request.query as Record<string, unknown>).period);
      const chosen = ['4w', '12w', '26w', '52w'].includes(period) ? period : '12w';
      const nowMs = deps.clock.nowMs();
      const report = await frictionReport(deps.db, { sinceMs: nowMs - parseSince(chosen), untilMs: nowMs + 1, nowMs, ruleOf: rules.ruleOf });
      const estimator = new PopulationDriftEstimator();
      estimator.restore(await new DiagnosisRepository(deps.db).samplesSince(nowMs - estimator.windowMs));
      const population = populationDetails(estimator.estimate(nowMs), estimator.minIdentities);
      const ids = [...new Set([...report.current.locked.map((l) => l.identity_id), ...report.current.low_on_codes.map((l) => l.identity_id), ...report.identities.locked_out, ...report.identities.abandoned_enrollment, ...report.identities.recovered_by_helpdesk])];
      const names = new Map((await loadIdentities(deps.db, ids)).map((i) => [i.id, typeof (i.traits as Record<string, unknown>).email === 'string' ? String((i.traits as Record<string, unknown>).email) : i.id]));
      return html(reply, 200, 'Dashboard', shellOf(operator, 'dashboard'), dashboardPage({ report, period: chosen, population, names }), [`${ASSETS}/uplot.js`, `${ASSETS}/charts.js`]);
    });

    app.get(`${CONSOLE_PREFIX}/configuration`, async (request, reply) => {
      const operator = await operatorFor(request, reply, 'view');
      if (!operator) return reply;
      return html(reply, 200, 'Configuration', shellOf(operator, 'configuration'), configurationPage(configurationRows(deps.config, deps.secondFactorTypes)));
    });
  };

  let engine: ModuleContext['engine'] | null = null;
  return {
    name: 'console',
    // The engine (for the hand-off's view of the Kairos session) exists once modules are initialised, before routes.
    init(context) {
      engine = context.engine;
      auth = new ConsoleAuth(deps, context.engine, consoleBase);
    },
    publicRoutes(app) {
      app.get(HANDOFF_PATH, (request, reply) => auth!.handoff(request, reply));
      if (config.listener === 'public') return routes(app);
    },
    adminRoutes(app) {
      if (config.listener === 'admin') return routes(app);
    },
  };
}
