/**
 * The `code` method of the recovery flow (Kratos `selfservice/strategy/code/strategy_recovery.go`): an email address
 * → a six-digit code by mail (the same answer whether or not the address exists) → recovered. Also Kratos's `link`
 * method for admin-issued links (recovery/codes.ts), and Kairos's tier 2 (issue 6): for an identity with a second
 * factor, proving the mailbox is not enough to get in; the flow continues with an MFA reset request
 * (recovery/mfa-reset.ts), a step this strategy owns, instead of a session.
 *
 * Only verified recovery addresses count. Emailed codes are the one-time code primitive (credentials/code/, purpose
 * `recovery`): keyed hash at rest, expiry, attempts per code, single use, at most MAX_CODES_PER_ADDRESS mailed per
 * address per hour. Guessing is throttled on top of that by MAX_CODE_SUBMISSIONS per flow (an atomic counter on the
 * flow row, so a resent code buys no new guesses) and the per-IP limit on every flow submission (server.ts).
 * Admin-issued codes and links are recovery/codes.ts (no address; issued by an actor).
 */
import type { Deps } from '../deps.js';
import type { Db } from '../storage/db.js';
import { msg } from '../ui/messages.js';
import { inputNode, type UiNode } from '../ui/nodes.js';
import { FlowValidationError, type Flow } from '../flows/flow.js';
import { sortNodes } from '../flows/engine.js';
import { NOT_RESPONSIBLE, type NotResponsible, type RecoveryResult, type RecoveryStrategy, type RequestInfo, type SubmittedBody } from '../flows/strategy.js';
import type { Identity } from '../identity/identity.js';
import type { AmrEntry } from '../session/session.js';
import { parseDurationMs } from '../config/duration.js';
import type { RecoveryCodes } from './codes.js';
import type { MfaResets } from './mfa-reset.js';
import { CodeThrottledError } from '../credentials/code/one-time-codes.js';
import { recoveryMsg } from './messages.js';

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

export class CodeRecoveryStrategy implements RecoveryStrategy {
  readonly id = 'code';

  constructor(
    private readonly deps: Deps,
    private readonly codes: RecoveryCodes,
    private readonly resets: MfaResets,
  ) {}

  recoveryNodes(): UiNode[] {
    return emailNodes();
  }

  async recover(input: { trx: Db; flow: Flow; body: SubmittedBody; request: RequestInfo }): Promise<RecoveryResult | NotResponsible> {
    const { trx, flow, body, request } = input;
    // The MFA reset step is this strategy's own (opened by `proven`): whatever is submitted there is its to answer.
    if (flow.internal.step === 'mfa_reset') return this.submitPassword(request, flow, body);
    if (body.method !== 'code') return NOT_RESPONSIBLE;
    const code = str(body.code);
    const email = str(body.email);
    if (code && flow.state === 'sent_email') return this.verifyCode(trx, request, flow, code.trim());
    if (email) return this.sendCode(trx, request, flow, email);
    if (flow.state === 'sent_email') throw FlowValidationError.field('code', msg.required('code'));
    throw FlowValidationError.field('email', msg.required('email'));
  }

  /** An admin-issued link (`GET /self-service/recovery?flow=&token=`). */
  async followLink(input: { trx: Db; flow: Flow; token: string; request: RequestInfo }): Promise<RecoveryResult | null> {
    const used = await this.codes.consume(input.flow.id, 'link', input.token);
    if (!used) return null;
    return this.proven(input.trx, input.request, input.flow, used.identityId, 'link', used.issuedBy);
  }

  /** Sends a code if the address is a verified recovery address; answers the same either way (no enumeration). */
  private async sendCode(trx: Db, info: RequestInfo, flow: Flow, rawEmail: string): Promise<RecoveryResult> {
    const { deps } = this;
    const email = rawEmail.trim().toLowerCase();
    if (email.length > 320 || !/^[^@\s]+@[^@\s]+$/.test(email)) {
      throw new FlowValidationError([{ field: 'email', message: msg.invalidFormat('email', rawEmail) }], { email: rawEmail });
    }
    if (flow.internal.admin_issued) throw FlowValidationError.global(msg.recoveryNoStrategy());
    const now = deps.clock.nowMs();
    const target = await deps.recoveryAddresses.findRecoveryTarget(email, trx);
    let cause: string | null = target ? null : 'no_verified_recovery_address';
    const lifespanMs = parseDurationMs(deps.config.selfservice.methods.code.config.lifespan);
    const expiresAtMs = Math.min(now + lifespanMs, flow.expiresAtMs);
    try {
      await deps.identities.inTransaction(trx, async (trx) => {
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
      await deps.audit.record(trx, { type: 'recovery.requested', identityId: target?.identityId ?? null, flowId: flow.id, actor: 'self', ipAddress: info.ip, userAgent: info.userAgent, details: { method: 'code', sent: false, cause } });
    }
    flow.state = 'sent_email';
    flow.ui.nodes = sortNodes('recovery', codeNodes(email));
    flow.ui.messages = [msg.recoveryEmailWithCodeSent()];
    return { outcome: 'continue' };
  }

  private async verifyCode(trx: Db, info: RequestInfo, flow: Flow, code: string): Promise<RecoveryResult> {
    // The slot is taken before the code is looked at, so concurrent guesses cannot race past the budget.
    const taken = await this.deps.flows.recordFailedAttempt(flow.id, MAX_CODE_SUBMISSIONS);
    if (taken === null) throw FlowValidationError.global(recoveryMsg.tooManyAttempts());
    if (flow.internal.admin_issued) {
      const used = await this.codes.consume(flow.id, 'code', code);
      if (!used) throw FlowValidationError.global(msg.recoveryCodeInvalid());
      return this.proven(trx, info, flow, used.identityId, 'code', used.issuedBy);
    }
    const check = await this.deps.oneTimeCodes.verify({ purpose: RECOVERY_CODE_PURPOSE, flowId: flow.id, code });
    if (!check.ok || !check.code.identityId) throw FlowValidationError.global(msg.recoveryCodeInvalid());
    return this.proven(trx, info, flow, check.code.identityId, 'code', 'self');
  }

  /** The mailbox (or an admin link) is proven for this identity: plain recovery, or the MFA reset step. */
  private async proven(trx: Db, info: RequestInfo, flow: Flow, identityId: string, method: 'code' | 'link', issuedBy: string): Promise<RecoveryResult> {
    const { deps } = this;
    const identity = await deps.identities.get(identityId);
    if (!identity || identity.state !== 'active') throw FlowValidationError.global(msg.accountDisabled());
    const amr: AmrEntry = { method: AMR_METHOD[method], aal: 'aal1', completedAtMs: deps.clock.nowMs() };
    if (!deps.identities.hasSecondFactor(identity)) return { outcome: 'recovered', identity, amr: [amr], details: { method, issued_by: issuedBy, mfa: 'none' } };

    // Recovery by email alone does not remove the second factor: complete a due reset, or open (or show) one.
    const pending = await this.resets.pending(identity.id);
    if (pending && this.resets.isDue(pending)) {
      return {
        outcome: 'recovered',
        identity,
        amr: [amr],
        details: { method, issued_by: issuedBy, mfa: 'reset_after_delay' },
        settingsMessages: [recoveryMsg.enrollAgain()],
        complete: () => this.completeReset(pending, identity, { via: 'delay', flowId: flow.id, request: info, actor: 'self' }),
      };
    }
    const { request: reset } = await this.resets.open(identity, { flowId: flow.id, request: info, actor: 'self' });
    flow.identityId = identity.id;
    flow.internal = { ...flow.internal, step: 'mfa_reset', mfa_reset_id: reset.id, method, issued_by: issuedBy };
    flow.ui.nodes = sortNodes('recovery', mfaNodes(hasPassword(identity)));
    flow.ui.messages = [recoveryMsg.mfaResetExplained(reset.not_before, this.resets.delayMs, hasPassword(identity))];
    return { outcome: 'continue' };
  }

  /** The MFA reset step: the password completes the reset at once. */
  private async submitPassword(info: RequestInfo, flow: Flow, body: SubmittedBody): Promise<RecoveryResult> {
    const { deps } = this;
    if (body.method !== 'password') throw FlowValidationError.global(msg.recoveryNoStrategy());
    const identity = flow.identityId ? await deps.identities.get(flow.identityId) : null;
    if (!identity || identity.state !== 'active') throw FlowValidationError.global(msg.accountDisabled());
    const reset = await this.resets.get(String(flow.internal.mfa_reset_id));
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
    const now = deps.clock.nowMs();
    const method = flow.internal.method === 'link' ? 'link' : 'code';
    const amr: AmrEntry[] = [
      { method: AMR_METHOD[method], aal: 'aal1', completedAtMs: now },
      { method: 'password', aal: 'aal1', completedAtMs: now },
    ];
    return {
      outcome: 'recovered',
      identity,
      amr,
      details: { method, issued_by: String(flow.internal.issued_by ?? 'self'), mfa: 'reset_with_password' },
      settingsMessages: [recoveryMsg.enrollAgain()],
      complete: () => this.completeReset(reset, identity, { via: 'password', flowId: flow.id, request: info, actor: 'self' }),
    };
  }

  /** Completes a pending MFA reset: the identity without its second factor, or the flow's error when it was cancelled meanwhile. */
  private async completeReset(reset: Parameters<MfaResets['complete']>[0], identity: Identity, context: Parameters<MfaResets['complete']>[2]): Promise<Identity> {
    if (!(await this.resets.complete(reset, identity, context))) throw FlowValidationError.global(recoveryMsg.mfaResetCancelled());
    return (await this.deps.identities.get(identity.id))!;
  }
}
