/**
 * Recovery (Kratos `selfservice/flow/recovery` with the `code` method): an email address → a six-digit code by mail
 * (the same answer whether or not the address exists) → a privileged session and a settings flow.
 *
 * Only verified recovery addresses count. For an identity with a second factor, proving the mailbox is not enough
 * to get in: the flow continues with an MFA reset request (recovery/mfa-reset.ts) instead of a session.
 *
 * Emailed codes are the one-time code primitive (credentials/code/, purpose `recovery`): keyed hash at rest,
 * expiry, attempts per code, single use, at most MAX_CODES_PER_ADDRESS mailed per address per hour. Guessing is
 * throttled on top of that by MAX_CODE_SUBMISSIONS per flow (an atomic counter on the flow row, so a resent code buys
 * no new guesses) and the per-IP limit on every flow submission (server.ts). Admin-issued codes and links are
 * recovery/codes.ts (no address; issued by an actor).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../../errors/http-error.js';
import { isJsonRequest, requestInfo } from '../../http/request.js';
import { msg } from '../../ui/messages.js';
import { inputNode, type UiNode } from '../../ui/nodes.js';
import { FlowValidationError, type Flow, type FlowType } from '../flow.js';
import { HookPause, setSessionCookie, sortNodes, type FlowEngine } from '../engine.js';
import { newStepState } from '../hooks.js';
import { inStep } from '../../storage/unit-of-work.js';
import type { FlowHandlers } from '../../http/public/self-service.js';
import type { SettingsFlows } from '../settings/handler.js';
import type { Identity } from '../../identity/identity.js';
import type { AmrEntry } from '../../session/session.js';
import { parseDurationMs } from '../../config/duration.js';
import type { RecoveryCodes } from '../../recovery/codes.js';
import type { MfaResets } from '../../recovery/mfa-reset.js';
import { CodeThrottledError } from '../../credentials/code/one-time-codes.js';
import { recoveryMsg } from '../../recovery/messages.js';

/** Code submissions per recovery flow (NIST SP 800-63B §5.2.2 asks verifiers to limit failed attempts). */
export const MAX_CODE_SUBMISSIONS = 5;
/** Password submissions allowed at the MFA reset step of one flow (after the code step's budget). */
export const MAX_PASSWORD_SUBMISSIONS = 5;
/** The one-time code purpose of emailed recovery codes. */
export const RECOVERY_CODE_PURPOSE = 'recovery';
/** Kratos's session AMR methods for recovery (`identity.CredentialsTypeRecoveryCode`, `…RecoveryLink`). */
const AMR_METHOD = { code: 'code_recovery', link: 'link_recovery' } as const;

const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v : null);

export function emailNodes(): UiNode[] {
  return [
    inputNode('code', 'email', 'email', { required: true, autocomplete: 'email', label: msg.labelEmail() }),
    inputNode('code', 'method', 'submit', { value: 'code', label: msg.labelSubmit() }),
  ];
}

export function codeNodes(email: string | null): UiNode[] {
  return [
    inputNode('code', 'code', 'text', { required: true, autocomplete: 'one-time-code', pattern: '[0-9]+', label: msg.labelRecoveryCode() }),
    inputNode('code', 'method', 'hidden', { value: 'code' }),
    inputNode('code', 'method', 'submit', { value: 'code', label: msg.labelSubmit() }),
    ...(email ? [inputNode('code', 'email', 'submit', { value: email, label: msg.labelResendCode() })] : []),
  ];
}

/**
 * The password that completes an MFA reset sits in the `code` group: Ory's recovery cards (elements' LinkSection)
 * render only the `link` and `code` groups, so a node in `password` would be invisible there and the flow a dead end.
 */
function mfaNodes(hasPassword: boolean): UiNode[] {
  if (!hasPassword) return [];
  return [
    inputNode('code', 'password', 'password', { required: true, autocomplete: 'current-password', label: msg.labelPassword() }),
    inputNode('code', 'method', 'submit', { value: 'password', label: msg.labelSubmit() }),
  ];
}

const hasPassword = (identity: Identity) => typeof identity.credentials.password?.config.hashed_password === 'string';

export class RecoveryFlows implements FlowHandlers {
  /** Set by the recovery module once every flow handler exists (settings renders the flow recovery lands in). */
  settings: SettingsFlows | null = null;

  constructor(
    private readonly engine: FlowEngine,
    private readonly codes: RecoveryCodes,
    private readonly resets: MfaResets,
  ) {}

  private get deps() {
    return this.engine.deps;
  }

  newEmailFlow(type: FlowType, request: FastifyRequest, returnTo: string | null): Flow {
    const flow = this.engine.newFlow('recovery', type, request, { returnTo });
    flow.active = 'code';
    flow.ui.nodes = sortNodes('recovery', emailNodes());
    return flow;
  }

  /** GET /self-service/recovery/{browser,api} */
  async init(request: FastifyRequest, reply: FastifyReply, type: FlowType): Promise<FastifyReply> {
    const engine = this.engine;
    return engine.runInit(request, reply, type, async () => {
      const returnTo = engine.returnToOf(request);
      if (await engine.currentSession(request)) return engine.alreadySignedIn(request, reply, type, returnTo);
      const flow = this.newEmailFlow(type, request, returnTo);
      await engine.runBeforeHooks(flow, request);
      await this.deps.flows.insert(flow);
      return flow;
    });
  }

  /** POST /self-service/recovery?flow= */
  async submit(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const engine = this.engine;
    // The step's transaction (`trx`) is joined by every query below (storage/unit-of-work.ts); recovery's own services
    // do not take it explicitly yet.
    return engine.runSubmit('recovery', request, reply, async (trx, flow, body) => {
      if (engine.isExpired(flow)) return engine.replaceExpired(request, reply, flow, this.newEmailFlow(flow.type, request, flow.returnTo), trx);
      if (flow.state === 'passed_challenge') throw FlowValidationError.global(msg.flowAlreadyCompleted());
      if (flow.internal.step === 'mfa_reset') return await this.submitPassword(request, reply, flow, body);
      if (body.method !== 'code') throw FlowValidationError.global(msg.recoveryNoStrategy());
      const code = str(body.code);
      const email = str(body.email);
      if (code && flow.state === 'sent_email') return await this.verifyCode(request, reply, flow, code.trim());
      if (email) return await this.sendCode(request, reply, flow, email);
      if (flow.state === 'sent_email') throw FlowValidationError.field('code', msg.required('code'));
      throw FlowValidationError.field('email', msg.required('email'));
    });
  }

  /**
   * The identity whose verified recovery address this is, or null: a trait address marked `recovery.via: email`
   * that is also a verified address, or a secondary recovery address (settings) once verified; the identity must be
   * active. Two queries whatever the answer, so the lookup costs a known and an unknown address the same.
   */
  private async recoveryTarget(email: string): Promise<{ identityId: string; address: string } | null> {
    const primary = await this.deps.db
      .selectFrom('identity_recovery_addresses as r')
      .innerJoin('identity_verifiable_addresses as v', (join) => join.onRef('v.identity_id', '=', 'r.identity_id').onRef('v.value', '=', 'r.value'))
      .innerJoin('identities as i', 'i.id', 'r.identity_id')
      .select(['r.identity_id', 'r.value'])
      .where('r.value', '=', email)
      .where('r.via', '=', 'email')
      .where('v.verified', '=', 1)
      .where('i.state', '=', 'active')
      .limit(1)
      .executeTakeFirst();
    const secondary = await this.deps.db
      .selectFrom('identity_secondary_recovery_addresses as s')
      .innerJoin('identities as i', 'i.id', 's.identity_id')
      .select(['s.identity_id', 's.value'])
      .where('s.verified_value', '=', email)
      .where('s.via', '=', 'email')
      .where('s.verified', '=', 1)
      .where('i.state', '=', 'active')
      .executeTakeFirst();
    const row = primary ?? secondary;
    return row ? { identityId: row.identity_id, address: row.value } : null;
  }

  /** Sends a code if the address is a verified recovery address; answers the same either way (no enumeration). */
  private async sendCode(request: FastifyRequest, reply: FastifyReply, flow: Flow, rawEmail: string): Promise<FastifyReply> {
    const { deps } = this;
    const email = rawEmail.trim().toLowerCase();
    if (email.length > 320 || !/^[^@\s]+@[^@\s]+$/.test(email)) {
      throw new FlowValidationError([{ field: 'email', message: msg.invalidFormat('email', rawEmail) }], { email: rawEmail });
    }
    if (flow.internal.admin_issued) throw FlowValidationError.global(msg.recoveryNoStrategy());
    const info = requestInfo(request);
    const now = deps.clock.nowMs();
    const target = await this.recoveryTarget(email);
    let cause: string | null = target ? null : 'no_verified_recovery_address';
    const lifespanMs = parseDurationMs(deps.config.selfservice.methods.code.config.lifespan);
    const expiresAtMs = Math.min(now + lifespanMs, flow.expiresAtMs);
    try {
      await deps.identities.inTransaction(deps.db, async (trx) => {
        // Quotas per address and per client, with a reserve the owner's own request draws on (one-time-codes.ts).
        // An unknown address goes through the same issue (its code names no identity: never mailed, never accepted,
        // revoked below), so the two answers cost the same work (issue 14, finding 1).
        const requester = { ip: info.ip, sessionIdentityId: null };
        const issued = await deps.oneTimeCodes.issue({ purpose: RECOVERY_CODE_PURPOSE, flowId: flow.id, identityId: target?.identityId ?? null, address: target?.address ?? email, expiresAtMs, requester }, trx);
        if (!target) return;
        await deps.courier.enqueue(
          { template: 'recovery_code_valid', recipient: target.address, identityId: target.identityId, carriesSecret: true, acceptLanguage: info.acceptLanguage ?? null, data: { RecoveryCode: issued.code, ExpiresInMinutes: Math.round((expiresAtMs - now) / 60_000) } },
          trx,
        );
        await deps.audit.record(trx, { type: 'recovery.requested', identityId: target.identityId, flowId: flow.id, actor: 'self', ipAddress: info.ip, userAgent: info.userAgent, details: { method: 'code', sent: true, expires_at: new Date(expiresAtMs).toISOString() } });
      });
    } catch (err) {
      if (!(err instanceof CodeThrottledError)) throw err;
      cause ??= 'address_code_budget_used';
    }
    if (cause) {
      // Nothing is mailed; an earlier code of this flow stops working, exactly as when a code is resent.
      await deps.oneTimeCodes.revokeFlow(flow.id, RECOVERY_CODE_PURPOSE);
      await deps.audit.record(deps.db, { type: 'recovery.requested', identityId: target?.identityId ?? null, flowId: flow.id, actor: 'self', ipAddress: info.ip, userAgent: info.userAgent, details: { method: 'code', sent: false, cause } });
    }
    flow.state = 'sent_email';
    flow.ui.nodes = sortNodes('recovery', codeNodes(email));
    flow.ui.messages = [msg.recoveryEmailWithCodeSent()];
    await deps.flows.update(flow, now);
    return this.engine.show(request, reply, flow);
  }

  private async verifyCode(request: FastifyRequest, reply: FastifyReply, flow: Flow, code: string): Promise<FastifyReply> {
    // The slot is taken before the code is looked at, so concurrent guesses cannot race past the budget.
    const taken = await this.deps.flows.recordFailedAttempt(flow.id, MAX_CODE_SUBMISSIONS);
    if (taken === null) throw FlowValidationError.global(recoveryMsg.tooManyAttempts());
    if (flow.internal.admin_issued) {
      const used = await this.codes.consume(flow.id, 'code', code);
      if (!used) throw FlowValidationError.global(msg.recoveryCodeInvalid());
      return this.proven(request, reply, flow, used.identityId, 'code', used.issuedBy);
    }
    const check = await this.deps.oneTimeCodes.verify({ purpose: RECOVERY_CODE_PURPOSE, flowId: flow.id, code });
    if (!check.ok || !check.code.identityId) throw FlowValidationError.global(msg.recoveryCodeInvalid());
    return this.proven(request, reply, flow, check.code.identityId, 'code', 'self');
  }

  /** GET /self-service/recovery?flow=&token=: an admin recovery link. */
  async followLink(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const engine = this.engine;
    const q = request.query as Record<string, unknown>;
    let flow: Flow | null = null;
    try {
      flow = await engine.loadFlow('recovery', q.flow);
      const token = str(q.token);
      if (!token) return engine.redirectToUi(reply, flow);
      if (engine.isExpired(flow)) {
        const replacement = this.newEmailFlow('browser', request, flow.returnTo);
        replacement.ui.messages = [engine.expiredMessage(flow)];
        await this.deps.flows.insert(replacement);
        return engine.redirectToUi(reply, replacement);
      }
      const used = flow.state === 'passed_challenge' ? null : await this.codes.consume(flow.id, 'link', token);
      if (!used) {
        const replacement = this.newEmailFlow('browser', request, flow.returnTo);
        replacement.ui.messages = [recoveryMsg.tokenInvalid()];
        await this.deps.flows.insert(replacement);
        if (isJsonRequest(request)) return engine.respondFlow(request, reply, replacement, 400);
        engine.csrf.ensure(request, reply);
        return engine.redirectToUi(reply, replacement);
      }
      return await this.proven(request, reply, flow, used.identityId, 'link', used.issuedBy);
    } catch (err) {
      return engine.fail(request, reply, flow, err);
    }
  }

  /** The mailbox (or an admin link) is proven for this identity: plain recovery, or the MFA reset step. */
  private async proven(request: FastifyRequest, reply: FastifyReply, flow: Flow, identityId: string, method: 'code' | 'link', issuedBy: string): Promise<FastifyReply> {
    const { deps } = this;
    const info = requestInfo(request);
    const identity = await deps.identities.get(identityId);
    if (!identity || identity.state !== 'active') throw FlowValidationError.global(msg.accountDisabled());
    const amr: AmrEntry = { method: AMR_METHOD[method], aal: 'aal1', completedAtMs: deps.clock.nowMs() };
    if (!deps.identities.hasSecondFactor(identity)) return this.finish(request, reply, flow, identity, [amr], { method, issued_by: issuedBy, mfa: 'none' });

    // Recovery by email alone does not remove the second factor: complete a due reset, or open (or show) one.
    const pending = await this.resets.pending(identity.id);
    if (pending && this.resets.isDue(pending)) {
      if (await this.resets.complete(pending, identity, { via: 'delay', flowId: flow.id, request: info, actor: 'self' })) {
        const after = (await deps.identities.get(identity.id))!;
        return this.finish(request, reply, flow, after, [amr], { method, issued_by: issuedBy, mfa: 'reset_after_delay' }, [recoveryMsg.enrollAgain()]);
      }
    }
    const { request: reset } = await this.resets.open(identity, { flowId: flow.id, request: info, actor: 'self' });
    flow.identityId = identity.id;
    flow.internal = { ...flow.internal, step: 'mfa_reset', mfa_reset_id: reset.id, method, issued_by: issuedBy };
    flow.ui.nodes = sortNodes('recovery', mfaNodes(hasPassword(identity)));
    flow.ui.messages = [recoveryMsg.mfaResetExplained(reset.not_before, this.resets.delayMs, hasPassword(identity))];
    await deps.flows.update(flow, deps.clock.nowMs());
    return this.engine.show(request, reply, flow);
  }

  /** The MFA reset step: the password completes the reset at once. */
  private async submitPassword(request: FastifyRequest, reply: FastifyReply, flow: Flow, body: Record<string, unknown>): Promise<FastifyReply> {
    const { deps } = this;
    const info = requestInfo(request);
    if (body.method !== 'password') throw FlowValidationError.global(msg.recoveryNoStrategy());
    const identity = flow.identityId ? await deps.identities.get(flow.identityId) : null;
    if (!identity || identity.state !== 'active') throw FlowValidationError.global(msg.accountDisabled());
    const reset = await deps.db.selectFrom('mfa_reset_requests').selectAll().where('id', '=', String(flow.internal.mfa_reset_id)).executeTakeFirst();
    if (!reset || reset.status !== 'pending') throw FlowValidationError.global(recoveryMsg.mfaResetCancelled());
    const taken = await deps.flows.recordFailedAttempt(flow.id, MAX_CODE_SUBMISSIONS + MAX_PASSWORD_SUBMISSIONS);
    if (taken === null) throw FlowValidationError.global(recoveryMsg.tooManyAttempts());
    const password = str(body.password);
    if (!password) throw FlowValidationError.field('password', msg.required('password'));
    const hashed = identity.credentials.password?.config.hashed_password;
    if (typeof hashed !== 'string') {
      await deps.hasher.dummyVerify(password);
      throw FlowValidationError.global(recoveryMsg.noPasswordWait(reset.not_before));
    }
    if (password.length > 4096 || !(await deps.hasher.verify(hashed, password))) throw FlowValidationError.global(msg.invalidCredentials());
    if (!(await this.resets.complete(reset, identity, { via: 'password', flowId: flow.id, request: info, actor: 'self' }))) {
      throw FlowValidationError.global(recoveryMsg.mfaResetCancelled());
    }
    const now = deps.clock.nowMs();
    const method = flow.internal.method === 'link' ? 'link' : 'code';
    const amr: AmrEntry[] = [
      { method: AMR_METHOD[method], aal: 'aal1', completedAtMs: now },
      { method: 'password', aal: 'aal1', completedAtMs: now },
    ];
    const after = (await deps.identities.get(identity.id))!;
    return this.finish(request, reply, flow, after, amr, { method, issued_by: String(flow.internal.issued_by ?? 'self'), mfa: 'reset_with_password' }, [recoveryMsg.enrollAgain()]);
  }

  /**
   * Recovery succeeded: every other session of the identity is revoked, a privileged session is issued, and the
   * person lands in a settings flow (Kratos: browser 303, SPA 422 `browser_location_change_required`, API the flow
   * with `continue_with` set_ory_session_token + show_settings_ui).
   */
  private async finish(
    request: FastifyRequest,
    reply: FastifyReply,
    flow: Flow,
    identity: Identity,
    amr: AmrEntry[],
    details: Record<string, unknown>,
    settingsMessages: import('../../ui/messages.js').UiText[] = [],
    hooksDone = false,
  ): Promise<FastifyReply> {
    const { deps, engine } = this;
    const info = requestInfo(request);
    const method = details.method === 'link' ? 'link' : 'code';
    // Hooks that wait for an HTTP answer run before the session is issued and outside any transaction: after this
    // step's unit of work (engine.ts HookPause), or right away for an admin link, which runs outside one. Kratos
    // lets a recovery hook's `response.parse` change the identity in memory only: nothing is stored.
    if (!hooksDone && engine.hooks.hasBlocking('recovery', method)) {
      const run = () => engine.runBlockingHooks(flow, method, request, structuredClone(identity), null);
      if (inStep()) {
        throw new HookPause(true, run, async (_trx, again) => {
          if (again.state === 'passed_challenge') throw FlowValidationError.global(msg.flowAlreadyCompleted());
          return this.finish(request, reply, again, identity, amr, details, settingsMessages, true);
        });
      }
      await run();
    }
    const revoked = await deps.sessions.revokeAllForIdentity(identity.id);
    const { session, token } = await deps.sessions.create(deps.db, identity.id, amr, { ipAddress: info.ip, userAgent: info.userAgent });
    await engine.hooks.runInStep({ kind: 'recovery', method, trx: deps.db, flow, identity, amr, startedAtMs: deps.clock.nowMs(), request, hookRequest: engine.hookRequest(request), state: newStepState(session, token) });
    const settings = engine.newFlow('settings', flow.type, request, { returnTo: flow.returnTo });
    settings.requestUrl = deps.urls.browserInit('settings');
    settings.identityId = identity.id;
    settings.sessionId = session.id;
    if (!this.settings) throw new Error('recovery needs the settings flow handler');
    await this.settings.render(settings, { session, identity, token, facts: {} });
    settings.ui.messages = [msg.recoverySuccessful(parseDurationMs(deps.config.selfservice.flows.settings.privileged_session_max_age)), ...settingsMessages];
    await deps.flows.insert(settings);

    const settingsUrl = deps.urls.flowUi('settings', settings.id);
    flow.state = 'passed_challenge';
    flow.identityId = identity.id;
    flow.ui.nodes = [];
    delete flow.ui.messages;
    flow.internal = { ...flow.internal, continue_with: [{ action: 'show_settings_ui', flow: { id: settings.id, url: settingsUrl } }] };
    await deps.flows.update(flow, deps.clock.nowMs());
    await deps.audit.record(deps.db, { type: 'recovery.completed', identityId: identity.id, sessionId: session.id, flowId: flow.id, actor: 'self', ipAddress: info.ip, userAgent: info.userAgent, details: { ...details, revoked_sessions: revoked } });
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
