import { errors } from '../../errors/http-error.js';
import { parseDurationMs } from '../../config/duration.js';
import { isJsonRequest, requestInfo, type FlowReply, type FlowRequest } from '../request.js';
import { msg } from '../../ui/messages.js';
import { FlowValidationError, type Flow, type FlowType } from '../flow.js';
import { NOT_RESPONSIBLE, type SettingsResult, type SubmittedBody } from '../strategy.js';
import { HookPause, sortNodes, type CurrentSession, type FlowEngine } from '../engine.js';
import { DuplicateIdentifierError, TraitsInvalidError } from '../../identity/identity-service.js';
import { flattenTraits } from '../../identity/trait-nodes.js';
import { applyIdentityPatch, type IdentityPatch } from '../../identity/patch.js';
import { newStepState } from '../hooks.js';
import type { Db } from '../../storage/db.js';

/** Settings (Kratos `selfservice/flow/settings`): needs a session, its AAL, and a privileged session to change credentials. */
export class SettingsFlows {
  constructor(private readonly engine: FlowEngine) {}

  async render(flow: Flow, current: CurrentSession): Promise<void> {
    const nodes = [];
    for (const strategy of this.engine.strategies.settings) nodes.push(...(await strategy.settingsNodes(flow, current.identity)));
    // The identity's MFA rule: a method it forbids is not offered for enrollment (removing one stays possible).
    flow.ui.nodes = sortNodes('settings', this.engine.policy ? this.engine.policy.settingsNodes(current.identity, nodes) : nodes);
  }

  /** A session whose AAL satisfies `selfservice.flows.settings.required_aal`, or the Kratos error. */
  private async requireSession(request: FlowRequest, returnTo: string, db?: Db): Promise<CurrentSession> {
    const { deps } = this.engine;
    const current = await this.engine.currentSession(request, db);
    if (!current) {
      const err = errors.sessionInactive();
      err.extra.redirect_browser_to = deps.urls.browserInit('login', { return_to: returnTo });
      throw err;
    }
    if (!this.engine.satisfiesAal(current, deps.config.selfservice.flows.settings.required_aal)) {
      throw errors.sessionAal2Required(deps.urls.browserInit('login', { aal: 'aal2', return_to: returnTo }));
    }
    return current;
  }

  async init(request: FlowRequest, reply: FlowReply, type: FlowType): Promise<FlowReply> {
    const engine = this.engine;
    // A browser without a session goes to login first: the error carries `redirect_browser_to`, which sendError
    // follows for browsers (JSON clients get the 401).
    return engine.runInit(request, reply, type, async () => {
      const returnTo = engine.returnToOf(request);
      const current = await this.requireSession(request, engine.deps.urls.public(request.url));
      const flow = engine.newFlow('settings', type, request.url, { returnTo });
      flow.identityId = current.identity.id;
      flow.sessionId = current.session.id;
      await this.render(flow, current);
      // Why to enroll, and by when (the MFA rule's grace period), first thing in the flow.
      const notices = engine.policy ? await engine.policy.settingsNotices(current.identity) : [];
      if (notices.length) flow.ui.messages = [...(flow.ui.messages ?? []), ...notices];
      await engine.runBeforeHooks(flow, request, current.session);
      await engine.deps.flows.insert(flow);
      return flow;
    });
  }

  /** GET /self-service/settings/flows?id=: only the flow's own identity may read it. */
  async fetchCheck(request: FlowRequest, flow: Flow): Promise<void> {
    const current = await this.requireSession(request, this.engine.deps.urls.flowUi('settings', flow.id));
    if (current.identity.id !== flow.identityId) throw errors.identityMismatch();
  }

  async submit(request: FlowRequest, reply: FlowReply): Promise<FlowReply> {
    return this.engine.runSubmit(
      'settings',
      request,
      reply,
      async (trx, flow, body, prepared) => {
        try {
          return await this.attempt(trx, request, reply, flow, body, prepared);
        } catch (err) {
          if (err instanceof FlowValidationError) await this.recordFailure(trx, request, flow, body, err);
          throw err;
        }
      },
      this.engine.strategies.settings,
    );
  }

  /**
   * Audit of a refused settings submission (the friction report's failed enrollments): the method, whether it removed
   * a factor (a `*_unlink`, `*_remove` or `*_disable` field), and the message ids shown. Never a code, a password or a
   * trait.
   */
  private async recordFailure(trx: Db, request: FlowRequest, flow: Flow, body: SubmittedBody, err: FlowValidationError): Promise<void> {
    const method = typeof body.method === 'string' ? body.method.slice(0, 32) : 'unknown';
    const removal = Object.entries(body).some(([name, value]) => /_(unlink|remove|disable)$/.test(name) && value !== undefined && value !== null && value !== '' && value !== false && value !== 'false');
    await this.engine.auditSubmission(trx, request, flow, 'settings.failed', { method, removal, message_ids: err.problems.map((p) => p.message.id) });
  }

  /**
   * One submission. With blocking hooks after the method (a web_hook that waits for its answer), a successful change
   * is first made and read back, then rolled back; the hooks see the identity as it would be and answer outside any
   * transaction; the submission then runs again in a second unit of work with their `patches` (engine.ts HookPause).
   * There the change and the patches are made in one savepoint: a patch that the schema or another identity's
   * identifiers refuse undoes the change with it, and the flow answers with the messages. A refusal leaves nothing
   * changed.
   */
  private async attempt(trx: Db, request: FlowRequest, reply: FlowReply, flow: Flow, body: SubmittedBody, prepared: Map<string, unknown>, hooksDone: { patches: IdentityPatch[] } | null = null): Promise<FlowReply> {
    const engine = this.engine;
    const { deps } = engine;
    const current = await this.requireSession(request, deps.urls.flowUi('settings', flow.id), trx);
    if (current.identity.id !== flow.identityId) throw errors.identityMismatch();
    if (engine.isExpired(flow)) {
      const replacement = engine.newFlow('settings', flow.type, request.url, { returnTo: flow.returnTo });
      replacement.identityId = current.identity.id;
      replacement.sessionId = current.session.id;
      await this.render(replacement, current);
      return engine.replaceExpired(request, reply, flow, replacement, trx);
    }
    const privilegedMaxAgeMs = parseDurationMs(deps.config.selfservice.flows.settings.privileged_session_max_age);
    const settingsUi = deps.urls.flowUi('settings', flow.id);
    const requirePrivileged = () => {
      if (current.session.authenticatedAtMs + privilegedMaxAgeMs <= deps.clock.nowMs()) {
        throw errors.sessionRefreshRequired(deps.urls.browserInit('login', { refresh: 'true', return_to: settingsUi }));
      }
    };

    if (engine.policy) {
      const refused = await engine.policy.refusal(trx, { identity: current.identity, body, at: 'settings', flowId: flow.id, sessionId: current.session.id, request: requestInfo(request) });
      if (refused) throw FlowValidationError.global(refused);
    }
    const startedAtMs = deps.clock.nowMs();
    const runStrategies = async (db: Db): Promise<{ result: SettingsResult; strategyId: string } | null> => {
      for (const strategy of engine.strategies.settings) {
        const outcome = await strategy.settings({ trx: db, prepared: prepared.get(strategy.id), flow, body, identity: current.identity, session: current.session, request: requestInfo(request), requirePrivileged });
        if (outcome !== NOT_RESPONSIBLE) return { result: outcome, strategyId: strategy.id };
      }
      return null;
    };
    const hookChanged = new Set<string>();
    const patches = hooksDone?.patches ?? [];
    const ran =
      patches.length === 0
        ? await runStrategies(trx)
        : await deps.identities.inTransaction(trx, async (savepoint) => {
            const found = await runStrategies(savepoint);
            if (found?.result.outcome !== 'saved') return found;
            const patched = (await deps.identities.get(current.identity.id, savepoint))!;
            for (const patch of patches) applyIdentityPatch(patched, patch, deps.clock.nowMs()).forEach((f) => hookChanged.add(f));
            try {
              await deps.identities.update(patched, { credentialTypes: [] }, savepoint);
            } catch (err) {
              const keep = flattenTraits(patched.traits);
              if (err instanceof TraitsInvalidError) throw new FlowValidationError(err.problems.map((p) => ({ field: p.field, message: p.message })), keep);
              if (err instanceof DuplicateIdentifierError) throw new FlowValidationError([{ field: null, message: msg.duplicateCredentials() }], keep);
              throw err;
            }
            return found;
          });
    if (!ran) throw FlowValidationError.global(msg.settingsNoStrategy());
    const { result, strategyId } = ran;

    if (result.outcome === 'saved' && hooksDone === null && engine.hooks.hasBlocking('settings', strategyId)) {
      const changed = (await deps.identities.get(current.identity.id, trx))!;
      const session = current.session;
      throw new HookPause(
        false,
        async () => {
          const patches: IdentityPatch[] = [];
          // Each hook sees the identity with the patches of the hooks before it (flows/hooks.ts `runBlocking`).
          await engine.hooks.runBlocking(
            { kind: 'settings', method: strategyId, flow, request: engine.hookRequest(request), json: engine.hookJson, identity: changed, session },
            (patch) => {
              patches.push(patch);
              applyIdentityPatch(changed, patch, deps.clock.nowMs());
            },
          );
          return { patches };
        },
        async (trx2, again, done) => {
          try {
            return await this.attempt(trx2, request, reply, again, body, prepared, done);
          } catch (err) {
            // The resumed step's own refusal (a hook's patch the schema refuses…), as in the first unit of work.
            if (err instanceof FlowValidationError) await this.recordFailure(trx2, request, again, body, err);
            throw err;
          }
        },
      );
    }
    let session = current.session;
    if (result.amr?.length) session = await deps.sessions.addAuthenticationMethods(trx, session, result.amr);
    const identity = (await deps.identities.get(current.identity.id, trx))!;
    flow.active = strategyId;
    await this.render(flow, { ...current, session, identity });
    const messages = [...(result.outcome === 'saved' ? [msg.settingsSaved()] : []), ...(result.messages ?? [])];
    if (messages.length) flow.ui.messages = messages;
    else delete flow.ui.messages;
    if (result.outcome === 'saved') flow.state = 'success';
    // Kratos: after a save, browsers go to return_to, else to settings.after[.<method>].default_browser_return_url when set.
    const returnTo = result.outcome === 'saved' ? (flow.returnTo ?? deps.urls.configuredAfterReturn('settings', flow.active ?? undefined)) : null;
    if (returnTo && flow.type === 'browser') flow.internal.continue_with = [{ action: 'redirect_browser_to', redirect_browser_to: returnTo }];
    else delete flow.internal.continue_with;
    if (result.outcome === 'saved') {
      const state = newStepState(session);
      await engine.hooks.runInStep({ kind: 'settings', method: strategyId, trx, flow, identity, amr: result.amr ?? [], startedAtMs, request, hookRequest: engine.hookRequest(request), state });
      if (state.continueWith.length) flow.internal.continue_with = [...state.continueWith, ...((flow.internal.continue_with as Record<string, unknown>[] | undefined) ?? [])];
      engine.runAfterCommitHooks(flow, strategyId, request, identity, session);
    }
    await deps.flows.update(flow, deps.clock.nowMs(), trx);
    if (result.outcome === 'saved') {
      const info = requestInfo(request);
      await deps.audit.record(trx, { type: 'settings.succeeded', identityId: identity.id, sessionId: session.id, flowId: flow.id, actor: 'self', ipAddress: info.ip, userAgent: info.userAgent, details: { method: strategyId, ...(hookChanged.size ? { changed_by_hooks: [...hookChanged] } : {}) } });
    }
    if (flow.type === 'browser' && !isJsonRequest(request)) return reply.redirect(returnTo ?? engine.deps.urls.flowUi('settings', flow.id), 303);
    return engine.respondFlow(request, reply, flow);
  }
}
