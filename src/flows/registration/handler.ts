import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../../errors/http-error.js';
import { DuplicateIdentifierError } from '../../identity/identity-service.js';
import { flattenTraits } from '../../identity/trait-nodes.js';
import { hasAfterHook } from '../../config/hooks.js';
import { sessionToJson } from '../../session/session.js';
import { isJsonRequest, requestInfo } from '../../http/request.js';
import { msg } from '../../ui/messages.js';
import { FlowValidationError, type Flow, type FlowType } from '../flow.js';
import { NOT_RESPONSIBLE, type RegistrationResult, type SubmittedBody } from '../strategy.js';
import type { Db } from '../../storage/db.js';
import { setSessionCookie, sortNodes, type FlowEngine } from '../engine.js';

/** Hooks other modules add after a registration is stored (e.g. sending the verification code). */
export type AfterRegistrationHook = (input: { trx: Db; flow: Flow; identityId: string; request: FastifyRequest }) => Promise<Record<string, unknown>[] | void>;

/**
 * Registration (Kratos `selfservice/flow/registration`). Kairos always issues a session after registration
 * (Kratos's `session` hook, which nearly every deployment configures).
 */
export class RegistrationFlows {
  readonly afterHooks: AfterRegistrationHook[] = [];

  constructor(private readonly engine: FlowEngine) {}

  async render(flow: Flow): Promise<void> {
    const schema = this.engine.deps.schemas.getDefault();
    const nodes = [];
    for (const strategy of this.engine.strategies.registration) nodes.push(...(await strategy.registrationNodes(flow, schema)));
    flow.ui.nodes = sortNodes('registration', nodes);
  }

  async init(request: FastifyRequest, reply: FastifyReply, type: FlowType): Promise<FastifyReply> {
    const engine = this.engine;
    return engine.runInit(request, reply, type, async () => {
      if (!engine.deps.config.selfservice.flows.registration.enabled) throw errors.flowDisabled('registration');
      const returnTo = engine.returnToOf(request);
      if (await engine.currentSession(request)) return engine.alreadySignedIn(request, reply, type, returnTo);
      const flow = engine.newFlow('registration', type, request, { returnTo });
      await this.render(flow);
      await engine.deps.flows.insert(flow);
      return flow;
    });
  }

  async submit(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const { strategies } = this.engine;
    return this.engine.runSubmit('registration', request, reply, (trx, flow, body, prepared) => this.attempt(trx, request, reply, flow, body, prepared), strategies.registration);
  }

  private async attempt(trx: Db, request: FastifyRequest, reply: FastifyReply, flow: Flow, body: SubmittedBody, prepared: Map<string, unknown>): Promise<FastifyReply> {
    const engine = this.engine;
    const { deps } = engine;
    if (engine.isExpired(flow)) {
      const replacement = engine.newFlow('registration', flow.type, request, { returnTo: flow.returnTo });
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

    const info = requestInfo(request);
    const identity = result.identity;
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
    const { session, token } = await deps.sessions.create(trx, identity.id, [result.amr], { ipAddress: info.ip, userAgent: info.userAgent });
    flow.state = 'passed_challenge';
    flow.active = strategyId;
    flow.identityId = identity.id;
    const continueWith: Record<string, unknown>[] = [];
    for (const hook of this.afterHooks) continueWith.push(...((await hook({ trx, flow, identityId: identity.id, request })) ?? []));
    await deps.flows.update(flow, deps.clock.nowMs(), trx);
    await deps.audit.record(trx, { type: 'registration.succeeded', identityId: identity.id, sessionId: session.id, flowId: flow.id, actor: 'self', ipAddress: info.ip, userAgent: info.userAgent, details: { method: strategyId } });
    deps.metrics.counter('kairos_registrations_total', 'Completed registrations').inc();

    const fresh = (await deps.identities.get(identity.id, trx))!;
    const returnTo = flow.returnTo ?? deps.urls.defaultReturn('registration', strategyId);
    const now = deps.clock.nowMs();
    if (flow.type === 'browser') {
      setSessionCookie(engine, reply, token, session);
      if (!isJsonRequest(request)) {
        // Kratos's show_verification_ui hook: a browser goes on to the verification flow that was just started.
        const verification = hasAfterHook(deps.config.selfservice.flows, 'registration', strategyId, 'show_verification_ui')
          ? (continueWith.find((c) => c.action === 'show_verification_ui') as { flow?: { url?: string } } | undefined)?.flow?.url
          : undefined;
        return reply.redirect(verification ?? returnTo, 303);
      }
      return reply.send({
        identity: engine.identityJson(fresh),
        session: sessionToJson(session, now, engine.identityJson(fresh)),
        continue_with: [...continueWith, { action: 'redirect_browser_to', redirect_browser_to: returnTo }],
      });
    }
    return reply.send({
      identity: engine.identityJson(fresh),
      session: sessionToJson(session, now, engine.identityJson(fresh)),
      session_token: token,
      continue_with: [...continueWith, { action: 'set_ory_session_token', ory_session_token: token }],
    });
  }
}
