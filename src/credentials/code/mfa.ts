/**
 * Email and SMS codes as a second factor: Kratos's `code` method with `selfservice.methods.code.mfa_enabled: true`,
 * in its wire format (aal2 login: `address` buttons "Send code to …" (1010023, `context.channel` email or sms), then
 * `code`, `method: code` and `resend`).
 *
 * Kairos's rules on top of Kratos's:
 * - only a VERIFIED address of a trait marked `credentials.code.identifier` receives codes: a code sent to an address
 *   nobody proved to own proves nothing. Email addresses go by email; phone numbers (`via: sms`, E.164) by the `sms`
 *   courier channel, and only when one is configured. SMS is the weakest factor (SIM swap, SS7 interception, no
 *   phishing resistance): the README says so, and MFA policy can forbid it per role. The policy names the channels
 *   (`email`, `sms`): an address of a channel the identity's rule forbids is not offered, is not sent a code, and a
 *   code sent to it before the rule changed is refused; the session records the channel with `code`
 *   (`AmrEntry.channel`), so a code of a forbidden channel does not count toward the AAL either (mfa/policy);
 * - codes are the one-time codes of credentials/code/one-time-codes.ts: keyed hash at rest, expiring (method
 *   lifespan, never past the flow), single use by a conditional UPDATE, five tries per code;
 * - every code checked goes through the second-factor guard (src/mfa/attempts) like a TOTP code;
 * - sends are limited per address (one-time-codes.ts) and per identity (MAX_SENDS_PER_IDENTITY per window);
 * - a rejected code is explained (expired, already used, used up, none sent, another address): hint, log line,
 *   metric, audit event.
 */
import type { Deps } from '../../deps.js';
import type { Identity } from '../../identity/identity.js';
import type { Db } from '../../identity/repository.js';
import { parseDurationMs } from '../../config/duration.js';
import { FlowValidationError, type Flow } from '../../flows/flow.js';
import { NOT_RESPONSIBLE, type LoginResult, type LoginStrategy, type NotResponsible, type RequestInfo } from '../../flows/strategy.js';
import { inputNode, type UiNode } from '../../ui/nodes.js';
import { kairosInfo, kairosWarning, type UiText } from '../../ui/messages.js';
import type { AmrEntry } from '../../session/session.js';
import type { SessionFact } from '../../session/session-service.js';
import type { GuardRefusal, SecondFactorAttempt } from '../../mfa/attempts/second-factor-guard.js';
import { refusalMessage } from '../../mfa/attempts/messages.js';
import { CodeThrottledError, ISSUE_WINDOW_MS } from './one-time-codes.js';
import { normalizePhoneNumber } from '../../identity/schemas.js';

export const CODE = 'code';
/** The one-time-codes purpose of second-factor codes (never interchangeable with verification or recovery codes). */
export const MFA_PURPOSE = 'login_mfa';
/** Codes one identity may be sent per ISSUE_WINDOW_MS across all its addresses (Kairos; the per-address cap is in one-time-codes.ts). */
export const MAX_SENDS_PER_IDENTITY = 10;

const info = (id: number, text: string, context?: Record<string, unknown>): UiText => (context ? { id, text, type: 'info', context } : { id, text, type: 'info' });
const error = (id: number, text: string, context?: Record<string, unknown>): UiText => (context ? { id, text, type: 'error', context } : { id, text, type: 'error' });

/** Kratos's messages (text/message_login.go, message_node.go, message_validation.go). */
export const codeMfaKratosMsg = {
  sendCodeTo: (address: string, channel: CodeChannel = 'email') => info(1010023, `Send code to ${address}`, { address, channel }),
  codeSent: () => info(1010025, "A code was sent to your address. If you didn't receive it, please try again."),
  loginCodeLabel: () => info(1070013, 'Login code'),
  continue: () => info(1070009, 'Continue'),
  resend: () => info(1070008, 'Resend code'),
  noCodeUser: () => error(4000035, 'This account does not exist or has not setup sign in with code.'),
  invalidOrUsed: () => error(4010008, 'The login code is invalid or has already been used. Please try again.'),
} as const;

export type CodeRejectionCause = 'invalid' | 'expired' | 'used' | 'exhausted' | 'none' | 'other_address';

/** Kairos's messages: 1900800–1900899 (info), 4900800–4900899 (errors). Never reuse an id. */
export const codeMfaMsg = {
  rejected: (cause: CodeRejectionCause, context: Record<string, unknown> = {}) => {
    const texts: Record<CodeRejectionCause, [number, string]> = {
      invalid: [4900800, 'This is not the code we sent. Check the newest email from us and type its six digits.'],
      expired: [4900801, 'This code has expired. Select "Resend code" to get a new one.'],
      used: [4900802, 'This code was already used (or replaced by a newer one). Use the code from the newest email, or select "Resend code".'],
      exhausted: [4900803, 'This code was tried too many times and no longer works. Select "Resend code" to get a new one.'],
      none: [4900804, 'No code was sent for this sign-in yet. Choose an address to send one to.'],
      other_address: [4900805, 'Codes are only sent to your verified addresses. Choose one of the addresses shown.'],
    };
    const [id, text] = texts[cause];
    return kairosWarning(id, text, { cause, title: 'Why the code was not accepted', ...context });
  },
  tooManySends: (retryAfterMs: number) =>
    kairosWarning(4900806, `Too many codes were sent recently. Try again in ${Math.ceil(retryAfterMs / 60_000)} minutes, or use another second factor.`, {
      retry_after_seconds: Math.ceil(retryAfterMs / 1000),
    }),
  sentTo: (masked: string) => kairosInfo(1900800, `We sent a six-digit code to ${masked}.`, { address: masked }),
} as const;

/** How a code goes out: Kratos's address types. */
export type CodeChannel = 'email' | 'sms';

/** An address second-factor codes may be sent to. */
export interface CodeAddress {
  value: string;
  channel: CodeChannel;
}

/**
 * `jane.doe@example.com` → `j•••••••@example.com`, `+4915123456789` → `+49•••••••••89`: enough to recognise, not to
 * harvest.
 */
export function maskAddress(address: string): string {
  if (/^\+\d{6,}$/.test(address)) return `${address.slice(0, 3)}${'•'.repeat(address.length - 5)}${address.slice(-2)}`;
  const at = address.indexOf('@');
  if (at <= 0) return address;
  return `${address[0]}${'•'.repeat(Math.max(1, Math.min(8, at - 1)))}${address.slice(at)}`;
}

const SENT_KEY = 'code_mfa_address';

/** A submitted address: an email address lower-cased, a phone number in E.164 (as stored). */
function normalizeAddress(value: unknown): string | null {
  if (typeof value !== 'string' || value.trim() === '' || value.length > 320) return null;
  return value.includes('@') ? value.trim().toLowerCase() : normalizePhoneNumber(value);
}

type CodeMfaDeps = Pick<Deps, 'config' | 'db' | 'clock' | 'identities' | 'audit' | 'metrics' | 'logger' | 'courier' | 'oneTimeCodes' | 'secondFactorGuard'>;

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);

export class CodeMfaStrategy implements LoginStrategy {
  readonly id = CODE;
  readonly aal = 'aal2' as const;

  constructor(private readonly deps: CodeMfaDeps) {}

  /**
   * The identity's addresses that may receive second-factor codes: verified addresses of a code-identifier trait, by
   * the channel the trait names; phone numbers only while an `sms` courier channel exists to reach them.
   */
  addresses(identity: Identity): CodeAddress[] {
    const identifiers = this.deps.identities.facts(identity).codeAddresses;
    const sms = this.deps.config.courier.channels.some((c) => c.id === 'sms');
    const out: CodeAddress[] = [];
    for (const a of identity.verifiableAddresses) {
      if (!a.verified) continue;
      const value = a.via === 'email' ? a.value.toLowerCase() : a.value;
      const channel: CodeChannel | null = a.via === 'email' ? 'email' : a.via === 'sms' && sms ? 'sms' : null;
      if (channel && identifiers.some((i) => i.via === channel && i.value === value) && !out.some((o) => o.value === value)) out.push({ value, channel });
    }
    return out;
  }

  /**
   * The addresses this identity may use now: those of `addresses` whose channel its MFA rule allows (`methodFilter`,
   * set by mfa/policy; none set: all).
   */
  offered(identity: Identity): CodeAddress[] {
    const filter = this.deps.identities.methodFilter;
    const all = this.addresses(identity);
    return filter ? all.filter((a) => filter(identity, a.channel)) : all;
  }

  /** The completed step, with the channel the code went by (Kratos's wire shows `code`; the policy reads the channel). */
  private amr(channel: CodeChannel): AmrEntry {
    return { method: CODE, aal: 'aal2', completedAtMs: this.deps.clock.nowMs(), channel };
  }

  /** The lockout state, loaded with the session of an aal2 step (the guard's check needs no statement of its own). */
  get sessionFacts(): SessionFact[] {
    return [this.deps.secondFactorGuard.sessionFact];
  }

  /** A guard's refusal becomes the flow's message (the code's verdict is never shown with it). */
  private refuseIf(refusal: GuardRefusal | null): void {
    if (refusal) throw FlowValidationError.global(refusalMessage(refusal, this.deps.clock.nowMs()));
  }

  private chooseNodes(addresses: CodeAddress[]): UiNode[] {
    return addresses.map((address) => inputNode(CODE, 'address', 'submit', { value: address.value, label: codeMfaKratosMsg.sendCodeTo(address.value, address.channel) }));
  }

  private codeNodes(address: string): UiNode[] {
    return [
      inputNode(CODE, 'code', 'text', { required: true, autocomplete: 'one-time-code', inputmode: 'numeric', label: codeMfaKratosMsg.loginCodeLabel() }),
      inputNode(CODE, 'address', 'hidden', { value: address }),
      inputNode(CODE, 'method', 'submit', { value: CODE, label: codeMfaKratosMsg.continue() }),
      inputNode(CODE, 'resend', 'submit', { value: CODE, label: codeMfaKratosMsg.resend() }),
    ];
  }

  private replaceNodes(flow: Flow, nodes: UiNode[]): void {
    const index = flow.ui.nodes.findIndex((n) => n.group === CODE);
    const rest = flow.ui.nodes.filter((n) => n.group !== CODE);
    rest.splice(index === -1 ? rest.length : index, 0, ...nodes);
    flow.ui.nodes = rest;
  }

  loginNodes(flow: Flow, identity: Identity | null): UiNode[] {
    if (flow.requestedAal !== 'aal2' || !identity) return [];
    const sent = str(flow.internal[SENT_KEY]);
    if (sent) return this.codeNodes(sent);
    return this.chooseNodes(this.offered(identity));
  }

  async login(input: Parameters<LoginStrategy['login']>[0]): Promise<LoginResult | NotResponsible> {
    const { flow, body, identity } = input;
    const resend = body.resend === CODE;
    if (body.method !== CODE && !resend) return NOT_RESPONSIBLE;
    if (flow.requestedAal !== 'aal2') return NOT_RESPONSIBLE;
    const addresses = identity ? this.offered(identity) : [];
    if (!identity || addresses.length === 0) throw FlowValidationError.global(codeMfaKratosMsg.noCodeUser());
    const code = str(body.code)?.trim() ?? '';
    const sentTo = str(flow.internal[SENT_KEY]);
    if (resend || code === '') {
      const address = resend ? sentTo ?? normalizeAddress(body.address) : normalizeAddress(body.address);
      return this.send(input.trx, flow, identity, address, addresses, input.request);
    }
    return this.check(flow, identity, code, addresses, input);
  }

  /** Sends a code (Kratos answers this step with the flow, state `sent_email`, and the code form). */
  private async send(stepTrx: Db, flow: Flow, identity: Identity, address: string | null, addresses: CodeAddress[], request: RequestInfo): Promise<never> {
    const target = address ? addresses.find((a) => a.value === address) : undefined;
    if (!address || !target) {
      this.count('other_address', 'send');
      throw new FlowValidationError([{ field: null, message: codeMfaMsg.rejected(address ? 'other_address' : 'none') }]);
    }
    const now = this.deps.clock.nowMs();
    const expiresAtMs = Math.min(flow.expiresAtMs, now + parseDurationMs(this.deps.config.selfservice.methods.code.config.lifespan));
    try {
      // A savepoint of the step's transaction: a refused send rolls back only its own rows.
      await this.deps.identities.inTransaction(stepTrx, async (trx) => {
        await this.throttleIdentity(identity.id, now, trx);
        // The requester passed the first factor of this identity: the owner's own request (one-time-codes.ts quotas).
        const issued = await this.deps.oneTimeCodes.issue({ purpose: MFA_PURPOSE, flowId: flow.id, identityId: identity.id, address, expiresAtMs, requester: { ip: request.ip, sessionIdentityId: identity.id }, owner: true }, trx);
        await this.deps.courier.enqueue(
          {
            template: 'login_code_valid',
            channel: target.channel,
            recipient: address,
            identityId: identity.id,
            carriesSecret: true,
            acceptLanguage: request.acceptLanguage ?? null,
            data: { LoginCode: issued.code, ExpiresInMinutes: Math.max(1, Math.round((expiresAtMs - now) / 60_000)), To: address },
          },
          trx,
        );
      });
    } catch (err) {
      if (err instanceof CodeThrottledError) {
        this.deps.metrics.counter('kairos_code_mfa_sends_refused_total', 'Second-factor code sends refused by the send limits', ['limit', 'channel']).inc({ limit: err.message.includes('identity') ? 'identity' : 'address', channel: target.channel });
        throw FlowValidationError.global(codeMfaMsg.tooManySends(err.retryAfterMs));
      }
      throw err;
    }
    this.deps.metrics.counter('kairos_code_mfa_sent_total', 'Second-factor codes sent', ['channel']).inc({ channel: target.channel });
    flow.internal[SENT_KEY] = address;
    flow.state = 'sent_email';
    this.replaceNodes(flow, this.codeNodes(address));
    this.deps.logger.info({ identity_id: identity.id, flow_id: flow.id, channel: target.channel }, 'second-factor code sent');
    throw new FlowValidationError([
      { field: null, message: codeMfaKratosMsg.codeSent() },
      { field: null, message: codeMfaMsg.sentTo(maskAddress(address)) },
    ]);
  }

  /** At most MAX_SENDS_PER_IDENTITY codes per window for one identity, whatever its addresses (mail bombing). */
  private async throttleIdentity(identityId: string, nowMs: number, trx: Db): Promise<void> {
    const recent = await trx
      .selectFrom('one_time_codes')
      .select('created_at')
      .where('identity_id', '=', identityId)
      .where('purpose', '=', MFA_PURPOSE)
      .where('created_at', '>', nowMs - ISSUE_WINDOW_MS)
      .orderBy('created_at')
      .execute();
    if (recent.length >= MAX_SENDS_PER_IDENTITY) {
      const error = new CodeThrottledError(Number(recent[0]!.created_at) + ISSUE_WINDOW_MS - nowMs);
      error.message = 'too many codes for this identity';
      throw error;
    }
  }

  private count(cause: CodeRejectionCause, step: 'send' | 'check'): void {
    this.deps.metrics.counter('kairos_code_mfa_rejections_total', 'Rejected second-factor email codes by cause', ['cause', 'step']).inc({ cause, step });
  }

  private async check(flow: Flow, identity: Identity, code: string, addresses: CodeAddress[], input: Parameters<LoginStrategy['login']>[0]): Promise<LoginResult> {
    const { trx } = input;
    // The code went to an address this identity may no longer use (its rule now forbids the channel, or the address
    // is gone or unverified): refused before it is checked, so it is neither spent nor counted.
    const sentTo = str(flow.internal[SENT_KEY]);
    if (sentTo !== null && !addresses.some((a) => a.value === sentTo)) {
      this.count('other_address', 'check');
      await this.deps.audit.record(trx, { type: 'second_factor.rejected', identityId: identity.id, sessionId: input.session?.id ?? null, flowId: flow.id, actor: 'self', ipAddress: input.request.ip, userAgent: input.request.userAgent, details: { method: CODE, cause: 'other_address' } });
      throw new FlowValidationError([{ field: null, message: codeMfaMsg.rejected('other_address') }]);
    }
    // The guard decides whether this submission may be checked at all (brute-force limits live in mfa/attempts).
    const attempt: SecondFactorAttempt = { flowId: flow.id, flowFailedAttempts: flow.failedAttempts, identityId: identity.id, method: CODE, request: input.request };
    this.refuseIf(await this.deps.secondFactorGuard.check(trx, attempt, this.deps.secondFactorGuard.stateFromFacts(identity.id, input.facts)));
    const result = await this.deps.oneTimeCodes.verify({ purpose: MFA_PURPOSE, flowId: flow.id, code }, trx);
    if (!result.ok || result.code.identityId !== identity.id) {
      const cause: CodeRejectionCause = result.ok ? 'invalid' : result.reason;
      this.count(cause, 'check');
      this.deps.logger.info({ identity_id: identity.id, flow_id: flow.id, cause, method: CODE }, 'second-factor code rejected');
      await this.deps.audit.record(trx, { type: 'second_factor.rejected', identityId: identity.id, sessionId: input.session?.id ?? null, flowId: flow.id, actor: 'self', ipAddress: input.request.ip, userAgent: input.request.userAgent, details: { method: CODE, cause } });
      this.refuseIf(await this.deps.secondFactorGuard.recordFailure(trx, attempt));
      throw new FlowValidationError([
        { field: 'code', message: codeMfaKratosMsg.invalidOrUsed() },
        { field: null, message: codeMfaMsg.rejected(cause) },
      ]);
    }
    this.refuseIf(await this.deps.secondFactorGuard.recordSuccess(trx, attempt));
    delete flow.internal[SENT_KEY];
    // The channel of the address the code was issued for (stored with the code), not of anything the client sent.
    const channel = this.addresses(identity).find((a) => a.value === result.code.address)?.channel ?? (result.code.address.includes('@') ? 'email' : 'sms');
    return { identity, amr: this.amr(channel) };
  }
}
