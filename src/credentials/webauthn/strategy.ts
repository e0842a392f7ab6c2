import type { Deps } from '../../deps.js';
import type { Identity } from '../../identity/identity.js';
import type { Db } from '../../identity/repository.js';
import { errors } from '../../errors/http-error.js';
import { FlowValidationError, type Flow } from '../../flows/flow.js';
import {
  NOT_RESPONSIBLE,
  type LoginResult,
  type LoginStrategy,
  type NotResponsible,
  type RequestInfo,
  type SettingsResult,
  type SettingsStrategy,
} from '../../flows/strategy.js';
import { CredentialExistsError } from '../../identity/identity-service.js';
import { deriveAal, type AmrEntry, type Session } from '../../session/session.js';
import { inputNode, scriptNode, textNode, type UiNode } from '../../ui/nodes.js';
import type { UiText } from '../../ui/messages.js';
import type { RecoveryCodesAtEnrollment } from '../totp/strategy.js';
import type { GuardRefusal, SecondFactorAttempt } from '../../mfa/attempts/second-factor-guard.js';
import { refusalMessage } from '../../mfa/attempts/messages.js';
import type { SessionFact } from '../../session/session-service.js';
import type { TotpEnrollmentPort } from '../lookup-secret/strategy.js';
import { answeredKeyId, userHandleOf, WebAuthnCeremonies, type PendingCeremony, type VerifiedRegistration } from './ceremony.js';
import { WebAuthnRejection, type WebAuthnRejectionCause } from './diagnosis.js';
import { webauthnKratosMsg, webauthnMsg } from './messages.js';
import { WebAuthnKeyRepository, type WebAuthnKey } from './repository.js';
import { WEBAUTHN_SCRIPT_INTEGRITY, WEBAUTHN_SCRIPT_PATH } from './script.js';

export const WEBAUTHN = 'webauthn';

/** Kratos caps nothing here; Kairos keeps key names to what a settings list can show. */
export const MAX_KEY_NAME_LENGTH = 64;

const LOGIN_KEY = 'webauthn_login_ceremony';
const REGISTER_KEY = 'webauthn_register_ceremony';
/** A verified key waiting for the recovery codes' confirmation (first second factor of the identity). */
const PENDING_KEY = 'webauthn_pending_key';

interface PendingKey {
  key: VerifiedRegistration;
  display_name: string;
  user_handle: string;
}

type WebAuthnDeps = Pick<Deps, 'config' | 'db' | 'clock' | 'random' | 'identities' | 'audit' | 'urls' | 'metrics' | 'logger' | 'secondFactorGuard'>;

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const hexOf = (keyId: string) => Buffer.from(keyId, 'base64url').toString('hex');

/** Errors webauthn.js reports instead of an answer (`{"client_error": name}`), as causes. */
const CLIENT_ERRORS: Record<string, WebAuthnRejectionCause> = {
  NotAllowedError: 'not_allowed',
  AbortError: 'not_allowed',
  SecurityError: 'wrong_domain',
};

function clientError(raw: unknown): WebAuthnRejectionCause | null {
  if (typeof raw !== 'string' || !raw.includes('client_error')) return null;
  try {
    const parsed = JSON.parse(raw) as { client_error?: unknown };
    if (typeof parsed.client_error !== 'string') return null;
    return CLIENT_ERRORS[parsed.client_error] ?? 'malformed';
  } catch {
    return null;
  }
}

/**
 * WebAuthn as a second factor (Kratos `selfservice/strategy/webauthn`, same nodes and bodies): security keys used
 * after the password (aal2), several per identity, each named, dated and removable in settings. Kairos adds: a
 * fresh challenge per attempt with a lifetime, the shared second-factor limits (mfa/attempts), a named cause for
 * every rejection (hint, log line, metric, audit), cloned-key detection by the signature counter, and recovery codes
 * confirmed together with the first second factor.
 */
export class WebAuthnStrategy implements LoginStrategy, SettingsStrategy, TotpEnrollmentPort {
  readonly id = WEBAUTHN;
  readonly aal = 'aal2' as const;
  readonly keys: WebAuthnKeyRepository;

  constructor(
    private readonly deps: WebAuthnDeps,
    readonly ceremonies: WebAuthnCeremonies,
    /** Recovery codes at enrollment (credentials/lookup-secret), when they are enabled. */
    private readonly recoveryCodes: RecoveryCodesAtEnrollment | null = null,
  ) {
    this.keys = new WebAuthnKeyRepository(deps.db);
  }

  private get config() {
    return this.deps.config.selfservice.methods.webauthn.config;
  }

  private get requireUserVerification(): boolean {
    return this.config.user_verification === 'required';
  }

  private amr(): AmrEntry {
    return { method: WEBAUTHN, aal: 'aal2', completedAtMs: this.deps.clock.nowMs() };
  }

  /** The lockout state, loaded with the session of an aal2 step (the guard's check needs no statement of its own). */
  get sessionFacts(): SessionFact[] {
    return [this.deps.secondFactorGuard.sessionFact];
  }

  private attemptOf(flow: Flow, identity: Identity, request: RequestInfo): SecondFactorAttempt {
    return { flowId: flow.id, flowFailedAttempts: flow.failedAttempts, identityId: identity.id, method: WEBAUTHN, request };
  }

  /** A guard's refusal becomes the flow's message (the answer's verdict is never shown with it). */
  private refuseIf(refusal: GuardRefusal | null): void {
    if (refusal) throw FlowValidationError.global(refusalMessage(refusal, this.deps.clock.nowMs()));
  }

  private scriptNode(): UiNode {
    return scriptNode(WEBAUTHN, 'webauthn_script', this.deps.urls.public(WEBAUTHN_SCRIPT_PATH), WEBAUTHN_SCRIPT_INTEGRITY);
  }

  /** Kratos's trigger button: the options as its value, and the function to call (`onclick`, `onclickTrigger`). */
  private trigger(name: string, fn: string, options: unknown, label: UiText): UiNode {
    const json = JSON.stringify(options);
    return inputNode(WEBAUTHN, name, 'button', { value: json, onclick: `window.${fn}(${json})`, onclickTrigger: fn, label });
  }

  private rejectionsTotal() {
    return this.deps.metrics.counter('kairos_webauthn_rejections_total', 'Rejected WebAuthn answers by cause and ceremony', ['cause', 'ceremony', 'method']);
  }

  /**
   * A rejection, explained like a rejected TOTP code: Kratos's 4000043, the cause's hint (49006xx), one log line, a
   * metric, and a `second_factor.rejected` audit event (a cloned key also `second_factor.clone_detected`).
   */
  private async explain(trx: Db, rejection: WebAuthnRejection, context: { ceremony: 'login' | 'registration'; identity: Identity; flow: Flow; session: Session | null; request: RequestInfo }): Promise<FlowValidationError> {
    const cause = rejection.reason;
    const details = { cause, ceremony: context.ceremony, method: WEBAUTHN, rp_id: this.ceremonies.rp.id, ...rejection.detail };
    this.deps.logger.info({ identity_id: context.identity.id, flow_id: context.flow.id, ...details }, 'webauthn response rejected');
    this.rejectionsTotal().inc({ cause, ceremony: context.ceremony, method: WEBAUTHN });
    const audit = { identityId: context.identity.id, sessionId: context.session?.id ?? null, flowId: context.flow.id, actor: 'self', ipAddress: context.request.ip, userAgent: context.request.userAgent };
    await this.deps.audit.record(trx, { ...audit, type: 'second_factor.rejected', details });
    if (cause === 'cloned_key') {
      this.deps.logger.warn({ identity_id: context.identity.id, key_id: rejection.detail.key_id }, 'webauthn signature counter did not grow: possible cloned key');
      await this.deps.audit.record(trx, { ...audit, type: 'second_factor.clone_detected', details });
    }
    const hintContext = cause === 'rp_id_mismatch' || cause === 'origin_mismatch' || cause === 'wrong_domain' ? { rp_id: this.ceremonies.rp.id, origins: this.ceremonies.rp.origins } : {};
    return new FlowValidationError([
      { field: null, message: webauthnKratosMsg.webAuthnVerifierWrong() },
      { field: null, message: webauthnMsg.rejected(cause, hintContext) },
    ]);
  }

  // ---- login (aal2) -------------------------------------------------------------------------------------------

  /** The identity's keys for this method. */
  keysOf(identity: Identity, db?: Db): Promise<WebAuthnKey[]> {
    if (!identity.credentials[WEBAUTHN]) return Promise.resolve([]);
    return this.keys.listByIdentity(identity.id, WEBAUTHN, db);
  }

  /** Issues a fresh challenge for `keys` into the flow and returns the login nodes carrying it. */
  private async issueLogin(flow: Flow, keys: WebAuthnKey[]): Promise<UiNode[]> {
    const usable = keys.filter((k) => k.rpId === this.ceremonies.rp.id);
    const { options, pending } = await this.ceremonies.authenticationOptions({ allow: usable.length ? usable : keys, userVerification: this.config.user_verification });
    flow.internal[LOGIN_KEY] = pending;
    const nodes: UiNode[] = [];
    const stranded = keys.filter((k) => k.rpId !== this.ceremonies.rp.id);
    if (stranded.length) {
      nodes.push(textNode(WEBAUTHN, 'webauthn_stranded_keys', webauthnMsg.strandedKeys(stranded.map((k) => k.displayName), [...new Set(stranded.map((k) => k.rpId))], this.ceremonies.rp.id)));
    }
    nodes.push(
      this.scriptNode(),
      this.trigger('webauthn_login_trigger', 'oryWebAuthnLogin', options, webauthnKratosMsg.loginWebAuthn()),
      inputNode(WEBAUTHN, 'webauthn_login', 'hidden', { value: '' }),
    );
    return nodes;
  }

  async loginNodes(flow: Flow, identity: Identity | null): Promise<UiNode[]> {
    if (flow.requestedAal !== 'aal2' || !identity?.credentials[WEBAUTHN]) return [];
    const keys = await this.keysOf(identity);
    if (keys.length === 0) return [];
    return this.issueLogin(flow, keys);
  }

  /** Replaces this method's nodes in a flow (a fresh challenge after every attempt: an answer is never reusable). */
  private replaceNodes(flow: Flow, nodes: UiNode[]): void {
    const index = flow.ui.nodes.findIndex((n) => n.group === WEBAUTHN);
    const rest = flow.ui.nodes.filter((n) => n.group !== WEBAUTHN);
    rest.splice(index === -1 ? rest.length : index, 0, ...nodes);
    flow.ui.nodes = rest;
  }

  async login(input: Parameters<LoginStrategy['login']>[0]): Promise<LoginResult | NotResponsible> {
    const { trx, flow, body, identity } = input;
    const answer = str(body.webauthn_login);
    if (body.method !== WEBAUTHN && !answer) return NOT_RESPONSIBLE;
    if (flow.requestedAal !== 'aal2') return NOT_RESPONSIBLE;
    const keys = identity ? await this.keysOf(identity, trx) : [];
    if (!identity || keys.length === 0) throw FlowValidationError.global(webauthnKratosMsg.noWebAuthnDevice());
    if (!answer) throw FlowValidationError.field('webauthn_login', { id: 4000002, text: 'Property webauthn_login is missing.', type: 'error', context: { property: 'webauthn_login' } });
    const context = { ceremony: 'login' as const, identity, flow, session: input.session, request: input.request };
    const pending = flow.internal[LOGIN_KEY] as PendingCeremony | undefined;
    // The challenge is spent whatever happens next: the flow gets a new one.
    this.replaceNodes(flow, await this.issueLogin(flow, keys));

    const refusedInBrowser = clientError(answer);
    if (refusedInBrowser) throw await this.explain(trx, new WebAuthnRejection(refusedInBrowser, { reported_by: 'browser' }), context);

    // The guard decides whether this answer may be checked at all (brute-force limits live in mfa/attempts).
    const attempt = this.attemptOf(flow, identity, input.request);
    this.refuseIf(await this.deps.secondFactorGuard.check(trx, attempt, this.deps.secondFactorGuard.stateFromFacts(identity.id, input.facts)));
    try {
      const { key, assertion } = await this.ceremonies.verifyAuthentication(answer, pending, keys, this.requireUserVerification);
      // A right answer is first reported to the guard (which may still refuse: a concurrent attempt delayed the
      // identity; the counter then does not move), as TOTP does before consuming its step.
      this.refuseIf(await this.deps.secondFactorGuard.recordSuccess(trx, attempt));
      // The counter moves by one conditional UPDATE: of two answers racing with one counter value, one wins.
      if (!(await this.keys.recordUse(key.id, key.signCount, assertion.newSignCount, this.deps.clock.nowMs(), assertion.backedUp, trx))) {
        throw new WebAuthnRejection('cloned_key', { key_id: key.id, stored_sign_count: key.signCount, reason: 'concurrent use' });
      }
      return { identity, amr: this.amr() };
    } catch (err) {
      if (!(err instanceof WebAuthnRejection)) throw err;
      this.refuseIf(await this.deps.secondFactorGuard.recordFailure(trx, attempt));
      throw await this.explain(trx, err, context);
    }
  }

  // ---- settings -------------------------------------------------------------------------------------------------

  isEnrolled(identity: Identity): boolean {
    return identity.credentials[WEBAUTHN] !== undefined;
  }

  hasVerifiedPendingEnrollment(flow: Flow): boolean {
    return typeof (flow.internal[PENDING_KEY] as PendingKey | undefined)?.key?.keyId === 'string';
  }

  async settingsNodes(flow: Flow, identity: Identity): Promise<UiNode[]> {
    // Waiting for the recovery codes' confirmation: the lookup_secret group carries the step.
    if (this.hasVerifiedPendingEnrollment(flow)) return [];
    const keys = await this.keysOf(identity);
    const nodes: UiNode[] = [];
    if (keys.length) {
      nodes.push(textNode(WEBAUTHN, 'webauthn_keys', webauthnMsg.keyList(keys.map((k) => ({ name: k.displayName, createdAtMs: k.createdAtMs, lastUsedAtMs: k.lastUsedAtMs })))));
      for (const key of keys) {
        nodes.push(inputNode(WEBAUTHN, 'webauthn_remove', 'submit', { value: hexOf(key.keyId), label: webauthnKratosMsg.settingsRemove(key.displayName, key.createdAtMs) }));
      }
    }
    const { options, pending } = await this.ceremonies.registrationOptions({
      userHandle: userHandleOf(identity.id),
      userName: this.deps.identities.facts(identity).totpAccountName ?? identity.id,
      userDisplayName: this.deps.identities.facts(identity).totpAccountName ?? identity.id,
      exclude: keys,
      residentKey: 'discouraged',
      userVerification: this.config.user_verification,
      attestation: this.config.attestation,
    });
    flow.internal[REGISTER_KEY] = pending;
    nodes.push(
      this.scriptNode(),
      inputNode(WEBAUTHN, 'webauthn_register_displayname', 'text', { label: webauthnKratosMsg.settingsRegisterDisplayName(), maxlength: MAX_KEY_NAME_LENGTH }),
      this.trigger('webauthn_register_trigger', 'oryWebAuthnRegistration', options, webauthnKratosMsg.settingsRegister()),
      inputNode(WEBAUTHN, 'webauthn_register', 'hidden', { value: '' }),
    );
    return nodes;
  }

  private requireAal2(session: Session, flow: Flow): void {
    if (deriveAal(session.amr) !== 'aal2') {
      throw errors.sessionAal2Required(this.deps.urls.browserInit('login', { aal: 'aal2', return_to: this.deps.urls.flowUi('settings', flow.id) }));
    }
  }

  async settings(input: Parameters<SettingsStrategy['settings']>[0]): Promise<SettingsResult | NotResponsible> {
    const { body, identity, flow, session, request } = input;
    const register = str(body.webauthn_register);
    const remove = str(body.webauthn_remove);
    // Kratos: the two submit buttons force the method.
    if (!register && !remove) return NOT_RESPONSIBLE;
    input.requirePrivileged();
    if (remove) return this.removeKey(input, remove);

    // Adding a factor to an identity that already has one needs that factor in this session (a stolen aal1 session
    // must not add its own key).
    if (this.deps.identities.hasSecondFactor(identity)) this.requireAal2(session, flow);
    const name = (str(body.webauthn_register_displayname) ?? '').trim();
    if (name.length > MAX_KEY_NAME_LENGTH) throw FlowValidationError.field('webauthn_register_displayname', webauthnMsg.nameTooLong(MAX_KEY_NAME_LENGTH));
    const keys = await this.keysOf(identity, input.trx);
    const displayName = name || `Security key ${keys.length + 1}`;
    const context = { ceremony: 'registration' as const, identity, flow, session, request };
    const pending = flow.internal[REGISTER_KEY] as PendingCeremony | undefined;
    delete flow.internal[REGISTER_KEY];
    const refusedInBrowser = clientError(register);
    let verified: VerifiedRegistration;
    try {
      if (refusedInBrowser) throw new WebAuthnRejection(refusedInBrowser, { reported_by: 'browser' });
      verified = await this.ceremonies.verifyRegistration(register, pending, this.requireUserVerification);
    } catch (err) {
      if (!(err instanceof WebAuthnRejection)) throw err;
      throw await this.explain(input.trx, err, context);
    }
    if (keys.some((k) => k.keyId === verified.keyId)) throw FlowValidationError.global(webauthnMsg.alreadyRegistered());
    const pendingKey: PendingKey = { key: verified, display_name: displayName, user_handle: pending?.user_handle ?? '' };
    if (this.recoveryCodes && this.deps.config.selfservice.methods.totp.config.require_recovery_codes && (await this.recoveryCodes.required(identity, input.trx))) {
      // Nothing is stored yet: abandoning the flow now leaves no key and no codes.
      flow.internal[PENDING_KEY] = pendingKey;
      await this.recoveryCodes.begin(flow, identity);
      return { outcome: 'continue', messages: [webauthnMsg.saveCodesFirst()] };
    }
    await this.storeKey(input.trx, { flow, identity, pendingKey, sessionId: session.id, request });
    return { outcome: 'saved', amr: [this.amr()], messages: [webauthnMsg.registered(displayName)] };
  }

  /** Commits the key a registration verified earlier in this flow, with the recovery codes (lookup-secret calls it). */
  async confirmPendingEnrollment(trx: Db, input: { flow: Flow; identity: Identity; sessionId: string; request: { ip: string; userAgent: string | null }; alsoInTransaction: (trx: Db) => Promise<void> }): Promise<AmrEntry> {
    const pendingKey = input.flow.internal[PENDING_KEY] as PendingKey | undefined;
    if (!pendingKey) throw new TypeError('no verified WebAuthn key in this flow');
    await this.storeKey(trx, { ...input, pendingKey });
    return this.amr();
  }

  /** Stores a verified key (and the identity's `webauthn` credential row with its first key) in one transaction. */
  private async storeKey(stepTrx: Db, input: { flow: Flow; identity: Identity; pendingKey: PendingKey; sessionId: string; request: { ip: string; userAgent: string | null }; alsoInTransaction?: (trx: Db) => Promise<void> }): Promise<void> {
    const { flow, identity, pendingKey } = input;
    // A savepoint of the step's transaction (as TOTP's enrollment): a refused insert rolls back only this part.
    await this.deps.identities.inTransaction(stepTrx, async (trx) => {
      const fresh = await this.deps.identities.get(identity.id, trx);
      let credential = fresh?.credentials[WEBAUTHN];
      if (!credential) {
        credential = this.deps.identities.newCredential(WEBAUTHN, {}, [identity.id]);
        try {
          await this.deps.identities.addCredential(identity.id, credential, trx);
        } catch (err) {
          if (err instanceof CredentialExistsError) throw FlowValidationError.global(webauthnMsg.alreadyRegistered());
          throw err;
        }
      }
      const key = pendingKey.key;
      await this.keys.insert(
        {
          id: this.deps.random.uuid(),
          credentialId: credential.id,
          identityId: identity.id,
          method: WEBAUTHN,
          keyId: key.keyId,
          publicKey: key.publicKey,
          signCount: key.signCount,
          transports: key.transports,
          aaguid: key.aaguid,
          attestationFormat: key.attestationFormat,
          userHandle: pendingKey.user_handle,
          rpId: this.ceremonies.rp.id,
          userVerified: key.userVerified,
          backupEligible: key.backupEligible,
          backedUp: key.backedUp,
          displayName: pendingKey.display_name,
          createdAtMs: this.deps.clock.nowMs(),
          lastUsedAtMs: null,
        },
        trx,
      );
      await this.deps.audit.record(trx, { type: 'second_factor.enrolled', identityId: identity.id, sessionId: input.sessionId, flowId: flow.id, actor: 'self', ipAddress: input.request.ip, userAgent: input.request.userAgent, details: { method: WEBAUTHN, display_name: pendingKey.display_name, aaguid: key.aaguid, attestation_format: key.attestationFormat } });
      if (input.alsoInTransaction) await input.alsoInTransaction(trx);
    });
    delete flow.internal[PENDING_KEY];
  }

  /**
   * Removes one key (Kratos: `webauthn_remove` = the key id in hex). Like unlinking TOTP it needs a privileged
   * session, and Kairos also needs the second factor in this session, so a stolen password session cannot strip the
   * factor. The last key takes the `webauthn` credential with it; recovery codes stay (a factor of their own).
   */
  private async removeKey(input: Parameters<SettingsStrategy['settings']>[0], hex: string): Promise<SettingsResult> {
    const { identity, flow, session, request } = input;
    this.requireAal2(session, flow);
    const keys = await this.keysOf(identity, input.trx);
    const key = keys.find((k) => hexOf(k.keyId) === hex.toLowerCase());
    if (!key) throw FlowValidationError.global(webauthnMsg.keyNotFound());
    await this.deps.identities.inTransaction(input.trx, async (trx) => {
      await this.keys.delete(key.id, trx);
      if ((await this.keys.count(identity.id, WEBAUTHN, trx)) === 0) await this.deps.identities.deleteCredential(identity.id, WEBAUTHN, trx);
      await this.deps.audit.record(trx, { type: 'second_factor.removed', identityId: identity.id, sessionId: session.id, flowId: flow.id, actor: 'self', ipAddress: request.ip, userAgent: request.userAgent, details: { method: WEBAUTHN, display_name: key.displayName, remaining_keys: keys.length - 1 } });
    });
    return { outcome: 'saved' };
  }

  /** The key the answer names, for logs (never the answer itself). */
  static keyIdOf(raw: unknown): string | null {
    return answeredKeyId(raw);
  }
}
