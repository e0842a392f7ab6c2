/**
 * Recovery (Kratos `selfservice/flow/recovery`): a flow that gets a person back into their account. The flow asks each
 * recovery strategy for its nodes and hands submissions to the first that is responsible (recovery/code-strategy.ts
 * today: emailed codes, admin links, and the MFA reset step); once a strategy has proven who this is, the flow
 * revokes the identity's other sessions, issues a privileged session and lands the person in a settings flow.
 */
import { errors } from '../../errors/http-error.js';
import { isJsonRequest, queryOf, requestInfo, type FlowHandlers, type FlowReply, type FlowRequest } from '../request.js';
import { msg, NO_STRATEGY_MESSAGE } from '../../ui/messages.js';
import type { Db } from '../../storage/db.js';
import { FlowValidationError, type Flow, type FlowType } from '../flow.js';
import { HookPause, setSessionCookie, sortNodes, type FlowEngine } from '../engine.js';
import { newStepState } from '../hooks.js';
import { NOT_RESPONSIBLE, type RecoveryResult, type RecoveryStrategy } from '../strategy.js';
import type { SettingsFlows } from '../settings/handler.js';
import { parseDurationMs } from '../../config/duration.js';

export class RecoveryFlows implements FlowHandlers {
  /** Set by the recovery module once every flow handler exists (settings renders the flow recovery lands in). */
  settings: SettingsFlows | null = null;

  constructor(
    private readonly engine: FlowEngine,
    readonly strategies: RecoveryStrategy[],
  ) {}

  private get deps() {
    return this.engine.deps;
  }

  /** A new recovery flow (not stored), showing what each strategy asks for first. */
  newFlow(type: FlowType, requestPath: string, returnTo: string | null): Flow {
    const flow = this.engine.newFlow('recovery', type, requestPath, { returnTo });
    flow.active = this.strategies[0]?.id ?? null;
    flow.ui.nodes = sortNodes('recovery', this.strategies.flatMap((s) => s.recoveryNodes(flow)));
    return flow;
  }

  /** GET /self-service/recovery/{browser,api} */
  async init(request: FlowRequest, reply: FlowReply, type: FlowType): Promise<FlowReply> {
    const engine = this.engine;
    return engine.runInit(request, reply, type, async () => {
      const returnTo = engine.returnToOf(request);
      if (await engine.currentSession(request)) return engine.alreadySignedIn(request, reply, type, returnTo);
      const flow = this.newFlow(type, request.url, returnTo);
      await engine.runBeforeHooks(flow, request);
      await this.deps.flows.insert(flow);
      return flow;
    });
  }

  /** POST /self-service/recovery?flow= */
  async submit(request: FlowRequest, reply: FlowReply): Promise<FlowReply> {
    const engine = this.engine;
    return engine.runSubmit('recovery', request, reply, async (trx, flow, body) => {
      if (engine.isExpired(flow)) return engine.replaceExpired(request, reply, flow, this.newFlow(flow.type, request.url, flow.returnTo), trx);
      if (flow.state === 'passed_challenge') throw FlowValidationError.global(msg.flowAlreadyCompleted());
      for (const strategy of this.strategies) {
        const result = await strategy.recover({ trx, flow, body, request: requestInfo(request) });
        if (result === NOT_RESPONSIBLE) continue;
        return this.complete(trx, request, reply, flow, result);
      }
      throw FlowValidationError.global(NO_STRATEGY_MESSAGE.recovery());
    });
  }

  /**
   * GET /self-service/recovery?flow=&token=: a link that carries its secret (admin recovery links), one unit of work
   * like a submission (engine.runStep).
   */
  async followLink(request: FlowRequest, reply: FlowReply): Promise<FlowReply> {
    const engine = this.engine;
    const q = queryOf(request);
    const token = typeof q.token === 'string' && q.token.trim() !== '' ? q.token : null;
    return engine.runStep('recovery', request, reply, q.flow, async (trx, flow) => {
      if (!token) return engine.redirectToUi(reply, flow);
      if (engine.isExpired(flow)) {
        const replacement = this.newFlow('browser', request.url, flow.returnTo);
        replacement.ui.messages = [engine.expiredMessage(flow)];
        await this.deps.flows.insert(replacement, trx);
        return engine.redirectToUi(reply, replacement);
      }
      const linking = this.strategies.find((s) => s.followLink);
      const result = flow.state === 'passed_challenge' || !linking ? null : await linking.followLink!({ trx, flow, token, request: requestInfo(request) });
      if (!result) {
        const replacement = this.newFlow('browser', request.url, flow.returnTo);
        replacement.ui.messages = [msg.recoveryTokenInvalid()];
        await this.deps.flows.insert(replacement, trx);
        if (isJsonRequest(request)) return engine.respondFlow(request, reply, replacement, 400);
        engine.csrf.ensure(request, reply);
        return engine.redirectToUi(reply, replacement);
      }
      return this.complete(trx, request, reply, flow, result);
    });
  }

  /** What a strategy's result means for the flow: show it again, or finish the recovery. */
  private async complete(trx: Db, request: FlowRequest, reply: FlowReply, flow: Flow, result: RecoveryResult): Promise<FlowReply> {
    if (result.outcome === 'recovered') return this.finish(trx, request, reply, flow, result);
    await this.deps.flows.update(flow, this.deps.clock.nowMs(), trx);
    return this.engine.show(request, reply, flow);
  }

  /**
   * Recovery succeeded: every other session of the identity is revoked, a privileged session is issued, and the
   * person lands in a settings flow (Kratos: browser 303, SPA 422 `browser_location_change_required`, API the flow
   * with `continue_with` set_ory_session_token + show_settings_ui). `completeMfaReset` (the MFA reset step) runs once
   * the after-recovery hooks agreed and returns the identity without its second factor.
   */
  private async finish(
    trx: Db,
    request: FlowRequest,
    reply: FlowReply,
    flow: Flow,
    recovered: Extract<RecoveryResult, { outcome: 'recovered' }>,
    hooksDone = false,
  ): Promise<FlowReply> {
    const { amr, details, settingsMessages = [] } = recovered;
    let { identity } = recovered;
    const { deps, engine } = this;
    const info = requestInfo(request);
    const method = details.method === 'link' ? 'link' : 'code';
    // Hooks that wait for an HTTP answer run before the session is issued and outside any transaction, after this
    // step's unit of work (engine.ts HookPause). Kratos lets a recovery hook's `response.parse` change the identity in
    // memory only: nothing is stored.
    if (!hooksDone && engine.hooks.hasBlocking('recovery', method)) {
      const run = () => engine.runBlockingHooks(flow, method, request, structuredClone(identity), null);
      throw new HookPause(true, run, async (again, flowAgain) => {
        if (flowAgain.state === 'passed_challenge') throw FlowValidationError.global(msg.flowAlreadyCompleted());
        return this.finish(again, request, reply, flowAgain, recovered, true);
      });
    }
    // The strategy's last change (an MFA reset) is made only now that the after-recovery hooks agreed.
    if (recovered.complete) identity = await recovered.complete();
    const revoked = await deps.sessions.revokeAllForIdentity(identity.id);
    const { session, token } = await deps.sessions.create(trx, identity.id, amr, { ipAddress: info.ip, userAgent: info.userAgent });
    await engine.hooks.runInStep({ kind: 'recovery', method, trx, flow, identity, amr, startedAtMs: deps.clock.nowMs(), request, hookRequest: engine.hookRequest(request), state: newStepState(session, token) });
    const settings = engine.newFlow('settings', flow.type, request.url, { returnTo: flow.returnTo });
    settings.requestUrl = deps.urls.browserInit('settings');
    settings.identityId = identity.id;
    settings.sessionId = session.id;
    if (!this.settings) throw new Error('recovery needs the settings flow handler');
    await this.settings.render(settings, { session, identity, token, facts: {} });
    settings.ui.messages = [msg.recoverySuccessful(parseDurationMs(deps.config.selfservice.flows.settings.privileged_session_max_age)), ...settingsMessages];
    await deps.flows.insert(settings, trx);

    const settingsUrl = deps.urls.flowUi('settings', settings.id);
    flow.state = 'passed_challenge';
    flow.identityId = identity.id;
    flow.ui.nodes = [];
    delete flow.ui.messages;
    flow.internal = { ...flow.internal, continue_with: [{ action: 'show_settings_ui', flow: { id: settings.id, url: settingsUrl } }] };
    await deps.flows.update(flow, deps.clock.nowMs(), trx);
    await deps.audit.record(trx, { type: 'recovery.completed', identityId: identity.id, sessionId: session.id, flowId: flow.id, actor: 'self', ipAddress: info.ip, userAgent: info.userAgent, details: { ...details, revoked_sessions: revoked } });
    engine.runAfterCommitHooks(flow, method, request, identity, session);

    if (flow.type === 'browser') {
      setSessionCookie(engine, reply, token, session);
      if (!isJsonRequest(request)) return reply.redirect(settingsUrl, 303);
      return engine.sendError(request, reply, errors.browserLocationChangeRequired(settingsUrl), flow);
    }
    // The session token goes out in this response only; it is never stored in the flow.
    const json = await engine.flowJson(flow, request, reply);
    json.continue_with = [{ action: 'set_ory_session_token', ory_session_token: token }, ...(flow.internal.continue_with as unknown[])];
    return reply.code(200).header('cache-control', 'private, no-store').send(json);
  }
}
