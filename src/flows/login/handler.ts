import { errors } from '../../errors/http-error.js';
import { deriveAal, sessionToJson, type Session } from '../../session/session.js';
import { parseDurationMs } from '../../config/duration.js';
import { newStepState } from '../hooks.js';
import { isJsonRequest, requestInfo, type FlowReply, type FlowRequest } from '../request.js';
import { msg } from '../../ui/messages.js';
import { FlowValidationError, type Flow, type FlowType } from '../flow.js';
import { NOT_RESPONSIBLE, type LoginResult, type SubmittedBody } from '../strategy.js';
import type { Db } from '../../storage/db.js';
import type { Identity } from '../../identity/identity.js';
import { HookPause, setSessionCookie, sortNodes, type CurrentSession, type FlowEngine } from '../engine.js';

function parseAal(value: unknown): 'aal1' | 'aal2' {
  if (value === undefined || value === '') return 'aal1';
  const v = String(value).toLowerCase();
  if (v === 'aal1' || v === 'aal2') return v;
  throw errors.badRequest('Unable to parse AuthenticationMethod Assurance Level (AAL): expected one of [aal1, aal2]');
}

const truthy = (value: unknown) => value === true || value === 'true' || value === '1';

/** Login (Kratos `selfservice/flow/login`): first factor, second factor (aal=aal2) and re-authentication (refresh). */
export class LoginFlows {
  constructor(private readonly engine: FlowEngine) {}

  /** The strategies of the flow's level; for a known identity, only those its MFA rule allows. */
  private strategiesFor(flow: Flow, identity: Identity | null = null) {
    const level = flow.requestedAal === 'aal2' ? 'aal2' : 'aal1';
    const policy = this.engine.policy;
    return this.engine.strategies.login.filter((s) => s.aal === level && (!identity || !policy || policy.allows(identity, s.id)));
  }

  async render(flow: Flow, current: CurrentSession | null): Promise<void> {
    const identity = flow.requestedAal === 'aal2' || flow.refresh ? current?.identity ?? null : null;
    const nodes = [];
    for (const strategy of this.strategiesFor(flow, identity)) nodes.push(...(await strategy.loginNodes(flow, identity)));
    flow.ui.nodes = sortNodes('login', nodes);
    const messages = [];
    if (flow.requestedAal === 'aal2') messages.push(msg.loginMfa());
    else if (flow.refresh) messages.push(msg.loginReAuth());
    if (messages.length) flow.ui.messages = messages;
    else delete flow.ui.messages;
  }

  /** GET /self-service/login/{browser,api} */
  async init(request: FlowRequest, reply: FlowReply, type: FlowType): Promise<FlowReply> {
    const engine = this.engine;
    const query = request.query as Record<string, unknown>;
    return engine.runInit(request, reply, type, async () => {
      const requestedAal = parseAal(query.aal);
      let refresh = truthy(query.refresh);
      const returnTo = engine.returnToOf(request);
      const current = await engine.currentSession(request);
      if (!current && requestedAal === 'aal2') {
        throw errors.sessionAal1Required(engine.deps.urls.browserInit('login', { return_to: returnTo ?? undefined }));
      }
      if (!current) refresh = false;
      if (current && !refresh && !(requestedAal === 'aal2' && deriveAal(current.session.amr) !== 'aal2')) {
        return engine.alreadySignedIn(request, reply, type, returnTo);
      }
      const flow = engine.newFlow('login', type, request.url, { returnTo });
      flow.requestedAal = requestedAal;
      flow.refresh = refresh;
      if (current && (refresh || requestedAal === 'aal2')) {
        flow.identityId = current.identity.id;
        flow.sessionId = current.session.id;
      }
      await this.render(flow, current);
      await engine.runBeforeHooks(flow, request, current?.session ?? null);
      await engine.deps.flows.insert(flow);
      return flow;
    });
  }

  /** A replacement for an expired flow, with the same parameters. */
  private async replace(request: FlowRequest, old: Flow): Promise<Flow> {
    const current = await this.engine.currentSession(request);
    const flow = this.engine.newFlow('login', old.type, request.url, { returnTo: old.returnTo });
    flow.requestedAal = current ? old.requestedAal : 'aal1';
    flow.refresh = current ? old.refresh : false;
    if (current && (flow.refresh || flow.requestedAal === 'aal2')) {
      flow.identityId = current.identity.id;
      flow.sessionId = current.session.id;
    }
    await this.render(flow, current);
    return flow;
  }

  /** POST /self-service/login?flow= */
  async submit(request: FlowRequest, reply: FlowReply): Promise<FlowReply> {
    return this.engine.runSubmit('login', request, reply, async (trx, flow, body, prepared) => {
      try {
        return await this.attempt(trx, request, reply, flow, body, prepared);
      } catch (err) {
        if (err instanceof FlowValidationError) await this.recordFailure(trx, request, flow, err);
        throw err;
      }
    }, this.engine.strategies.login);
  }

  /** Metrics and audit of a rejected login submission. */
  private async recordFailure(trx: Db, request: FlowRequest, flow: Flow, err: FlowValidationError): Promise<void> {
    const { deps } = this.engine;
    const body = (request.body ?? {}) as Record<string, unknown>;
    const method = String(body.method ?? 'unknown').slice(0, 32);
    deps.metrics.counter('kairos_login_failures_total', 'Rejected login submissions by method', ['method']).inc({ method });
    // Never the identifier or anything submitted: the method, the level asked for, and the message ids shown.
    await this.engine.auditSubmission(trx, request, flow, 'login.failed', { method, requested_aal: flow.requestedAal ?? 'aal1', message_ids: err.problems.map((p) => p.message.id) });
  }

  private async attempt(trx: Db, request: FlowRequest, reply: FlowReply, flow: Flow, body: SubmittedBody, prepared: Map<string, unknown>): Promise<FlowReply> {
    const engine = this.engine;
    if (engine.isExpired(flow)) return engine.replaceExpired(request, reply, flow, await this.replace(request, flow), trx);
    if (flow.state === 'passed_challenge') throw FlowValidationError.global(msg.flowAlreadyCompleted());

    // A second-factor step loads what its methods need (their credential rows, the lockout state) with the session.
    const facts = flow.requestedAal === 'aal2' ? this.strategiesFor(flow).flatMap((s) => s.sessionFacts ?? []) : [];
    const current = await engine.currentSession(request, trx, facts);
    if (flow.requestedAal === 'aal2' || flow.refresh) {
      if (!current) throw errors.sessionInactive();
      if (current.identity.id !== flow.identityId) throw errors.identityMismatch();
    } else if (current && !flow.refresh) {
      return engine.alreadySignedIn(request, reply, flow.type, flow.returnTo);
    }

    const known = flow.requestedAal === 'aal2' || flow.refresh ? current?.identity ?? null : null;
    if (known && engine.policy) {
      const refused = await engine.policy.refusal(trx, { identity: known, body, at: 'login', flowId: flow.id, sessionId: current?.session.id ?? null, request: requestInfo(request) });
      if (refused) throw FlowValidationError.global(refused);
    }
    let result: LoginResult | null = null;
    let strategyId = '';
    for (const strategy of this.strategiesFor(flow, known)) {
      const outcome = await strategy.login({
        trx,
        flow,
        body,
        session: current?.session ?? null,
        identity: flow.requestedAal === 'aal2' || flow.refresh ? current?.identity ?? null : null,
        request: requestInfo(request),
        prepared: prepared.get(strategy.id),
        facts: current?.facts,
      });
      if (outcome === NOT_RESPONSIBLE) continue;
      result = outcome;
      strategyId = strategy.id;
      break;
    }
    if (!result) throw FlowValidationError.global(msg.loginNoStrategy());
    const authenticated = result;

    // Hooks that wait for an HTTP answer run after the method's own work committed (codes consumed, limits
    // charged) and before the session is stored, outside any transaction (engine.ts HookPause).
    if (engine.hooks.hasBlocking('login', strategyId)) {
      const preview = this.sessionPreview(current, authenticated);
      throw new HookPause(
        true,
        // Kratos lets a login hook's `response.parse` change the identity in memory only: nothing is stored.
        () => engine.runBlockingHooks(flow, strategyId, request, structuredClone(authenticated.identity), preview),
        async (trx2, again) => {
          try {
            if (again.state === 'passed_challenge') throw FlowValidationError.global(msg.flowAlreadyCompleted());
            const now = await engine.currentSession(request, trx2);
            if ((again.requestedAal === 'aal2' || again.refresh) && (!now || now.identity.id !== again.identityId)) throw errors.sessionInactive();
            return await this.succeed(trx2, request, reply, again, now?.identity.id === authenticated.identity.id ? now : null, authenticated, strategyId, preview.id);
          } catch (err) {
            if (err instanceof FlowValidationError) await this.recordFailure(trx2, request, again, err);
            throw err;
          }
        },
      );
    }
    return await this.succeed(trx, request, reply, flow, current, authenticated, strategyId);
  }

  /** The session this login will issue or upgrade, as hooks see it before it is stored. */
  private sessionPreview(current: CurrentSession | null, result: LoginResult): Session {
    const { deps } = this.engine;
    const now = deps.clock.nowMs();
    if (current && current.session.identityId === result.identity.id) return { ...current.session, amr: [...current.session.amr, result.amr] };
    return {
      id: deps.random.uuid(),
      identityId: result.identity.id,
      active: true,
      issuedAtMs: now,
      expiresAtMs: now + parseDurationMs(deps.config.session.lifespan),
      authenticatedAtMs: now,
      amr: [result.amr],
      ipAddress: null,
      userAgent: null,
    };
  }

  private async succeed(
    trx: Db,
    request: FlowRequest,
    reply: FlowReply,
    flow: Flow,
    current: CurrentSession | null,
    result: LoginResult,
    strategyId: string,
    /** The id blocking hooks were shown for the new session. */
    sessionId: string | null = null,
  ): Promise<FlowReply> {
    const engine = this.engine;
    const { deps } = engine;
    const info = requestInfo(request);
    const policy = engine.policy;
    // A first factor the identity's MFA rule forbids (a passkey) is refused before any session exists.
    if (policy && !policy.allows(result.identity, strategyId)) {
      const refused = await policy.refusal(trx, { identity: result.identity, body: { method: strategyId }, at: 'login', flowId: flow.id, sessionId: current?.session.id ?? null, request: info });
      if (refused) throw FlowValidationError.global(refused);
    }
    // In-step hooks (require_verified_address, revoke_active_sessions…) run before the session is stored, so a hook
    // that refuses the login leaves no session behind; they see the id it will have.
    const upgrading = current !== null && current.session.identityId === result.identity.id;
    const state = newStepState(upgrading ? current.session : { ...this.sessionPreview(null, result), id: sessionId ?? deps.random.uuid() });
    await engine.hooks.runInStep({ kind: 'login', method: strategyId, trx, flow, identity: result.identity, amr: [result.amr], startedAtMs: deps.clock.nowMs(), request, hookRequest: engine.hookRequest(request), state });
    let session: Session;
    let token: string | null;
    if (upgrading) {
      session = await deps.sessions.addAuthenticationMethods(trx, current.session, [result.amr]);
      token = current.token;
    } else {
      const created = await deps.sessions.create(trx, result.identity.id, [result.amr], { ipAddress: info.ip, userAgent: info.userAgent, id: state.session!.id });
      session = created.session;
      token = created.token;
    }
    // The MFA policy's decision (mfa/policy): a remembered browser, the grace reminder, or enrollment now.
    const outcome = policy
      ? await policy.afterLoginStep(trx, {
          identity: result.identity,
          session,
          method: strategyId,
          methodAal: result.amr.aal,
          refresh: flow.refresh,
          flowId: flow.id,
          flowType: flow.type,
          request: info,
          deviceToken: flow.type === 'browser' ? (request.cookies?.[policy.deviceCookieName] ?? null) : null,
        })
      : null;
    if (outcome) session = outcome.session;
    const messages = [...(result.messages ?? []), ...(outcome?.messages ?? [])];
    flow.state = 'passed_challenge';
    flow.active = strategyId;
    // A first-factor flow that has something to say (the MFA policy's reminder) names the session it signed in, so the
    // page a browser lands on can repeat it (ui/hosted/pages.ts `lastStepMessages`, which reads a session's flows).
    if (messages.length && !flow.sessionId) {
      flow.identityId = result.identity.id;
      flow.sessionId = session.id;
    }
    if (messages.length) flow.ui.messages = messages;
    await deps.flows.update(flow, deps.clock.nowMs(), trx);
    await deps.audit.record(trx, {
      type: 'login.succeeded',
      identityId: result.identity.id,
      sessionId: session.id,
      flowId: flow.id,
      actor: 'self',
      ipAddress: info.ip,
      userAgent: info.userAgent,
      details: { method: strategyId, aal: deriveAal(policy ? policy.countedAmr(result.identity, session.amr) : session.amr), ...(outcome?.auditDetails ?? {}) },
    });
    deps.metrics.counter('kairos_logins_total', 'Successful login steps by method', ['method']).inc({ method: strategyId });
    engine.runAfterCommitHooks(flow, strategyId, request, result.identity, session);

    const now = deps.clock.nowMs();
    const kairosExtras = result.sessionExtras ? { kairos: result.sessionExtras } : {};
    const currentAfter: CurrentSession = { session, identity: result.identity, token: token!, facts: {} };
    const needsSecondFactor = !engine.satisfiesAal(currentAfter, deps.config.session.whoami.required_aal);
    const returnTo = result.redirectBrowserTo ?? flow.returnTo ?? deps.urls.defaultReturn('login', strategyId);
    const secondFactorUrl = deps.urls.browserInit('login', { aal: 'aal2', return_to: flow.returnTo ?? undefined });
    const browser = flow.type === 'browser';
    const enrollment = needsSecondFactor ? null : (outcome?.enrollment ?? null);

    if (browser) setSessionCookie(engine, reply, token!, session);
    if (browser && outcome?.rememberDevice) {
      const device = outcome.rememberDevice;
      reply.setCookie(device.name, device.value, {
        httpOnly: true,
        sameSite: 'lax',
        secure: deps.config.serve.public.base_url.startsWith('https:'),
        path: '/',
        expires: new Date(device.expiresAtMs),
      });
    }
    if (browser && !isJsonRequest(request)) return reply.redirect(needsSecondFactor ? secondFactorUrl : (enrollment?.settingsUrl ?? returnTo), 303);
    if (browser) {
      if (needsSecondFactor) throw errors.browserLocationChangeRequired(secondFactorUrl);
      // The MFA rule's grace period is over: the session exists (to enroll in settings) but cannot be used yet.
      if (enrollment) throw enrollment.error;
      return reply.send({
        session: sessionToJson(session, now, engine.identityJson(result.identity), kairosExtras),
        continue_with: [...state.continueWith, { action: 'redirect_browser_to', redirect_browser_to: returnTo }],
      });
    }
    // API clients: after a first factor that is not enough, Kratos withholds the identity until the second. A native
    // client whose rule makes it enroll gets its token (it needs it for the settings API), no identity, and the
    // reason; whoami refuses the session until a second factor is enrolled.
    const identityJson = needsSecondFactor || enrollment ? null : engine.identityJson(result.identity);
    return reply.send({
      session_token: token,
      session: sessionToJson(session, now, identityJson, kairosExtras),
      ...(messages.length ? { ui_messages: messages } : {}),
    });
  }
}
