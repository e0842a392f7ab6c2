import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors, HttpError } from '../../errors/http-error.js';
import { DuplicateIdentifierError } from '../../identity/identity-service.js';
import { sessionToJson } from '../../session/session.js';
import { isJsonRequest, requestInfo, submittedBody } from '../../http/request.js';
import { msg } from '../../ui/messages.js';
import { FlowValidationError, type Flow, type FlowType } from '../flow.js';
import { NOT_RESPONSIBLE, type RegistrationResult } from '../strategy.js';
import { setSessionCookie, sortNodes, type FlowEngine } from '../engine.js';

/** Hooks other modules add after a registration is stored (e.g. sending the verification code). */
export type AfterRegistrationHook = (input: { flow: Flow; identityId: string; request: FastifyRequest }) => Promise<Record<string, unknown>[] | void>;

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
    try {
      if (!engine.deps.config.selfservice.flows.registration.enabled) throw errors.flowDisabled('registration');
      const returnTo = engine.returnToOf(request);
      const current = await engine.currentSession(request);
      if (current) {
        if (type === 'browser' && !isJsonRequest(request)) return reply.redirect(returnTo ?? engine.deps.urls.defaultReturn(), 303);
        throw errors.sessionAlreadyAvailable();
      }
      const flow = engine.newFlow('registration', type, request, { returnTo });
      await this.render(flow);
      await engine.deps.flows.insert(flow);
      if (type === 'browser' && !isJsonRequest(request)) {
        engine.csrf.ensure(request, reply);
        return engine.redirectToUi(reply, flow);
      }
      return engine.respondFlow(request, reply, flow);
    } catch (err) {
      if (err instanceof HttpError) return engine.sendError(request, reply, err, type);
      throw err;
    }
  }

  async submit(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const engine = this.engine;
    const { deps } = engine;
    let flow: Flow | null = null;
    try {
      flow = await engine.loadFlow('registration', (request.query as Record<string, unknown>).flow);
      const body = submittedBody(request);
      if (flow.type === 'browser') engine.csrf.verify(request, body.csrf_token);
      if (engine.isExpired(flow)) {
        const replacement = engine.newFlow('registration', flow.type, request, { returnTo: flow.returnTo });
        await this.render(replacement);
        replacement.ui.messages = [engine.expiredMessage(flow)];
        await deps.flows.insert(replacement);
        if (flow.type === 'browser' && !isJsonRequest(request)) return engine.redirectToUi(reply, replacement);
        throw engine.expiredError(flow, replacement.id);
      }
      if (flow.state === 'passed_challenge') throw FlowValidationError.global(msg.flowAlreadyCompleted());
      if (await engine.currentSession(request)) throw errors.sessionAlreadyAvailable();

      let result: RegistrationResult | null = null;
      let strategyId = '';
      for (const strategy of engine.strategies.registration) {
        const outcome = await strategy.register({ flow, body, request: requestInfo(request) });
        if (outcome === NOT_RESPONSIBLE) continue;
        result = outcome;
        strategyId = strategy.id;
        break;
      }
      if (!result) throw FlowValidationError.global(msg.registrationNoStrategy());

      const info = requestInfo(request);
      const identity = result.identity;
      try {
        await deps.identities.create(identity);
      } catch (err) {
        if (err instanceof DuplicateIdentifierError) {
          const keep: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(identity.traits)) keep[`traits.${k}`] = v;
          throw new FlowValidationError([{ field: null, message: msg.duplicateCredentials() }], keep);
        }
        throw err;
      }
      const { session, token } = await deps.sessions.create(identity.id, [result.amr], { ipAddress: info.ip, userAgent: info.userAgent });
      flow.state = 'passed_challenge';
      flow.active = strategyId;
      flow.identityId = identity.id;
      const continueWith: Record<string, unknown>[] = [];
      for (const hook of this.afterHooks) continueWith.push(...((await hook({ flow, identityId: identity.id, request })) ?? []));
      await deps.flows.update(flow, deps.clock.nowMs());
      await deps.audit.record({ type: 'registration.succeeded', identityId: identity.id, sessionId: session.id, flowId: flow.id, actor: 'self', ipAddress: info.ip, userAgent: info.userAgent, details: { method: strategyId } });
      deps.metrics.counter('kairos_registrations_total', 'Completed registrations').inc();

      const fresh = (await deps.identities.get(identity.id))!;
      const returnTo = flow.returnTo ?? deps.urls.defaultReturn();
      const now = deps.clock.nowMs();
      if (flow.type === 'browser') {
        setSessionCookie(engine, reply, token, session);
        if (!isJsonRequest(request)) return reply.redirect(returnTo, 303);
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
    } catch (err) {
      return engine.fail(request, reply, flow, err);
    }
  }
}
