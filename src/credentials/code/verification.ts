/**
 * The `code` method of the verification flow (Kratos `selfservice/strategy/code/strategy_verification.go`):
 * `choose_method` asks for an email address; submitting it sends a six-digit code (state `sent_email`); submitting
 * the code marks the address verified (state `passed_challenge`, message 1080002). Submitting the address again
 * sends a new code (the old one stops working).
 *
 * - An address nobody has gets no email (Kratos's default, `notify_unknown_recipients: false`), but the flow
 *   answers exactly as for a known one and a code row is issued all the same, so neither the response nor the
 *   throttle reveals whether the address exists.
 * - The code expires with the flow or after `selfservice.methods.code.config.lifespan`, whichever is first.
 * - Guessing: MAX_ATTEMPTS_PER_CODE per code, MAX_CODES_PER_ADDRESS codes per address per hour (one-time-codes.ts),
 *   and the per-IP limit on flow submissions. A used-up mail quota is never shown (no 4900301 any more): the flow
 *   answers `sent_email` as always and no mail goes out, so neither the answer nor the quota tells a known address
 *   from an unknown one.
 * - The addresses a code can verify: the identity's verifiable addresses (schema `verification.via: email`) and its
 *   secondary recovery addresses (recovery-address-settings.ts).
 * - Phone numbers (schema `verification.via: sms`, issue 15), as in Kratos: when an `sms` courier channel is
 *   configured the `email` field takes an email address or a phone number (label 1070018, input type text); a
 *   number gets its code by SMS (1080004) and is verified with 1080005. Numbers are compared in E.164. The same
 *   quotas apply per number.
 */
import type { Deps } from '../../deps.js';
import type { Db } from '../../identity/repository.js';
import { parseDurationMs } from '../../config/duration.js';
import { FlowValidationError, type Flow } from '../../flows/flow.js';
import { NOT_RESPONSIBLE, type NotResponsible, type RequestInfo, type SubmittedBody } from '../../flows/strategy.js';
import type { VerificationStrategy } from '../../flows/verification/handler.js';
import { normalizeEmail, RecoveryAddressTakenError } from '../../identity/recovery-address-book.js';
import { normalizePhoneNumber, isPhoneNumber } from '../../identity/schemas.js';
import { anchorNode, inputNode, type UiNode } from '../../ui/nodes.js';
import { msg, type UiText } from '../../ui/messages.js';
import { CodeThrottledError, normalizeCode, type CodeRequester } from './one-time-codes.js';
import { codeMsg } from './messages.js';

export const VERIFICATION_PURPOSE = 'verification';
/** RFC 5321 §4.5.3.1.3: a path is at most 256 octets; 320 is the usual upper bound for local@domain. */
const MAX_EMAIL_LENGTH = 320;
const EMAIL = /^[^\s@]+@[^\s@]+$/;

type CodeVerificationDeps = Pick<Deps, 'config' | 'db' | 'clock' | 'urls' | 'courier' | 'oneTimeCodes' | 'recoveryAddresses' | 'audit' | 'flows' | 'logger' | 'metrics' | 'identities'>;

export interface VerificationTarget {
  kind: 'verifiable_address' | 'secondary_recovery_address';
  id: string;
  identityId: string;
  value: string;
}

/** Internal state kept in `flow.internal` (server-only). */
interface VerificationInternal {
  verification_address?: string;
  /** Set when the flow was started for one identity's address (after registration, from settings). */
  verification_identity_id?: string;
}

const internalOf = (flow: Flow) => flow.internal as VerificationInternal;

/** Kratos's messages for phone numbers (text/message_node.go, message_verification.go). */
export const phoneVerificationMsg = {
  labelEmailOrPhone: (): UiText => ({ id: 1070018, text: 'Email or phone number', type: 'info' }),
  codeSentByText: (): UiText => ({
    id: 1080004,
    text: 'A text message containing a verification code has been sent to the phone number you provided. If you have not received a text message, check the spelling of the number and make sure to use the number you registered with.',
    type: 'info',
  }),
  phoneVerified: (): UiText => ({ id: 1080005, text: 'You successfully verified your phone number.', type: 'success' }),
} as const;

/** Addresses are stored normalized: phone numbers in E.164, so they start with `+`; email addresses never do. */
export const isPhoneAddress = (address: string) => address.startsWith('+');

/** An email address from a form, normalized, or a field error in Kratos's shape. */
export function parseEmail(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new FlowValidationError([{ field, message: msg.required(field) }]);
  const trimmed = value.trim();
  if (trimmed.length > MAX_EMAIL_LENGTH) throw new FlowValidationError([{ field, message: msg.maxLength(MAX_EMAIL_LENGTH, trimmed.length) }], { [field]: trimmed.slice(0, MAX_EMAIL_LENGTH) });
  if (!EMAIL.test(trimmed)) throw new FlowValidationError([{ field, message: msg.invalidFormat('email', trimmed) }], { [field]: trimmed });
  return normalizeEmail(trimmed);
}

/** A value typed into the address field that is meant as a phone number (digits, `+`, spaces and punctuation only). */
function looksLikePhoneNumber(value: unknown): boolean {
  return typeof value === 'string' && /^\s*\+?[\d\s().-]{6,}$/.test(value) && !value.includes('@');
}

/** A phone number from a form in E.164, or a field error in Kratos's shape (4000004, format tel). */
export function parsePhone(value: unknown, field: string): string {
  const text = typeof value === 'string' ? value.trim() : '';
  if (!isPhoneNumber(text)) throw new FlowValidationError([{ field, message: msg.invalidFormat('tel', text) }], { [field]: text.slice(0, 32) });
  return normalizePhoneNumber(text);
}

export class CodeVerificationStrategy implements VerificationStrategy {
  readonly id = 'code';

  constructor(private readonly deps: CodeVerificationDeps) {}

  /** Whether text messages can be sent (an `sms` courier channel is configured). */
  private get sms(): boolean {
    return this.deps.config.courier.channels.some((c) => c.id === 'sms');
  }

  verificationNodes(_flow: Flow): UiNode[] {
    return [
      this.sms
        ? inputNode('code', 'email', 'text', { required: true, autocomplete: 'email', label: phoneVerificationMsg.labelEmailOrPhone() })
        : inputNode('code', 'email', 'email', { required: true, autocomplete: 'email', label: msg.labelEmail() }),
      inputNode('code', 'method', 'submit', { value: 'code', label: msg.labelSubmit() }),
    ];
  }

  private sentNodes(address: string): UiNode[] {
    return [
      inputNode('code', 'code', 'text', { required: true, autocomplete: 'one-time-code', pattern: '[0-9]+', inputmode: 'numeric', maxlength: 6, label: msg.labelVerificationCode() }),
      inputNode('code', 'method', 'hidden', { value: 'code' }),
      inputNode('code', 'method', 'submit', { value: 'code', label: msg.labelSubmit() }),
      inputNode('code', 'email', 'submit', { value: address, label: msg.labelResendCode() }),
    ];
  }

  /** Who a code sent to `address` can verify. */
  async targets(address: string, db: Db = this.deps.db): Promise<VerificationTarget[]> {
    const primary = await db
      .selectFrom('identity_verifiable_addresses')
      .select(['id', 'identity_id', 'value'])
      .where('via', '=', isPhoneAddress(address) ? 'sms' : 'email')
      .where('value', '=', address)
      .execute();
    const secondary = await this.deps.recoveryAddresses.findSecondaryByValue(address, 'email', db);
    return [
      ...primary.map((r) => ({ kind: 'verifiable_address' as const, id: r.id, identityId: r.identity_id, value: r.value })),
      ...secondary.map((r) => ({ kind: 'secondary_recovery_address' as const, id: r.id, identityId: r.identityId, value: r.value })),
    ];
  }

  /**
   * The identity a code for `address` is for: the one the flow was started for, else the owner of the verifiable
   * address, else the one identity that listed it as a secondary recovery address (none when several did: the
   * mailbox's owner then verifies it from their own settings).
   */
  private chooseIdentity(targets: VerificationTarget[], boundTo: string | undefined): string | null {
    if (boundTo) return targets.some((t) => t.identityId === boundTo) ? boundTo : null;
    const primary = targets.find((t) => t.kind === 'verifiable_address');
    if (primary) return primary.identityId;
    const owners = new Set(targets.map((t) => t.identityId));
    return owners.size === 1 ? [...owners][0]! : null;
  }

  /**
   * Sends a code for `address` on `flow` and moves the flow to `sent_email` (the caller stores the flow). The code
   * row, the outbox message and the address status commit together (in `db` when it is a transaction).
   */
  async sendCode(flow: Flow, address: string, options: { identityId?: string; db?: Db; requester?: CodeRequester; acceptLanguage?: string | null } = {}): Promise<void> {
    const { deps } = this;
    const internal = internalOf(flow);
    if (options.identityId) internal.verification_identity_id = options.identityId;
    const now = deps.clock.nowMs();
    const expiresAtMs = Math.min(flow.expiresAtMs, now + parseDurationMs(deps.config.selfservice.methods.code.config.lifespan));
    // A flow started for one identity (after registration, from settings) was handed only to that identity's client.
    const owner = internal.verification_identity_id !== undefined;
    try {
      await deps.identities.inTransaction(options.db ?? deps.db, async (trx) => {
        const targets = await this.targets(address, trx);
        const identityId = this.chooseIdentity(targets, internal.verification_identity_id);
        const issued = await deps.oneTimeCodes.issue(
          { purpose: VERIFICATION_PURPOSE, flowId: flow.id, identityId, address, expiresAtMs, owner, ...(options.requester ? { requester: options.requester } : {}) },
          trx,
        );
        if (!identityId) return; // unknown address: no email, same answer
        await deps.courier.enqueue(
          {
            template: 'verification_code_valid',
            channel: isPhoneAddress(address) ? 'sms' : 'email',
            recipient: address,
            identityId,
            carriesSecret: true,
            acceptLanguage: options.acceptLanguage ?? null,
            data: {
              VerificationCode: issued.code,
              VerificationURL: deps.urls.public('/self-service/verification', { flow: flow.id, code: issued.code }),
              ExpiresInMinutes: Math.max(1, Math.round((expiresAtMs - now) / 60_000)),
            },
          },
          trx,
        );
        const ids = targets.filter((t) => t.identityId === identityId && t.kind === 'verifiable_address').map((t) => t.id);
        if (ids.length) {
          await trx.updateTable('identity_verifiable_addresses').set({ status: 'sent', updated_at: now }).where('id', 'in', ids).where('verified', '=', 0).execute();
        }
      });
    } catch (err) {
      if (!(err instanceof CodeThrottledError)) throw err;
      // A used-up quota never shows (issue 14, finding 1): the answer is the one every request gets, no mail goes
      // out, and the flow's earlier code stops working exactly as when a code is resent.
      deps.metrics.counter('kairos_code_mails_withheld_total', 'Code mails not sent because a quota was used up', ['purpose']).inc({ purpose: VERIFICATION_PURPOSE });
      deps.logger.info({ flow_id: flow.id, retry_after_seconds: Math.ceil(err.retryAfterMs / 1000) }, 'verification code not sent: quota used up');
      await deps.oneTimeCodes.revokeFlow(flow.id, VERIFICATION_PURPOSE, options.db ?? deps.db);
    }
    internal.verification_address = address;
    flow.state = 'sent_email';
    flow.ui.nodes = this.sentNodes(address);
    flow.ui.messages = [isPhoneAddress(address) ? phoneVerificationMsg.codeSentByText() : msg.verificationEmailWithCodeSent()];
  }

  async verify(input: { trx: Db; flow: Flow; body: SubmittedBody; request: RequestInfo }): Promise<void | NotResponsible> {
    const { flow, body } = input;
    if (body.method !== 'code') return NOT_RESPONSIBLE;
    const code = normalizeCode(body.code);
    if (code !== '') return this.checkCode(flow, code, input.request);
    const address = this.sms && looksLikePhoneNumber(body.email) ? parsePhone(body.email, 'email') : parseEmail(body.email, 'email');
    await this.sendCode(flow, address, { requester: { ip: input.request.ip, sessionIdentityId: null }, db: input.trx, acceptLanguage: input.request.acceptLanguage ?? null });
  }

  private async checkCode(flow: Flow, code: string, request: RequestInfo): Promise<void> {
    const { deps } = this;
    const rejected = deps.metrics.counter('kairos_verification_code_rejections_total', 'Rejected verification codes by cause', ['reason']);
    if (flow.state !== 'sent_email') {
      rejected.inc({ reason: 'none' });
      throw FlowValidationError.global(msg.verificationCodeInvalid());
    }
    let outcome: { ok: true; targets: VerificationTarget[]; identityId: string } | { ok: false; reason: string };
    try {
      outcome = await deps.db.transaction().execute(async (trx) => {
        const check = await deps.oneTimeCodes.verify({ purpose: VERIFICATION_PURPOSE, flowId: flow.id, code }, trx);
        if (!check.ok) return { ok: false as const, reason: check.reason };
        const identityId = check.code.identityId;
        const targets = identityId ? (await this.targets(check.code.address, trx)).filter((t) => t.identityId === identityId) : [];
        // A right code for an address nobody has verifies nothing: the same answer as a wrong code.
        if (!identityId || targets.length === 0) return { ok: false as const, reason: 'unknown_address' };
        const now = deps.clock.nowMs();
        for (const target of targets) {
          if (target.kind === 'verifiable_address') {
            await trx
              .updateTable('identity_verifiable_addresses')
              .set({ verified: 1, status: 'completed', verified_at: now, updated_at: now })
              .where('id', '=', target.id)
              .where('verified', '=', 0)
              .execute();
          } else {
            await deps.recoveryAddresses.markSecondaryVerified(target.id, identityId, trx);
          }
        }
        await deps.audit.record(trx, {
            type: 'verification.completed',
            identityId,
            flowId: flow.id,
            actor: 'self',
            ipAddress: request.ip,
            userAgent: request.userAgent,
            details: { method: 'code', via: isPhoneAddress(check.code.address) ? 'sms' : 'email', addresses: targets.map((t) => ({ id: t.id, kind: t.kind })) },
        });
        return { ok: true as const, targets, identityId };
      });
    } catch (err) {
      if (err instanceof RecoveryAddressTakenError) throw FlowValidationError.global(codeMsg.recoveryAddressTaken());
      throw err;
    }
    if (!outcome.ok) {
      rejected.inc({ reason: outcome.reason });
      deps.logger.info({ flow_id: flow.id, reason: outcome.reason }, 'verification code rejected');
      throw FlowValidationError.global(outcome.reason === 'exhausted' ? codeMsg.tooManyWrongCodes() : msg.verificationCodeInvalid());
    }
    flow.state = 'passed_challenge';
    // The verified identity (Kratos's verification flow carries it too): after hooks see it.
    flow.identityId = outcome.identityId;
    const continueTo = flow.returnTo ?? deps.urls.defaultReturn('verification');
    flow.ui.nodes = [anchorNode('code', 'continue', continueTo, msg.labelContinue())];
    flow.ui.messages = [outcome.targets.some((t) => isPhoneAddress(t.value)) ? phoneVerificationMsg.phoneVerified() : msg.verificationSuccessful()];
  }
}
