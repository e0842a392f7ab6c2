import { errors } from '../../errors/http-error.js';
import { DuplicateIdentifierError } from '../../identity/identity-service.js';
import { flattenTraits } from '../../identity/trait-nodes.js';
import { newStepState, type HookExecutor } from '../hooks.js';
import { sessionHook } from '../../hooks/builtin.js';
import { sessionToJson } from '../../session/session.js';
import { isJsonRequest, requestInfo, type FlowReply, type FlowRequest } from '../request.js';
import { msg } from '../../ui/messages.js';
import { FlowValidationError, type Flow, type FlowType } from '../flow.js';
import { NOT_RESPONSIBLE, type RegistrationResult, type SubmittedBody } from '../strategy.js';
import type { Db } from '../../storage/db.js';
import { HookPause, setSessionCookie, sortNodes, type FlowEngine } from '../engine.js';

/**
 * Registration (Kratos `selfservice/flow/registration`). Kairos always issues a session after registration
 * (Kratos's `session` hook, which nearly every deployment configures).
 */
export class RegistrationFlows {
  private readonly defaultSession: HookExecutor;

  constructor(private readonly engine: FlowEngine) {
    this.defaultSession = sessionHook(engine.deps);
  }

  async render(flow: Flow): Promise<void> {
    const schema = this.engine.deps.schemas.getDefault();
    const nodes = [];
    for (const strategy of this.engine.strategies.registration) nodes.push(...(await strategy.registrationNodes(flow, schema)));
    flow.ui.nodes = sortNodes('registration', nodes);
  }

  async init(request: FlowRequest, reply: FlowReply, type: FlowType): Promise<FlowReply> {
    const engine = this.engine;
    return engine.runInit(request, reply, type, async () => {
      if (!engine.deps.config.selfservice.flows.registration.enabled) throw errors.flowDisabled('registration');
      const returnTo = engine.returnToOf(request);
      if (await engine.currentSession(request)) return engine.alreadySignedIn(request, reply, type, returnTo);
      const flow = engine.newFlow('registration', type, request.url, { returnTo });
      await this.render(flow);
      await engine.runBeforeHooks(flow, request);
      await engine.deps.flows.insert(flow);
      return flow;
    });
  }

  async submit(request: FlowRequest, reply: FlowReply): Promise<FlowReply> {
    const { strategies } = this.engine;
    return this.engine.runSubmit('registration', request, reply, (trx, flow, body, prepared) => this.attempt(trx, request, reply, flow, body, prepared), strategies.registration);
  }

  private async attempt(trx: Db, request: FlowRequest, reply: FlowReply, flow: Flow, body: SubmittedBody, prepared: Map<string, unknown>): Promise<FlowReply> {
    const engine = this.engine;
    const { deps } = engine;
    if (engine.isExpired(flow)) {
      const replacement = engine.newFlow('registration', flow.type, request.url, { returnTo: flow.returnTo });
      await this.render(replacement);
      return engine.replaceExpired(request, reply, flow, replacement, trx);
    }
    if (flow.state === 'passed_challenge') throw FlowValidationError.global(msg.flowAlreadyCompleted());
    if (await engine.currentSession(request, trx)) throw errors.sessionAlreadyAvailable();

    let result: RegistrationResult | null = null;
    let strategyId = '';
    for (const strategy of engine.strategies.registration) {
      const outcome = await strategy.register({ trx, flow, body, request: requestInfo(request), prepared: prepared.get(strategy.id) });
      if (outcome === NOT_RESPONSIBLE) continue;
      result = outcome;
      strategyId = strategy.id;
      break;
    }
    if (!result) throw FlowValidationError.global(msg.registrationNoStrategy());
    const registered = result;

    // Hooks that wait for an HTTP answer run before anything is stored and outside any transaction: the step
    // continues in a second unit of work once they answered (engine.ts HookPause). A refusal stores nothing.
    if (engine.hooks.hasBlocking('registration', strategyId)) {
      throw new HookPause(
        true,
        () => engine.runBlockingHooks(flow, strategyId, request, registered.identity, null),
        async (trx2, current, changed) => {
          if (current.state === 'passed_challenge') throw FlowValidationError.global(msg.flowAlreadyCompleted());
          return this.persist(trx2, request, reply, current, registered, strategyId, changed);
        },
      );
    }
    return this.persist(trx, request, reply, flow, registered, strategyId, []);
  }

  /** Stores the identity, runs the in-step hooks (verification codes, `session`, `show_verification_ui`…), answers. */
  private async persist(trx: Db, request: FlowRequest, reply: FlowReply, flow: Flow, result: RegistrationResult, strategyId: string, hookChanged: string[]): Promise<FlowReply> {
    const engine = this.engine;
    const { deps } = engine;
    const info = requestInfo(request);
    const identity = result.identity;
    const startedAtMs = deps.clock.nowMs();
    try {
      await deps.identities.create(identity, trx);
      await result.afterCreate?.(trx);
    } catch (err) {
      if (err instanceof DuplicateIdentifierError) {
        const keep = flattenTraits(identity.traits);
        throw new FlowValidationError([{ field: null, message: msg.duplicateCredentials() }], keep);
      }
      throw err;
    }
    flow.state = 'passed_challenge';
    flow.active = strategyId;
    flow.identityId = identity.id;
    const state = newStepState();
    const context = { kind: 'registration' as const, method: strategyId, trx, flow, identity, amr: [result.amr], startedAtMs, request, hookRequest: engine.hookRequest(request), state };
    await engine.hooks.runInStep(context);
    // Nothing configured after registration: Kairos issues a session (Kratos's `session` hook, which almost every
    // deployment configures; see README "Differences from Kratos").
    if (!engine.hooks.hasConfigured('registration', strategyId)) await this.defaultSession.inStep!(context);
    const { session, token } = state;
    await deps.flows.update(flow, deps.clock.nowMs(), trx);
    await deps.audit.record(trx, {
      type: 'registration.succeeded',
      identityId: identity.id,
      sessionId: session?.id ?? null,
      flowId: flow.id,
      actor: 'self',
      ipAddress: info.ip,
      userAgent: info.userAgent,
      details: { method: strategyId, ...(hookChanged.length ? { changed_by_hooks: hookChanged } : {}) },
    });
    deps.metrics.counter('kairos_registrations_total', 'Completed registrations').inc();

    const fresh = (await deps.identities.get(identity.id, trx))!;
    engine.runAfterCommitHooks(flow, strategyId, request, fresh, session);
    const returnTo = flow.returnTo ?? deps.urls.defaultReturn('registration', strategyId);
    const now = deps.clock.nowMs();
    const identityJson = engine.identityJson(fresh);
    const sessionJson = session ? { session: sessionToJson(session, now, identityJson) } : {};
    if (flow.type === 'browser') {
      if (session && token) setSessionCookie(engine, reply, token, session);
      // Kratos's show_verification_ui hook: a browser goes on to the verification flow that was just started.
      if (!isJsonRequest(request)) return reply.redirect(state.browserRedirect ?? returnTo, 303);
      return reply.send({ identity: identityJson, ...sessionJson, continue_with: [...state.continueWith, { action: 'redirect_browser_to', redirect_browser_to: returnTo }] });
    }
    return reply.send({
      identity: identityJson,
      ...sessionJson,
      ...(token ? { session_token: token } : {}),
      continue_with: [...state.continueWith, ...(token ? [{ action: 'set_ory_session_token', ory_session_token: token }] : [])],
    });
  }
}
