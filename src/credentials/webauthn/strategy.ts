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
  type RegistrationResult,
  type RegistrationStrategy,
  type RequestInfo,
  type SettingsResult,
  type SettingsStrategy,
  type SubmittedBody,
} from '../../flows/strategy.js';
import { CredentialExistsError, DuplicateIdentifierError } from '../../identity/identity-service.js';
import { findIdentityIdByIdentifier } from '../../identity/repository.js';
import { deriveAal, type AmrEntry, type Session } from '../../session/session.js';
import { inputNode, scriptNode, textNode, type UiNode } from '../../ui/nodes.js';
import { msg, type UiText } from '../../ui/messages.js';
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
import { identityFromSignup, keyFromRegistration, reservedIdentityId } from './signup.js';
import { keyRefused, offerKey, WEBAUTHN_PENDING_KEY } from './enrollment-progress.js';

export const WEBAUTHN = 'webauthn';

/** Kratos caps nothing here; Kairos keeps key names to what a settings list can show. */
export const MAX_KEY_NAME_LENGTH = 64;

const LOGIN_KEY = 'webauthn_login_ceremony';
const REGISTER_KEY = 'webauthn_register_ceremony';
/** A verified key waiting for the recovery codes' confirmation (first second factor of the identity). */
const PENDING_KEY = WEBAUTHN_PENDING_KEY;
/** Passwordless registration: the id the new identity will get (the key is created for that user handle). */
const SIGNUP_IDENTITY_KEY = 'webauthn_signup_identity_id';

interface PendingKey {
  key: VerifiedRegistration;
  display_name: string;
  user_handle: string;
}

type WebAuthnDeps = Pick<Deps, 'config' | 'db' | 'clock' | 'random' | 'identities' | 'audit' | 'urls' | 'metrics' | 'logger' | 'secondFactorGuard' | 'flows'>;

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
 * Kratos's `webauthn` method (`selfservice/strategy/webauthn`, same nodes and bodies), in one of two modes, as
 * `selfservice.methods.webauthn.config.passwordless` says:
 * - second factor (default): security keys used after the password (aal2), several per identity, each named, dated
 *   and removable in settings;
 * - passwordless: a security key is a first factor (aal1, Kratos's `CompletedAuthenticationMethod`). Sign-up without
 *   a password, and an identifier-first sign-in: the identifier, then the key (only keys registered as passwordless
 *   answer). WebAuthn is then not a second factor at all: no aal2 nodes, no aal2 sign-in (as in Kratos).
 * Kairos adds: a fresh challenge per attempt with a lifetime, the shared attempt limits (mfa/attempts), a named cause
 * for every rejection (hint, log line, metric, audit), cloned-key detection by the signature counter, and recovery
 * codes confirmed together with the first second factor.
 */
export class WebAuthnStrategy implements LoginStrategy, SettingsStrategy, RegistrationStrategy, TotpEnrollmentPort {
  readonly id = WEBAUTHN;
  /** aal1 when passwordless (a first factor), else aal2. */
  readonly aal: 'aal1' | 'aal2';
  readonly passwordless: boolean;
  readonly keys: WebAuthnKeyRepository;

  constructor(
    private readonly deps: WebAuthnDeps,
    readonly ceremonies: WebAuthnCeremonies,
    /** Recovery codes at enrollment (credentials/lookup-secret), when they are enabled. */
    private readonly recoveryCodes: RecoveryCodesAtEnrollment | null = null,
  ) {
    this.keys = new WebAuthnKeyRepository(deps.db);
    this.passwordless = deps.config.selfservice.methods.webauthn.config.passwordless;
    this.aal = this.passwordless ? 'aal1' : 'aal2';
  }

  private get config() {
    return this.deps.config.selfservice.methods.webauthn.config;
  }

  private get requireUserVerification(): boolean {
    return this.config.user_verification === 'required';
  }

  private amr(): AmrEntry {
    return { method: WEBAUTHN, aal: this.aal, completedAtMs: this.deps.clock.nowMs() };
  }

  /** The lockout state, loaded with the session of an aal2 step (the guard's check needs no statement of its own). */
  get sessionFacts(): SessionFact[] {
    return this.passwordless ? [] : [this.deps.secondFactorGuard.sessionFact];
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
  private async explain(
    trx: Db,
    rejection: WebAuthnRejection,
    context: { ceremony: 'login' | 'registration'; identity: Identity; flow: Flow; session: Session | null; request: RequestInfo; /** Sign-up: no identity exists yet to audit. */ signup?: boolean },
  ): Promise<FlowValidationError> {
    const cause = rejection.reason;
    const details = { cause, ceremony: context.ceremony, method: WEBAUTHN, rp_id: this.ceremonies.rp.id, ...rejection.detail };
    this.deps.logger.info({ identity_id: context.identity.id, flow_id: context.flow.id, ...details }, 'webauthn response rejected');
    this.rejectionsTotal().inc({ cause, ceremony: context.ceremony, method: WEBAUTHN });
    const audit = { identityId: context.identity.id, sessionId: context.session?.id ?? null, flowId: context.flow.id, actor: 'self', ipAddress: context.request.ip, userAgent: context.request.userAgent };
    if (!context.signup) await this.deps.audit.record(trx, { ...audit, type: 'second_factor.rejected', details });
    if (cause === 'cloned_key' && !context.signup) {
      this.deps.logger.warn({ identity_id: context.identity.id, key_id: rejection.detail.key_id }, 'webauthn signature counter did not grow: possible cloned key');
      await this.deps.audit.record(trx, { ...audit, type: 'second_factor.clone_detected', details });
    }
    const hintContext = cause === 'rp_id_mismatch' || cause === 'origin_mismatch' || cause === 'wrong_domain' ? { rp_id: this.ceremonies.rp.id, origins: this.ceremonies.rp.origins } : {};
    return new FlowValidationError([
      { field: null, message: webauthnKratosMsg.webAuthnVerifierWrong() },
      { field: null, message: webauthnMsg.rejected(cause, hintContext) },
    ]);
  }

  // ---- login ---------------------------------------------------------------------------------------------------

  /** The identity's keys for this method. */
  keysOf(identity: Identity, db?: Db): Promise<WebAuthnKey[]> {
    if (!identity.credentials[WEBAUTHN]) return Promise.resolve([]);
    return this.keys.listByIdentity(identity.id, WEBAUTHN, db);
  }

  /**
   * The keys that may answer a sign-in of this flow (Kratos `ToWebAuthnFiltered`): as a second factor, the keys
   * registered as second factors; passwordless, the passwordless keys; a re-authentication takes any key.
   */
  private async loginKeys(flow: Flow, identity: Identity, db?: Db): Promise<WebAuthnKey[]> {
    const keys = await this.keysOf(identity, db);
    if (flow.refresh) return keys;
    return keys.filter((k) => k.passwordless === this.passwordless);
  }

  /** Issues a fresh challenge for `keys` into the flow and returns the login nodes carrying it. */
  private async issueLogin(flow: Flow, keys: WebAuthnKey[], label: UiText = webauthnKratosMsg.loginWebAuthn()): Promise<UiNode[]> {
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
      this.trigger('webauthn_login_trigger', 'oryWebAuthnLogin', options, label),
      inputNode(WEBAUTHN, 'webauthn_login', 'hidden', { value: '' }),
    );
    return nodes;
  }

  async loginNodes(flow: Flow, identity: Identity | null): Promise<UiNode[]> {
    if (this.passwordless) return this.passwordlessLoginNodes(flow, identity);
    if (flow.requestedAal !== 'aal2' || !identity?.credentials[WEBAUTHN]) return [];
    const keys = await this.loginKeys(flow, identity);
    if (keys.length === 0) return [];
    return this.issueLogin(flow, keys);
  }

  /**
   * Passwordless (Kratos `PopulateLoginMethodFirstFactor`): the identifier and a `method: webauthn` button; the key
   * step comes once the identifier is known. A re-authentication knows the identity: its keys are asked at once.
   * The password method, when enabled, already shows the `identifier` field the button submits.
   */
  private async passwordlessLoginNodes(flow: Flow, identity: Identity | null): Promise<UiNode[]> {
    if (flow.requestedAal === 'aal2') return [];
    if (flow.refresh) {
      const keys = identity ? await this.loginKeys(flow, identity) : [];
      return keys.length ? this.issueLogin(flow, keys) : [];
    }
    const nodes: UiNode[] = [];
    if (!this.deps.config.selfservice.methods.password.enabled) {
      nodes.push(inputNode('default', 'identifier', 'text', { value: '', required: true, autocomplete: 'username webauthn', label: msg.labelId() }));
    }
    nodes.push(inputNode(WEBAUTHN, 'method', 'submit', { value: WEBAUTHN, label: webauthnKratosMsg.loginWebAuthn() }));
    return nodes;
  }

  /** Replaces this method's nodes in a flow (a fresh challenge after every attempt: an answer is never reusable). */
  private replaceNodes(flow: Flow, nodes: UiNode[]): void {
    const index = flow.ui.nodes.findIndex((n) => n.group === WEBAUTHN);
    const rest = flow.ui.nodes.filter((n) => n.group !== WEBAUTHN);
    rest.splice(index === -1 ? rest.length : index, 0, ...nodes);
    flow.ui.nodes = rest;
  }

  async login(input: Parameters<LoginStrategy['login']>[0]): Promise<LoginResult | NotResponsible> {
    const { flow, body } = input;
    const answer = str(body.webauthn_login);
    if (body.method !== WEBAUTHN && !answer) return NOT_RESPONSIBLE;
    if (this.passwordless) return this.loginPasswordless(input, answer);
    if (flow.requestedAal !== 'aal2') return NOT_RESPONSIBLE;
    const identity = input.identity;
    const keys = identity ? await this.loginKeys(flow, identity, input.trx) : [];
    if (!identity || keys.length === 0) throw FlowValidationError.global(webauthnKratosMsg.noWebAuthnDevice());
    if (!answer) throw FlowValidationError.field('webauthn_login', msg.required('webauthn_login'));
    return this.verifyLogin(input, identity, keys, answer);
  }

  /** The identity a passwordless identifier names (Kratos `FindByCredentialsIdentifier` on the webauthn credential). */
  private async identityByIdentifier(identifier: string, trx: Db): Promise<Identity | null> {
    const id = (await findIdentityIdByIdentifier(trx, WEBAUTHN, identifier)) ?? (await findIdentityIdByIdentifier(trx, WEBAUTHN, identifier.toLowerCase()));
    return id ? this.deps.identities.get(id, trx) : null;
  }

  /**
   * Passwordless (Kratos `loginPasswordless`): `{method: webauthn, identifier}` first, answered with the key step
   * (the identifier kept hidden, the trigger, Kratos's 1010012); then `{identifier, webauthn_login}`. A
   * re-authentication proves the session's own identity, whatever identifier is sent.
   */
  private async loginPasswordless(input: Parameters<LoginStrategy['login']>[0], answer: string | null): Promise<LoginResult> {
    const { trx, flow, body } = input;
    const identifier = str(body.identifier)?.trim() ?? '';
    let identity: Identity | null;
    if (flow.refresh) identity = input.identity;
    else {
      if (!identifier) throw FlowValidationError.field('identifier', msg.required('identifier'));
      identity = await this.identityByIdentifier(identifier, trx);
    }
    const keys = identity && identity.state === 'active' ? await this.loginKeys(flow, identity, trx) : [];
    // Kratos's answer for an unknown identifier and for an identity without a passwordless key alike.
    if (!identity || keys.length === 0) throw new FlowValidationError([{ field: null, message: webauthnKratosMsg.noSuchWebAuthnUser() }], { identifier });
    if (!answer) return this.askForKey(input, identifier, keys);
    return this.verifyLogin(input, identity, keys, answer);
  }

  /**
   * The key step of a passwordless sign-in (Kratos: the flow's nodes are replaced, then a browser goes to the login
   * UI: 303, or 422 `browser_location_change_required` for a SPA). A native app gets the flow (400) with the same
   * nodes and message, as for any step that asks for more.
   */
  private async askForKey(input: Parameters<LoginStrategy['login']>[0], identifier: string, keys: WebAuthnKey[]): Promise<never> {
    const { flow, trx } = input;
    flow.ui.nodes = [inputNode('default', 'identifier', 'hidden', { value: identifier, required: true }), ...(await this.issueLogin(flow, keys, msg.loginContinue()))];
    if (flow.type !== 'browser') throw FlowValidationError.global(webauthnKratosMsg.loginPasswordlessPrepare());
    flow.ui.messages = [webauthnKratosMsg.loginPasswordlessPrepare()];
    await this.deps.flows.update(flow, this.deps.clock.nowMs(), trx);
    throw errors.browserLocationChangeRequired(this.deps.urls.flowUi('login', flow.id));
  }

  /**
   * Checks an answer by one of `keys`. The guard decides first whether it may be checked at all; a second factor's
   * failure is charged to the flow and the identity (mfa/attempts), a passwordless one to the flow only (an
   * identifier is public: charging the identity would let anyone lock the account). The signature counter moves
   * by one conditional UPDATE: of two answers racing with one counter value, one wins.
   */
  private async verifyLogin(input: Parameters<LoginStrategy['login']>[0], identity: Identity, keys: WebAuthnKey[], answer: string): Promise<LoginResult> {
    const { trx, flow } = input;
    const guard = this.deps.secondFactorGuard;
    const context = { ceremony: 'login' as const, identity, flow, session: input.session, request: input.request };
    const pending = flow.internal[LOGIN_KEY] as PendingCeremony | undefined;
    // The challenge is spent whatever happens next: the flow gets a new one.
    this.replaceNodes(flow, await this.issueLogin(flow, keys, this.passwordless && !flow.refresh ? msg.loginContinue() : webauthnKratosMsg.loginWebAuthn()));

    const refusedInBrowser = clientError(answer);
    if (refusedInBrowser) throw await this.explain(trx, new WebAuthnRejection(refusedInBrowser, { reported_by: 'browser' }), context);

    const attempt = this.attemptOf(flow, identity, input.request);
    this.refuseIf(await guard.check(trx, attempt, this.passwordless ? undefined : guard.stateFromFacts(identity.id, input.facts)));
    try {
      const { key, assertion } = await this.ceremonies.verifyAuthentication(answer, pending, keys, this.requireUserVerification);
      // A right answer is first reported to the guard (which may still refuse: a concurrent attempt delayed the
      // identity; the counter then does not move), as TOTP does before consuming its step.
      if (!this.passwordless) this.refuseIf(await guard.recordSuccess(trx, attempt));
      if (!(await this.keys.recordUse(key.id, key.signCount, assertion.newSignCount, this.deps.clock.nowMs(), assertion.backedUp, trx))) {
        throw new WebAuthnRejection('cloned_key', { key_id: key.id, stored_sign_count: key.signCount, reason: 'concurrent use' });
      }
      return { identity, amr: this.amr() };
    } catch (err) {
      if (!(err instanceof WebAuthnRejection)) throw err;
      if (this.passwordless) await guard.recordFlowFailure(trx, attempt);
      else this.refuseIf(await guard.recordFailure(trx, attempt));
      throw await this.explain(trx, err, context);
    }
  }

  // ---- registration (passwordless only: sign up with a security key, no password) -------------------------------

  /**
   * Kratos's registration nodes (`selfservice/strategy/webauthn/registration.go`): `webauthn_register_displayname`,
   * `webauthn_register_trigger` (`oryWebAuthnRegistration`, 1040004), the script and the hidden `webauthn_register`.
   * The traits come from the other strategies' nodes in the same form. Only when passwordless (as in Kratos).
   */
  async registrationNodes(flow: Flow): Promise<UiNode[]> {
    if (!this.passwordless) return [];
    const identityId = reservedIdentityId(flow, SIGNUP_IDENTITY_KEY, this.deps.random);
    const { options, pending } = await this.ceremonies.registrationOptions({
      userHandle: userHandleOf(identityId),
      userName: '',
      userDisplayName: '',
      exclude: [],
      residentKey: 'discouraged',
      userVerification: this.config.user_verification,
      attestation: this.config.attestation,
    });
    flow.internal[REGISTER_KEY] = pending;
    return [
      inputNode(WEBAUTHN, 'webauthn_register_displayname', 'text', { label: webauthnKratosMsg.settingsRegisterDisplayName(), maxlength: MAX_KEY_NAME_LENGTH }),
      this.trigger('webauthn_register_trigger', 'oryWebAuthnRegistration', options, webauthnKratosMsg.registration()),
      this.scriptNode(),
      inputNode(WEBAUTHN, 'webauthn_register', 'hidden', { value: '' }),
    ];
  }

  /**
   * `{method: "webauthn", traits, webauthn_register, webauthn_register_displayname}`: not responsible without an
   * answer. The traits are validated like any registration's and must name the identifier the sign-in starts from
   * (`credentials.webauthn.identifier`, Kratos's 4000009 otherwise); the key is checked before anything is stored
   * and written with the identity, in the step's transaction. The identity has a webauthn credential and no password.
   */
  async register(input: { trx: Db; flow: Flow; body: SubmittedBody; request: RequestInfo }): Promise<RegistrationResult | NotResponsible> {
    const { flow, body } = input;
    const answer = str(body.webauthn_register);
    if (!this.passwordless || !answer) return NOT_RESPONSIBLE;
    const { identity, keep } = identityFromSignup(this.deps.identities, body);
    const name = (str(body.webauthn_register_displayname) ?? '').trim();
    keep.webauthn_register_displayname = name;
    if (name.length > MAX_KEY_NAME_LENGTH) throw new FlowValidationError([{ field: 'webauthn_register_displayname', message: webauthnMsg.nameTooLong(MAX_KEY_NAME_LENGTH) }], keep);
    const identifiers = this.deps.identities.facts(identity).webauthnIdentifiers;
    if (identifiers.length === 0) throw new FlowValidationError([{ field: null, message: msg.identifierMissing() }], keep);
    const pending = flow.internal[REGISTER_KEY] as PendingCeremony | undefined;
    const identityId = flow.internal[SIGNUP_IDENTITY_KEY];
    if (typeof identityId !== 'string' || !pending) throw new FlowValidationError([{ field: null, message: webauthnMsg.rejected('challenge_mismatch') }], keep);
    let verified: VerifiedRegistration;
    try {
      const refusedInBrowser = clientError(answer);
      if (refusedInBrowser) throw new WebAuthnRejection(refusedInBrowser, { reported_by: 'browser' });
      verified = await this.ceremonies.verifyRegistration(answer, pending, this.requireUserVerification);
    } catch (err) {
      if (!(err instanceof WebAuthnRejection)) throw err;
      // A new challenge for the next try (the answered one is spent).
      this.replaceNodes(flow, await this.registrationNodes(flow));
      const explained = await this.explain(input.trx, err, { ceremony: 'registration', identity: { ...identity, id: identityId }, flow, session: null, request: input.request, signup: true });
      throw new FlowValidationError(explained.problems, keep);
    }
    // The identity takes the id its key was created for (its user handle), as a key added in settings.
    identity.id = identityId;
    const credential = this.deps.identities.newCredential(WEBAUTHN, {}, identifiers);
    identity.credentials[WEBAUTHN] = credential;
    const displayName = name || 'Security key 1';
    return {
      identity,
      amr: this.amr(),
      afterCreate: async (trx) => {
        const key = keyFromRegistration({ id: this.deps.random.uuid(), credentialId: credential.id, identityId, method: WEBAUTHN, verified, userHandle: pending.user_handle ?? '', rpId: this.ceremonies.rp.id, displayName, nowMs: this.deps.clock.nowMs(), passwordless: true });
        await this.keys.insert(key, trx);
        await this.deps.audit.record(trx, { type: 'identity.updated', identityId, flowId: flow.id, actor: 'self', ipAddress: input.request.ip, userAgent: input.request.userAgent, details: { method: WEBAUTHN, change: 'security_key_added', passwordless: true, display_name: displayName, aaguid: verified.aaguid, via: 'registration' } });
        delete flow.internal[REGISTER_KEY];
        delete flow.internal[SIGNUP_IDENTITY_KEY];
      },
    };
  }

  // ---- settings -------------------------------------------------------------------------------------------------

  /** Whether the identity has webauthn as a second factor (never when passwordless: the keys are a first factor). */
  isEnrolled(identity: Identity): boolean {
    return !this.passwordless && identity.credentials[WEBAUTHN] !== undefined;
  }

  /**
   * How many ways the identity has to sign in without a second factor (Kratos `CountActiveFirstFactorCredentials`):
   * a password, passkeys, and passwordless security keys. A passwordless key is not removable when it is the last.
   */
  private firstFactorCount(identity: Identity, keys: WebAuthnKey[]): number {
    const others = Object.keys(identity.credentials).filter((type) => type === 'password' || type === 'passkey').length;
    return others + keys.filter((k) => k.passwordless).length;
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
      // Kratos: the last key the identity can sign in with is shown disabled.
      const lastWayIn = this.firstFactorCount(identity, keys) < 2;
      for (const key of keys) {
        nodes.push(inputNode(WEBAUTHN, 'webauthn_remove', 'submit', { value: hexOf(key.keyId), disabled: key.passwordless && lastWayIn, label: webauthnKratosMsg.settingsRemove(key.displayName, key.createdAtMs) }));
      }
    }
    const facts = this.deps.identities.facts(identity);
    const userName = (this.passwordless ? facts.webauthnIdentifiers[0] : undefined) ?? facts.totpAccountName ?? identity.id;
    const { options, pending } = await this.ceremonies.registrationOptions({
      userHandle: userHandleOf(identity.id),
      userName,
      userDisplayName: userName,
      exclude: keys,
      residentKey: 'discouraged',
      userVerification: this.config.user_verification,
      attestation: this.config.attestation,
    });
    flow.internal[REGISTER_KEY] = pending;
    offerKey(flow, WEBAUTHN, keys.length > 0);
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
    // Passwordless: the key is found by the identifier it signs in with (Kratos's 4000009 without one).
    if (this.passwordless && this.deps.identities.facts(identity).webauthnIdentifiers.length === 0) throw FlowValidationError.global(msg.identifierMissing());
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
      keyRefused(flow, WEBAUTHN, refusedInBrowser ? 'browser' : 'server');
      throw await this.explain(input.trx, err, context);
    }
    if (keys.some((k) => k.keyId === verified.keyId)) {
      keyRefused(flow, WEBAUTHN, 'server');
      throw FlowValidationError.global(webauthnMsg.alreadyRegistered());
    }
    const pendingKey: PendingKey = { key: verified, display_name: displayName, user_handle: pending?.user_handle ?? '' };
    // Recovery codes come with the first SECOND factor; a passwordless key is a first factor.
    if (!this.passwordless && this.recoveryCodes && this.deps.config.selfservice.methods.totp.config.require_recovery_codes && (await this.recoveryCodes.required(identity, input.trx))) {
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

  /**
   * Stores a verified key (and the identity's `webauthn` credential row with its first key) in one transaction. A
   * passwordless key is stored as such (Kratos's `is_passwordless`), and the credential's identifiers are the traits
   * it signs in with; a second factor's credential is identified by the identity's id.
   */
  private async storeKey(stepTrx: Db, input: { flow: Flow; identity: Identity; pendingKey: PendingKey; sessionId: string; request: { ip: string; userAgent: string | null }; alsoInTransaction?: (trx: Db) => Promise<void> }): Promise<void> {
    const { flow, identity, pendingKey } = input;
    // A savepoint of the step's transaction (as TOTP's enrollment): a refused insert rolls back only this part.
    await this.deps.identities.inTransaction(stepTrx, async (trx) => {
      const fresh = await this.deps.identities.get(identity.id, trx);
      let credential = fresh?.credentials[WEBAUTHN];
      if (credential && this.passwordless) await this.deps.identities.refreshIdentifiers(fresh!, WEBAUTHN, trx);
      if (!credential) {
        const identifiers = this.passwordless ? this.deps.identities.facts(identity).webauthnIdentifiers : [identity.id];
        credential = this.deps.identities.newCredential(WEBAUTHN, {}, identifiers);
        try {
          await this.deps.identities.addCredential(identity.id, credential, trx);
        } catch (err) {
          if (err instanceof CredentialExistsError) throw FlowValidationError.global(webauthnMsg.alreadyRegistered());
          if (err instanceof DuplicateIdentifierError) throw FlowValidationError.global(msg.duplicateCredentials());
          throw err;
        }
      }
      const key = pendingKey.key;
      await this.keys.insert(
        keyFromRegistration({ id: this.deps.random.uuid(), credentialId: credential.id, identityId: identity.id, method: WEBAUTHN, verified: key, userHandle: pendingKey.user_handle, rpId: this.ceremonies.rp.id, displayName: pendingKey.display_name, nowMs: this.deps.clock.nowMs(), passwordless: this.passwordless }),
        trx,
      );
      const audit = { identityId: identity.id, sessionId: input.sessionId, flowId: flow.id, actor: 'self', ipAddress: input.request.ip, userAgent: input.request.userAgent };
      const details = { method: WEBAUTHN, display_name: pendingKey.display_name, aaguid: key.aaguid, attestation_format: key.attestationFormat };
      if (this.passwordless) await this.deps.audit.record(trx, { ...audit, type: 'identity.updated', details: { ...details, change: 'security_key_added', passwordless: true } });
      else await this.deps.audit.record(trx, { ...audit, type: 'second_factor.enrolled', details });
      if (input.alsoInTransaction) await input.alsoInTransaction(trx);
    });
    delete flow.internal[PENDING_KEY];
  }

  /**
   * Removes one key (Kratos: `webauthn_remove` = the key id in hex). Like unlinking TOTP it needs a privileged
   * session, and Kairos also needs the second factor in this session, so a stolen password session cannot strip the
   * factor (passwordless: when the identity has one). The last key takes the `webauthn` credential with it;
   * recovery codes stay (a factor of their own). A passwordless key that is the identity's last way to sign in stays
   * (Kratos `ErrNotEnoughCredentials`).
   */
  private async removeKey(input: Parameters<SettingsStrategy['settings']>[0], hex: string): Promise<SettingsResult> {
    const { identity, flow, session, request } = input;
    if (!this.passwordless || this.deps.identities.hasSecondFactor(identity)) this.requireAal2(session, flow);
    const keys = await this.keysOf(identity, input.trx);
    const key = keys.find((k) => hexOf(k.keyId) === hex.toLowerCase());
    if (!key) throw FlowValidationError.global(webauthnMsg.keyNotFound());
    if (key.passwordless && this.firstFactorCount(identity, keys) < 2) {
      throw FlowValidationError.field('webauthn_remove', msg.generic('unable to remove this security key because it would lock you out of your account'));
    }
    await this.deps.identities.inTransaction(input.trx, async (trx) => {
      await this.keys.delete(key.id, trx);
      if ((await this.keys.count(identity.id, WEBAUTHN, trx)) === 0) await this.deps.identities.deleteCredential(identity.id, WEBAUTHN, trx);
      const type = key.passwordless ? 'credential.deleted' : 'second_factor.removed';
      await this.deps.audit.record(trx, { type, identityId: identity.id, sessionId: session.id, flowId: flow.id, actor: 'self', ipAddress: request.ip, userAgent: request.userAgent, details: { method: WEBAUTHN, display_name: key.displayName, remaining_keys: keys.length - 1, passwordless: key.passwordless } });
    });
    return { outcome: 'saved' };
  }

  /** The key the answer names, for logs (never the answer itself). */
  static keyIdOf(raw: unknown): string | null {
    return answeredKeyId(raw);
  }
}
