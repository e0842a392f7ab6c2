/**
 * Verification (Kratos `selfservice/flow/verification`): a flow that proves control of an address. The flow asks
 * each verification strategy for its nodes and hands submissions to the first that is responsible; strategies
 * (credentials/code/ today) decide what to send and what a code proves.
 */
import { errors } from '../../errors/http-error.js';
import { requestInfo, type FlowReply, type FlowRequest } from '../request.js';
import { msg, NO_STRATEGY_MESSAGE } from '../../ui/messages.js';
import type { UiNode } from '../../ui/nodes.js';
import { FlowValidationError, type Flow, type FlowType } from '../flow.js';
import { NOT_RESPONSIBLE, type SubmittedBody, type VerificationStrategy } from '../strategy.js';
import type { Db } from '../../storage/db.js';
import { HookPause, sortNodes, type FlowEngine } from '../engine.js';
import { inStep } from '../../storage/unit-of-work.js';

export type { VerificationStrategy };

export class VerificationFlows {
  constructor(
    private readonly engine: FlowEngine,
    readonly strategies: VerificationStrategy[],
  ) {}

  render(flow: Flow): void {
    flow.ui.nodes = sortNodes('verification', this.strategies.flatMap((s) => s.verificationNodes(flow)));
  }

  /** A new stored flow (used by init, and by modules that start a verification themselves). */
  async create(request: FlowRequest, type: FlowType, options: { returnTo?: string | null } = {}): Promise<Flow> {
    const flow = this.engine.newFlow('verification', type, request.url, options);
    this.render(flow);
    await this.engine.deps.flows.insert(flow);
    return flow;
  }

  async init(request: FlowRequest, reply: FlowReply, type: FlowType): Promise<FlowReply> {
    const engine = this.engine;
    return engine.runInit(request, reply, type, async () => {
      if (!engine.deps.config.selfservice.flows.verification.enabled) throw errors.flowDisabled('verification');
      const flow = this.engine.newFlow('verification', type, request.url, { returnTo: engine.returnToOf(request) });
      this.render(flow);
      await engine.runBeforeHooks(flow, request);
      await engine.deps.flows.insert(flow);
      return flow;
    });
  }

  async submit(request: FlowRequest, reply: FlowReply): Promise<FlowReply> {
    return this.engine.runSubmit('verification', request, reply, (trx, flow, body) => this.handle(trx, request, reply, flow, body));
  }

  /** Runs a submission on a loaded flow (also used by the emailed link, which carries flow and code in the query). */
  async handle(trx: Db, request: FlowRequest, reply: FlowReply, flow: Flow, body: SubmittedBody): Promise<FlowReply> {
    const engine = this.engine;
    const { deps } = engine;
    if (engine.isExpired(flow)) {
      const replacement = engine.newFlow('verification', flow.type, request.url, { returnTo: flow.returnTo });
      // The emailed link carries the code in its query: it must not live on in the replacement's request_url.
      const requestUrl = new URL(replacement.requestUrl);
      requestUrl.searchParams.delete('code');
      replacement.requestUrl = requestUrl.toString();
      this.render(replacement);
      return engine.replaceExpired(request, reply, flow, replacement, trx);
    }
    if (flow.state === 'passed_challenge') throw FlowValidationError.global(msg.flowAlreadyCompleted());
    let handled = false;
    for (const strategy of this.strategies) {
      const outcome = await strategy.verify({ trx, flow, body, request: requestInfo(request) });
      if (outcome === NOT_RESPONSIBLE) continue;
      handled = true;
      flow.active = strategy.id;
      break;
    }
    if (!handled) throw FlowValidationError.global(NO_STRATEGY_MESSAGE.verification());
    await deps.flows.update(flow, deps.clock.nowMs(), trx);
    // The state was checked above: passed_challenge now means this submission verified the address.
    if (flow.state === 'passed_challenge' && flow.identityId) return this.afterHooks(request, reply, flow, flow.identityId);
    return engine.show(request, reply, flow);
  }

  /**
   * Kratos runs verification's after hooks once the address is stored as verified. Hooks that wait for an answer
   * run outside any transaction, after this step's unit of work committed (engine.ts HookPause; the emailed link is
   * a step too, `runStep`). A refusal is answered, but the address stays verified (as in Kratos).
   */
  private async afterHooks(request: FlowRequest, reply: FlowReply, flow: Flow, identityId: string): Promise<FlowReply> {
    const engine = this.engine;
    const method = flow.active ?? 'code';
    if (engine.hooks.after('verification', method).length === 0) return engine.show(request, reply, flow);
    const identity = await engine.deps.identities.get(identityId);
    if (!identity) return engine.show(request, reply, flow);
    engine.runAfterCommitHooks(flow, method, request, identity, null);
    if (!engine.hooks.hasBlocking('verification', method)) return engine.show(request, reply, flow);
    const run = () => engine.runBlockingHooks(flow, method, request, identity, null);
    if (inStep()) throw new HookPause(true, run, (_trx, again) => engine.show(request, reply, again));
    await run();
    return engine.show(request, reply, flow);
  }
}
