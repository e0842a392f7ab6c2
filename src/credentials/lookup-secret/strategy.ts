import type { Deps } from '../../deps.js';
import type { Identity } from '../../identity/identity.js';
import type { Db } from '../../storage/db.js';
import type { GuardRefusal, SecondFactorAttempt } from '../../mfa/attempts/second-factor-guard.js';
import { refusalMessage } from '../../mfa/attempts/messages.js';
import { errors } from '../../errors/http-error.js';
import { FlowValidationError, type Flow } from '../../flows/flow.js';
import {
  NOT_RESPONSIBLE,
  type LoginResult,
  type LoginStrategy,
  type NotResponsible,
  type SettingsResult,
  type SettingsStrategy,
  type RequestInfo,
} from '../../flows/strategy.js';
import { deriveAal, type AmrEntry } from '../../session/session.js';
import { anchorNode, inputNode, textNode, type UiNode } from '../../ui/nodes.js';
import { msg, type UiText } from '../../ui/messages.js';
import { codeHashes, generateCodes, hashCode, normalizeCode } from './codes.js';
import { LOW_REMAINING_CODES, lookupMsg } from './messages.js';
import type { LookupSecretRepository, CodeStatus } from './repository.js';
import { LOOKUP_SECRET, PENDING_KEY, REVEAL_KEY, type RecoveryCodeEnrollment } from './enrollment.js';
import { testPause } from '../../support/test-pause.js';

export { LOOKUP_SECRET };

/** What recovery codes need from TOTP (implemented by credentials/totp's strategy, wired in registry.ts). */
export interface TotpEnrollmentPort {
  isEnrolled(identity: Identity): boolean;
  hasVerifiedPendingEnrollment(flow: Flow): boolean;
  confirmPendingEnrollment(trx: Db, input: {
    flow: Flow;
    identity: Identity;
    sessionId: string;
    request: { ip: string; userAgent: string | null };
    alsoInTransaction: (trx: Db) => Promise<void>;
  }): Promise<AmrEntry>;
}

type LookupDeps = Pick<Deps, 'config' | 'db' | 'clock' | 'random' | 'identities' | 'audit' | 'urls' | 'metrics' | 'secondFactorGuard'>;

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const truthy = (value: unknown) => value === true || value === 'true' || value === '1' || value === 1 || value === 'on';

/**
 * Recovery codes (Kratos `selfservice/strategy/lookup`, same nodes and bodies): a second factor at login (aal2) and
 * their lifecycle in settings. Unlike Kratos, codes are stored only as keyed hashes, used once by a conditional
 * UPDATE, and confirmed with an explicit acknowledgement; with `require_recovery_codes` TOTP enrollment goes
 * through the same confirmation (TOTP and codes are committed together).
 */
export class LookupSecretStrategy implements LoginStrategy, SettingsStrategy {
  readonly id = LOOKUP_SECRET;
  readonly aal = 'aal2' as const;
  readonly repository: LookupSecretRepository;

  constructor(
    private readonly deps: LookupDeps,
    /** New codes waiting in a flow for confirmation, and what second-factor enrollment asks of codes. */
    readonly enrollment: RecoveryCodeEnrollment,
    /**
     * The second factors whose enrollment waits for these codes (TOTP, WebAuthn keys), so the first second factor of
     * any kind is enrolled together with confirmed codes.
     */
    private readonly enrollments: readonly TotpEnrollmentPort[] = [],
  ) {
    this.repository = enrollment.repository;
  }

  private enrollmentPorts(): readonly TotpEnrollmentPort[] {
    return this.enrollments;
  }

  /** The codes waiting for confirmation in this flow, or null. */
  pendingCodes(flow: Flow): string[] | null {
    return this.enrollment.pendingCodes(flow);
  }

  /** Generates new codes for the flow (kept encrypted in it until confirmed). */
  beginPending(flow: Flow): void {
    this.enrollment.beginPending(flow);
  }

  private get count(): number {
    return this.deps.config.selfservice.methods.lookup_secret.config.count;
  }

  private get codesMandatory(): boolean {
    return this.deps.config.selfservice.methods.totp.config.require_recovery_codes;
  }

  /** The secrets codes are hashed under: the first stores, all are tried (rotation of `secrets.default`). */
  private get hashSecrets(): readonly string[] {
    return this.deps.config.secrets.default;
  }

  /** A guard's refusal becomes the flow's message (the code's verdict is never shown with it). */
  private refuseIf(refusal: GuardRefusal | null): void {
    if (refusal) throw FlowValidationError.global(refusalMessage(refusal, this.deps.clock.nowMs()));
  }

  /** The lockout state, loaded with the session of an aal2 step. */
  get sessionFacts() {
    return [this.deps.secondFactorGuard.sessionFact];
  }

  private amr(): AmrEntry {
    return { method: LOOKUP_SECRET, aal: 'aal2', completedAtMs: this.deps.clock.nowMs() };
  }

  private settingsUrl(returnTo?: string | null): string {
    return this.deps.urls.browserInit('settings', { return_to: returnTo ?? undefined });
  }

  /**
   * Replaces the identity's codes by `codes` inside `trx`: the old credential (and with it, by cascade, every old
   * code) is deleted and the new one inserted in the same transaction, so old codes stop working at the instant the
   * new ones start.
   */
  private async storeCodes(identity: Identity, codes: string[], trx: Db, audit: { sessionId: string | null; flowId: string | null; actor: string; ip: string | null; userAgent: string | null; context: string }): Promise<void> {
    const previous = identity.credentials[LOOKUP_SECRET];
    const before = previous ? await this.repository.remaining(identity.id, trx) : null;
    const credential = this.deps.identities.newCredential(LOOKUP_SECRET, {}, [identity.id]);
    await this.deps.identities.saveCredential(identity.id, credential, trx);
    const now = this.deps.clock.nowMs();
    await this.repository.insertCodes(
      credential.id,
      identity.id,
      codes.map((code, index) => ({
        id: this.deps.random.uuid(),
        position: index + 1,
        codeHash: hashCode(this.hashSecrets[0]!, identity.id, normalizeCode(code)!),
        usedAtMs: null,
      })),
      now,
      trx,
    );
    await this.deps.audit.record(trx, {
        type: before ? 'recovery_codes.regenerated' : 'recovery_codes.generated',
        identityId: identity.id,
        sessionId: audit.sessionId,
        flowId: audit.flowId,
        actor: audit.actor,
        ipAddress: audit.ip,
        userAgent: audit.userAgent,
        details: { count: codes.length, context: audit.context, ...(before ? { previous_total: before.total, previous_remaining: before.remaining } : {}) },
      });
  }

  // ---- login ---------------------------------------------------------------------------------------------------

  loginNodes(flow: Flow, identity: Identity | null): UiNode[] {
    if (flow.requestedAal !== 'aal2' || !identity?.credentials[LOOKUP_SECRET]) return [];
    return [
      inputNode(LOOKUP_SECRET, 'lookup_secret', 'text', { required: true, autocomplete: 'off', label: msg.loginLookupLabel() }),
      inputNode(LOOKUP_SECRET, 'method', 'submit', { value: LOOKUP_SECRET, label: msg.loginUseLookup() }),
    ];
  }

  async login(input: Parameters<LoginStrategy['login']>[0]): Promise<LoginResult | NotResponsible> {
    const { flow, body, identity } = input;
    if (body.method !== LOOKUP_SECRET || flow.requestedAal !== 'aal2') return NOT_RESPONSIBLE;
    const raw = str(body.lookup_secret);
    if (!raw || raw.trim() === '') throw FlowValidationError.field('lookup_secret', msg.required('lookup_secret'));
    if (!identity || !identity.credentials[LOOKUP_SECRET]) throw FlowValidationError.global(msg.noLookup());
    // The guard takes an attempt slot before the code is looked at: wrong recovery codes and wrong TOTP codes share
    // the same limits (mfa/attempts).
    const { trx } = input;
    const attempt: SecondFactorAttempt = { flowId: flow.id, flowFailedAttempts: flow.failedAttempts, identityId: identity.id, method: LOOKUP_SECRET, request: input.request };
    this.refuseIf(await this.deps.secondFactorGuard.check(trx, attempt, this.deps.secondFactorGuard.stateFromFacts(identity.id, input.facts)));
    const rejected = this.deps.metrics.counter('kairos_recovery_codes_rejected_total', 'Rejected recovery codes by reason', ['reason']);
    const normalized = normalizeCode(raw);
    const hashes = normalized ? codeHashes(this.hashSecrets, identity.id, normalized) : null;
    // Consumed by one conditional UPDATE; the guard learns the verdict in the same transaction, so a code is never
    // burned without its login (both commit, or neither).
    const position = hashes ? await this.repository.consume(trx, identity.id, hashes, this.deps.clock.nowMs()) : null;
    if (position === null) {
      const used = hashes ? await this.repository.exists(trx, identity.id, hashes) : false;
      this.refuseIf(await this.deps.secondFactorGuard.recordFailure(trx, attempt));
      rejected.inc({ reason: used ? 'already_used' : 'unknown' });
      throw FlowValidationError.global(used ? msg.lookupAlreadyUsed() : msg.lookupInvalid());
    }
    this.refuseIf(await this.deps.secondFactorGuard.recordSuccess(trx, attempt));
    await testPause('lookup_secret.consumed');
    const { remaining, total } = await this.repository.remaining(identity.id, trx);
    this.deps.metrics.counter('kairos_recovery_codes_used_total', 'Recovery codes used at login').inc();
    await this.deps.audit.record(trx, {
      type: 'recovery_codes.used',
      identityId: identity.id,
      sessionId: input.session?.id ?? null,
      flowId: flow.id,
      actor: 'self',
      ipAddress: input.request.ip,
      userAgent: input.request.userAgent,
      details: { position, remaining, total },
    });
    const settingsUrl = this.settingsUrl(flow.returnTo);
    const messages: UiText[] = [lookupMsg.codesRemaining(remaining)];
    if (remaining === 0) messages.push(lookupMsg.codesExhausted(settingsUrl));
    else if (remaining <= LOW_REMAINING_CODES) messages.push(lookupMsg.codesLow(remaining, settingsUrl));
    return {
      identity,
      amr: this.amr(),
      messages,
      sessionExtras: { recovery_codes_remaining: remaining },
      // No codes left: a browser goes to the settings (where regenerating is offered) before anything else.
      ...(remaining === 0 ? { redirectBrowserTo: settingsUrl } : {}),
    };
  }

  // ---- settings ------------------------------------------------------------------------------------------------

  private canDisable(identity: Identity): boolean {
    return !(this.codesMandatory && this.enrollmentPorts().some((port) => port.isEnrolled(identity)));
  }

  async settingsNodes(flow: Flow, identity: Identity): Promise<UiNode[]> {
    const g = LOOKUP_SECRET;
    if (flow.internal[PENDING_KEY]) {
      // Placeholder: the stored flow never holds the codes; `revealNodes` fills them when the flow is sent.
      return [
        textNode(g, 'lookup_secret_codes', msg.settingsLookupSecretList('', []), msg.settingsLookupSecretLabel()),
        textNode(g, 'lookup_secret_pending_hint', lookupMsg.codesPendingHint()),
        anchorNode(g, 'lookup_secret_download', this.deps.urls.public('/self-service/settings/lookup_secret/codes.txt', { flow: flow.id }), lookupMsg.downloadLabel()),
        anchorNode(g, 'lookup_secret_print', this.deps.urls.public('/self-service/settings/lookup_secret/print', { flow: flow.id }), lookupMsg.printLabel()),
        inputNode(g, 'lookup_secret_acknowledged', 'checkbox', { value: 'true', required: true, label: lookupMsg.acknowledgeLabel() }),
        inputNode(g, 'lookup_secret_confirm', 'submit', { value: 'true', label: msg.settingsLookupConfirm() }),
      ];
    }
    const credential = identity.credentials[g];
    if (!credential) return [inputNode(g, 'lookup_secret_regenerate', 'submit', { value: 'true', label: msg.settingsRegenerateLookup() })];
    const statuses = await this.repository.statuses(credential.id);
    const remaining = statuses.filter((s) => s.usedAtMs === null).length;
    const low = remaining <= LOW_REMAINING_CODES;
    const revealed = flow.internal[REVEAL_KEY] === true;
    const nodes: UiNode[] = [];
    if (revealed) nodes.push(this.statusNode(statuses));
    else nodes.push(inputNode(g, 'lookup_secret_reveal', 'submit', { value: 'true', label: msg.settingsRevealLookup() }));
    nodes.push(textNode(g, 'lookup_secret_status', low ? lookupMsg.codesLow(remaining, this.settingsUrl()) : lookupMsg.codesStatus(remaining, statuses.length)));
    // Kratos shows regenerate only after a reveal; Kairos also offers it as soon as few codes are left.
    if (revealed || low) nodes.push(inputNode(g, 'lookup_secret_regenerate', 'submit', { value: 'true', label: msg.settingsRegenerateLookup() }));
    if (this.canDisable(identity)) nodes.push(inputNode(g, 'lookup_secret_disable', 'submit', { value: 'true', label: msg.settingsDisableLookup() }));
    return nodes;
  }

  /** The reveal: the status of each code (unused, or used at a time), never the code (Kairos keeps only hashes). */
  private statusNode(statuses: CodeStatus[]): UiNode {
    const secrets = statuses.map((s) => (s.usedAtMs === null ? lookupMsg.codeUnused(s.position) : msg.settingsLookupSecretUsed(s.usedAtMs)));
    const text = statuses.map((s) => (s.usedAtMs === null ? 'unused' : 'used')).join(', ');
    return textNode(LOOKUP_SECRET, 'lookup_secret_codes', msg.settingsLookupSecretList(text, secrets), msg.settingsLookupSecretLabel());
  }

  /** Fills the codes placeholder of a settings flow with its pending codes (engine.nodeRevealers). */
  revealNodes(flow: Flow, nodes: UiNode[]): UiNode[] {
    if (flow.kind !== 'settings' || !flow.internal[PENDING_KEY]) return nodes;
    const index = nodes.findIndex((n) => n.attributes.node_type === 'text' && n.attributes.id === 'lookup_secret_codes');
    if (index === -1) return nodes;
    const codes = this.pendingCodes(flow);
    if (!codes) return nodes;
    const node = nodes[index]!;
    const text = msg.settingsLookupSecretList(codes.join(', '), codes.map((c) => msg.settingsLookupSecret(c)));
    const filled: UiNode = { ...node, attributes: { ...node.attributes, text } as UiNode['attributes'] };
    return nodes.map((n, i) => (i === index ? filled : n));
  }

  async settings(input: Parameters<SettingsStrategy['settings']>[0]): Promise<SettingsResult | NotResponsible> {
    const { body, flow, identity, session, request } = input;
    const regenerate = truthy(body.lookup_secret_regenerate);
    const confirm = truthy(body.lookup_secret_confirm);
    const reveal = truthy(body.lookup_secret_reveal);
    const disable = truthy(body.lookup_secret_disable);
    // Kratos: any of the four selects this strategy, whatever `method` says.
    if (!regenerate && !confirm && !reveal && !disable) return NOT_RESPONSIBLE;
    input.requirePrivileged();
    const auditContext = { sessionId: session.id, flowId: flow.id, actor: 'self', ip: request.ip, userAgent: request.userAgent };

    if (regenerate) {
      // Replacing codes (or adding a factor to an identity that has one) needs a second factor in this session, so
      // a stolen aal1 session cannot mint codes that bypass the authenticator.
      if (this.deps.identities.hasSecondFactor(identity) && deriveAal(session.amr) !== 'aal2') {
        throw errors.sessionAal2Required(this.deps.urls.browserInit('login', { aal: 'aal2', return_to: this.deps.urls.flowUi('settings', flow.id) }));
      }
      this.beginPending(flow);
      return { outcome: 'continue' };
    }

    if (confirm) {
      const codes = this.pendingCodes(flow);
      // Kratos's text (`selfservice/strategy/lookup/settings.go`).
      if (!codes) throw FlowValidationError.global(msg.generic('You must (re-)generate recovery backup codes before you can save them.'));
      // `lookup_secret_confirm` is itself the person's confirmation that the codes are saved: Kratos SDK clients send
      // nothing else (their serializers drop unknown fields). UIs that render the nodes also show the required
      // `lookup_secret_acknowledged` checkbox, so a person using one ticks it before the confirm is sent.
      // A TOTP enrollment waiting for these codes commits with them. When another flow enrolled TOTP in the
      // meantime, the atomic insert refuses (4900202) and neither this flow's secret nor its codes are stored.
      const waiting = this.enrollmentPorts().find((port) => port.hasVerifiedPendingEnrollment(flow));
      if (waiting) {
        let amr: AmrEntry;
        try {
          amr = await waiting.confirmPendingEnrollment(input.trx, {
            flow,
            identity,
            sessionId: session.id,
            request,
            alsoInTransaction: (trx) => this.storeCodes(identity, codes, trx, { ...auditContext, context: 'totp_enrollment' }),
          });
        } catch (err) {
          if (err instanceof FlowValidationError) delete flow.internal[PENDING_KEY];
          throw err;
        }
        delete flow.internal[PENDING_KEY];
        return { outcome: 'saved', amr: [amr] };
      }
      await this.deps.identities.inTransaction(input.trx, async (trx) => {
        // Checked again here, in the transaction that replaces the codes, not only when the regenerate began: a
        // second factor the owner enrolled meanwhile makes an aal1 session unfit to replace their codes (issue 14,
        // finding 7).
        const current = (await this.deps.identities.get(identity.id, trx)) ?? identity;
        if (this.deps.identities.hasSecondFactor(current) && deriveAal(session.amr) !== 'aal2') {
          throw errors.sessionAal2Required(this.deps.urls.browserInit('login', { aal: 'aal2', return_to: this.deps.urls.flowUi('settings', flow.id) }));
        }
        await this.storeCodes(current, codes, trx, { ...auditContext, context: 'settings' });
      });
      delete flow.internal[PENDING_KEY];
      // Saving codes proves nothing about this session: it gains no authentication method (finding 7).
      return { outcome: 'saved' };
    }

    const credential = identity.credentials[LOOKUP_SECRET];
    if (reveal) {
      // Kratos's text.
      if (!credential) throw FlowValidationError.global(msg.generic('Can not reveal lookup codes because you have none.'));
      const { remaining, total } = await this.repository.remaining(identity.id, input.trx);
      flow.internal[REVEAL_KEY] = true;
      await this.deps.audit.record(input.trx, { type: 'recovery_codes.revealed', identityId: identity.id, sessionId: session.id, flowId: flow.id, actor: 'self', ipAddress: request.ip, userAgent: request.userAgent, details: { remaining, total, shown: 'status_only' } });
      return { outcome: 'continue' };
    }

    // disable
    if (!credential) throw FlowValidationError.global(msg.noLookup());
    if (!this.canDisable(identity)) throw FlowValidationError.global(lookupMsg.disableRefused());
    await this.deps.identities.inTransaction(input.trx, async (trx) => {
      const { remaining, total } = await this.repository.remaining(identity.id, trx);
      await this.deps.identities.deleteCredential(identity.id, LOOKUP_SECRET, trx);
      await this.deps.audit.record(trx, { type: 'recovery_codes.disabled', identityId: identity.id, sessionId: session.id, flowId: flow.id, actor: 'self', ipAddress: request.ip, userAgent: request.userAgent, details: { remaining, total } });
    });
    delete flow.internal[REVEAL_KEY];
    delete flow.internal[PENDING_KEY];
    return { outcome: 'saved' };
  }
}
