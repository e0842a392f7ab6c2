/**
 * Passkeys (Kratos `selfservice/strategy/passkey`, same nodes and bodies): passwordless sign-in with a discoverable
 * credential, and passkey management in settings. Like Kratos (`CompletedAuthenticationMethod` returns AAL1), a
 * passkey sign-in is a FIRST factor: the session is aal1, and an identity with a second factor is still asked for
 * it under `highest_available`. Keys share the webauthn_keys table and the ceremonies with credentials/webauthn,
 * under the method `passkey`; user verification is always required (the passkey is the whole first factor).
 */
import type { Deps } from '../../deps.js';
import type { Identity } from '../../identity/identity.js';
import { FlowValidationError, type Flow } from '../../flows/flow.js';
import {
  NOT_RESPONSIBLE,
  type LoginResult,
  type LoginStrategy,
  type NotResponsible,
  type RegistrationResult,
  type RegistrationStrategy,
  type SettingsResult,
  type SettingsStrategy,
  type SubmittedBody,
} from '../../flows/strategy.js';
import { CredentialExistsError } from '../../identity/identity-service.js';
import type { IdentitySchema } from '../../identity/schemas.js';
import type { VerifiedRegistration } from '../webauthn/ceremony.js';
import { inputNode, scriptNode, textNode, type UiNode } from '../../ui/nodes.js';
import { kairosWarning, type UiText } from '../../ui/messages.js';
import type { AmrEntry } from '../../session/session.js';
import type { Db } from '../../storage/db.js';
import { answeredKeyId, userHandleOf, type PendingCeremony, type WebAuthnCeremonies } from '../webauthn/ceremony.js';
import { WebAuthnRejection } from '../webauthn/diagnosis.js';
import { webauthnKratosMsg, webauthnMsg } from '../webauthn/messages.js';
import { WebAuthnKeyRepository, type WebAuthnKey } from '../webauthn/repository.js';
import { WEBAUTHN_SCRIPT_INTEGRITY, WEBAUTHN_SCRIPT_PATH } from '../webauthn/script.js';
import { identityFromSignup, keyFromRegistration, reservedIdentityId } from '../webauthn/signup.js';
import { keyRefused, offerKey } from '../webauthn/enrollment-progress.js';

export const PASSKEY = 'passkey';

const info = (id: number, text: string, context?: Record<string, unknown>): UiText => (context ? { id, text, type: 'info', context } : { id, text, type: 'info' });

export const passkeyKratosMsg = {
  login: () => info(1010021, 'Sign in with passkey'),
  registration: () => info(1040007, 'Sign up with passkey'),
  settingsRegister: () => info(1050019, 'Add passkey'),
  settingsRemove: (name: string, addedAtMs: number) =>
    info(1050020, `Remove passkey "${name}"`, { display_name: name, added_at: new Date(addedAtMs).toISOString(), added_at_unix: Math.floor(addedAtMs / 1000) }),
} as const;

/** Kairos's passkey messages (4900700–4900799). */
export const passkeyMsg = {
  lastSignInMethod: () => kairosWarning(4900700, 'This passkey is the only way you can sign in. Set a password or add another passkey before removing it.'),
} as const;

const LOGIN_KEY = 'passkey_login_ceremony';
const REGISTER_KEY = 'passkey_register_ceremony';
/** Registration: the id the new identity will get, so the passkey's user handle is the identity's (as in settings). */
const SIGNUP_IDENTITY_KEY = 'passkey_signup_identity_id';

/**
 * The form fields a new passkey is named after (Kratos's `displayNameFieldNames`): traits marked
 * `credentials.passkey.display_name` or `credentials.webauthn.identifier` (Kratos), else the password identifiers (Kairos: the email of the
 * default schema), as node names (`traits.email`).
 */
export function passkeyDisplayNameFields(schema: IdentitySchema): string[] {
  const marked = schema.annotated.filter((a) => a.annotations.credentials?.passkey?.display_name || a.annotations.credentials?.webauthn?.identifier);
  const fields = marked.length ? marked : schema.annotated.filter((a) => a.annotations.credentials?.password?.identifier);
  return [...new Set(fields.map((a) => `traits.${a.path.join('.')}`))].sort();
}

type PasskeyDeps = Pick<Deps, 'config' | 'db' | 'clock' | 'random' | 'identities' | 'audit' | 'urls' | 'metrics' | 'logger'>;

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const hexOf = (keyId: string) => Buffer.from(keyId, 'base64url').toString('hex');

export class PasskeyStrategy implements LoginStrategy, SettingsStrategy, RegistrationStrategy {
  readonly id = PASSKEY;
  readonly aal = 'aal1' as const;
  readonly keys: WebAuthnKeyRepository;

  constructor(
    private readonly deps: PasskeyDeps,
    readonly ceremonies: WebAuthnCeremonies,
  ) {
    this.keys = new WebAuthnKeyRepository(deps.db);
  }

  private amr(): AmrEntry {
    return { method: PASSKEY, aal: 'aal1', completedAtMs: this.deps.clock.nowMs() };
  }

  private script(): UiNode {
    return scriptNode(PASSKEY, 'webauthn_script', this.deps.urls.public(WEBAUTHN_SCRIPT_PATH), WEBAUTHN_SCRIPT_INTEGRITY);
  }

  private async explain(trx: Db, rejection: WebAuthnRejection, flow: Flow, identityId: string | null, ceremony: string): Promise<FlowValidationError> {
    const details = { cause: rejection.reason, ceremony, method: PASSKEY, rp_id: this.ceremonies.rp.id, ...rejection.detail };
    this.deps.logger.info({ identity_id: identityId, flow_id: flow.id, ...details }, 'webauthn response rejected');
    this.deps.metrics.counter('kairos_webauthn_rejections_total', 'Rejected WebAuthn answers by cause and ceremony', ['cause', 'ceremony', 'method']).inc({ cause: rejection.reason, ceremony, method: PASSKEY });
    if (identityId) await this.deps.audit.record(trx, { type: 'second_factor.rejected', identityId, flowId: flow.id, actor: 'self', details });
    if (rejection.reason === 'cloned_key' && identityId) await this.deps.audit.record(trx, { type: 'second_factor.clone_detected', identityId, flowId: flow.id, actor: 'self', details });
    return new FlowValidationError([
      { field: null, message: webauthnKratosMsg.webAuthnVerifierWrong() },
      { field: null, message: webauthnMsg.rejected(rejection.reason) },
    ]);
  }

  // ---- login (aal1, passwordless) ------------------------------------------------------------------------------

  private async issueLogin(flow: Flow): Promise<UiNode[]> {
    const { options, pending } = await this.ceremonies.authenticationOptions({ allow: [], userVerification: 'required' });
    flow.internal[LOGIN_KEY] = pending;
    const fn = 'oryPasskeyLogin';
    return [
      inputNode(PASSKEY, 'passkey_challenge', 'hidden', { value: JSON.stringify(options) }),
      this.script(),
      inputNode(PASSKEY, 'passkey_login', 'hidden', { value: '' }),
      inputNode(PASSKEY, 'passkey_login_trigger', 'button', { value: '', onclick: `window.${fn}()`, onclickTrigger: fn, label: passkeyKratosMsg.login() }),
    ];
  }

  async loginNodes(flow: Flow): Promise<UiNode[]> {
    if (flow.requestedAal === 'aal2') return [];
    return this.issueLogin(flow);
  }

  private replaceNodes(flow: Flow, nodes: UiNode[]): void {
    const index = flow.ui.nodes.findIndex((n) => n.group === PASSKEY);
    const rest = flow.ui.nodes.filter((n) => n.group !== PASSKEY);
    rest.splice(index === -1 ? rest.length : index, 0, ...nodes);
    flow.ui.nodes = rest;
  }

  async login(input: Parameters<LoginStrategy['login']>[0]): Promise<LoginResult | NotResponsible> {
    const { trx, flow, body } = input;
    const answer = str(body.passkey_login);
    if (body.method !== PASSKEY && !answer) return NOT_RESPONSIBLE;
    if (flow.requestedAal === 'aal2') return NOT_RESPONSIBLE;
    if (!answer) throw FlowValidationError.field('passkey_login', { id: 4000002, text: 'Property passkey_login is missing.', type: 'error', context: { property: 'passkey_login' } });
    const pending = flow.internal[LOGIN_KEY] as PendingCeremony | undefined;
    this.replaceNodes(flow, await this.issueLogin(flow));
    const keyId = answeredKeyId(answer);
    const key = keyId ? await this.keys.findByKeyId(PASSKEY, keyId, trx) : null;
    try {
      if (answer.includes('client_error')) throw new WebAuthnRejection(answer.includes('SecurityError') ? 'wrong_domain' : 'not_allowed', { reported_by: 'browser' });
      const { key: used, assertion } = await this.ceremonies.verifyAuthentication(answer, pending, key ? [key] : [], true);
      if (!(await this.keys.recordUse(used.id, used.signCount, assertion.newSignCount, this.deps.clock.nowMs(), assertion.backedUp, trx))) {
        throw new WebAuthnRejection('cloned_key', { key_id: used.id, reason: 'concurrent use' });
      }
    } catch (err) {
      if (!(err instanceof WebAuthnRejection)) throw err;
      throw await this.explain(trx, err, flow, key?.identityId ?? null, 'login');
    }
    const identity = await this.deps.identities.get(key!.identityId, trx);
    // Kratos's generic "invalid credentials" for a disabled or vanished identity: nothing about the account leaks.
    if (!identity || identity.state !== 'active' || !identity.credentials[PASSKEY]) throw FlowValidationError.global(webauthnKratosMsg.webAuthnVerifierWrong());
    // Re-authentication (refresh) proves the session's own identity, never switches to another person's passkey.
    if (flow.refresh && flow.identityId && identity.id !== flow.identityId) throw FlowValidationError.global(webauthnMsg.rejected('unknown_key'));
    return { identity, amr: this.amr() };
  }

  // ---- registration (Kratos's passkey registration: sign up without a password) -------------------------------

  /**
   * Kratos's registration nodes (`selfservice/strategy/passkey/passkey_registration.go`): `passkey_create_data`
   * (`{credentialOptions, displayNameFieldName, displayNameFieldNames}`), `passkey_register_trigger`
   * (`oryPasskeyRegistration`, 1040007), the script, and the hidden `passkey_register` the answer goes into. The
   * traits come from the other strategies' nodes in the same form. A schema without a field to name the passkey
   * after gets no passkey registration (as in Kratos).
   */
  async registrationNodes(flow: Flow, schema: IdentitySchema): Promise<UiNode[]> {
    const fields = passkeyDisplayNameFields(schema);
    if (fields.length === 0) return [];
    const identityId = reservedIdentityId(flow, SIGNUP_IDENTITY_KEY, this.deps.random);
    const { options, pending } = await this.ceremonies.registrationOptions({
      userHandle: userHandleOf(identityId),
      userName: '',
      userDisplayName: '',
      exclude: [],
      residentKey: 'required',
      userVerification: 'required',
      attestation: 'none',
    });
    flow.internal[REGISTER_KEY] = pending;
    const fn = 'oryPasskeyRegistration';
    return [
      inputNode(PASSKEY, 'passkey_create_data', 'hidden', { value: JSON.stringify({ credentialOptions: options, displayNameFieldName: fields[0], displayNameFieldNames: fields }) }),
      inputNode(PASSKEY, 'passkey_register_trigger', 'button', { value: '', onclick: `window.${fn}()`, onclickTrigger: fn, label: passkeyKratosMsg.registration() }),
      this.script(),
      inputNode(PASSKEY, 'passkey_register', 'hidden', { value: '' }),
    ];
  }

  /**
   * `{method: "passkey", traits, passkey_register}`: not responsible without an answer (Kratos also ignores the
   * React SDK's `"true"`). The traits are validated like any registration's; the key must be a discoverable
   * credential that verified its user. The identity gets a passkey credential and no password; the answer is
   * checked before anything is stored, and the key row is written with the identity, in the step's transaction.
   */
  async register(input: { trx: Db; flow: Flow; body: SubmittedBody }): Promise<RegistrationResult | NotResponsible> {
    const { flow, body } = input;
    const answer = str(body.passkey_register);
    if (!answer || answer === 'true') return NOT_RESPONSIBLE;
    const { identity, keep } = identityFromSignup(this.deps.identities, body);
    const pending = flow.internal[REGISTER_KEY] as PendingCeremony | undefined;
    const identityId = flow.internal[SIGNUP_IDENTITY_KEY];
    if (typeof identityId !== 'string' || !pending) throw new FlowValidationError([{ field: null, message: webauthnMsg.rejected('challenge_mismatch') }], keep);
    let verified: VerifiedRegistration;
    try {
      if (answer.includes('client_error')) throw new WebAuthnRejection('not_allowed', { reported_by: 'browser' });
      verified = await this.ceremonies.verifyRegistration(answer, pending, true);
    } catch (err) {
      if (!(err instanceof WebAuthnRejection)) throw err;
      // A new challenge for the next try (the answered one is spent).
      this.replaceNodes(flow, await this.registrationNodes(flow, this.deps.identities.schemas.getDefault()));
      const explained = await this.explain(input.trx, err, flow, null, 'registration');
      throw new FlowValidationError(explained.problems, keep);
    }
    // The identity takes the id its passkey was created for (its user handle), as a passkey added in settings.
    identity.id = identityId;
    const credential = this.deps.identities.newCredential(PASSKEY, {}, [identityId]);
    identity.credentials[PASSKEY] = credential;
    const displayName = 'Passkey 1';
    return {
      identity,
      amr: this.amr(),
      afterCreate: async (trx) => {
        await this.storeKey(trx, { identityId, credentialId: credential.id, verified, userHandle: pending.user_handle ?? '', displayName });
        await this.deps.audit.record(trx, { type: 'identity.updated', identityId, flowId: flow.id, actor: 'self', details: { method: PASSKEY, change: 'passkey_added', display_name: displayName, aaguid: verified.aaguid, via: 'registration' } });
        delete flow.internal[REGISTER_KEY];
        delete flow.internal[SIGNUP_IDENTITY_KEY];
      },
    };
  }

  private async storeKey(trx: Db, input: { identityId: string; credentialId: string; verified: VerifiedRegistration; userHandle: string; displayName: string }): Promise<void> {
    const key = keyFromRegistration({ ...input, id: this.deps.random.uuid(), method: PASSKEY, rpId: this.ceremonies.rp.id, nowMs: this.deps.clock.nowMs(), passwordless: true });
    await this.keys.insert(key, trx);
  }

  // ---- settings -------------------------------------------------------------------------------------------------

  /**
   * The identity's ways to sign in besides its passkeys (Kratos `CountActiveFirstFactorCredentials`): a password, and
   * each security key registered for passwordless sign-in (webauthn with `passwordless: true`).
   */
  private async otherWaysIn(identity: Identity, db?: Db): Promise<number> {
    const password = identity.credentials.password ? 1 : 0;
    if (!identity.credentials.webauthn) return password;
    const keys = await this.keys.listByIdentity(identity.id, 'webauthn', db);
    return password + keys.filter((key) => key.passwordless).length;
  }

  keysOf(identity: Identity, db?: Db): Promise<WebAuthnKey[]> {
    if (!identity.credentials[PASSKEY]) return Promise.resolve([]);
    return this.keys.listByIdentity(identity.id, PASSKEY, db);
  }

  async settingsNodes(flow: Flow, identity: Identity): Promise<UiNode[]> {
    const keys = await this.keysOf(identity);
    const nodes: UiNode[] = [];
    if (keys.length) {
      nodes.push(textNode(PASSKEY, 'passkey_keys', webauthnMsg.keyList(keys.map((k) => ({ name: k.displayName, createdAtMs: k.createdAtMs, lastUsedAtMs: k.lastUsedAtMs })))));
      const removable = keys.length + (await this.otherWaysIn(identity)) > 1;
      for (const key of keys) nodes.push(inputNode(PASSKEY, 'passkey_remove', 'submit', { value: hexOf(key.keyId), disabled: !removable, label: passkeyKratosMsg.settingsRemove(key.displayName, key.createdAtMs) }));
    }
    const name = this.deps.identities.facts(identity).passwordIdentifiers[0] ?? this.deps.identities.facts(identity).totpAccountName ?? identity.id;
    const { options, pending } = await this.ceremonies.registrationOptions({
      userHandle: userHandleOf(identity.id),
      userName: name,
      userDisplayName: name,
      exclude: keys,
      residentKey: 'required',
      userVerification: 'required',
      attestation: 'none',
    });
    flow.internal[REGISTER_KEY] = pending;
    offerKey(flow, PASSKEY, keys.length > 0);
    const fn = 'oryPasskeySettingsRegistration';
    nodes.push(
      this.script(),
      inputNode(PASSKEY, 'passkey_create_data', 'hidden', { value: JSON.stringify(options) }),
      inputNode(PASSKEY, 'passkey_register_trigger', 'button', { value: '', onclick: `window.${fn}()`, onclickTrigger: fn, label: passkeyKratosMsg.settingsRegister() }),
      inputNode(PASSKEY, 'passkey_settings_register', 'hidden', { value: '' }),
    );
    return nodes;
  }

  async settings(input: Parameters<SettingsStrategy['settings']>[0]): Promise<SettingsResult | NotResponsible> {
    const { body, identity, flow, session, request } = input;
    const register = str(body.passkey_settings_register);
    const remove = str(body.passkey_remove);
    if (!register && !remove) return NOT_RESPONSIBLE;
    input.requirePrivileged();
    const keys = await this.keysOf(identity, input.trx);
    const audit = { identityId: identity.id, sessionId: session.id, flowId: flow.id, actor: 'self', ipAddress: request.ip, userAgent: request.userAgent };
    if (remove) {
      const key = keys.find((k) => hexOf(k.keyId) === remove.toLowerCase());
      if (!key) throw FlowValidationError.global(webauthnMsg.keyNotFound());
      // Kratos: the last way to sign in cannot be removed.
      if (keys.length + (await this.otherWaysIn(identity, input.trx)) < 2) throw FlowValidationError.global(passkeyMsg.lastSignInMethod());
      await this.deps.identities.inTransaction(input.trx, async (trx) => {
        await this.keys.delete(key.id, trx);
        if ((await this.keys.count(identity.id, PASSKEY, trx)) === 0) await this.deps.identities.deleteCredential(identity.id, PASSKEY, trx);
        await this.deps.audit.record(trx, { ...audit, type: 'credential.deleted', details: { method: PASSKEY, display_name: key.displayName } });
      });
      return { outcome: 'saved' };
    }
    const pending = flow.internal[REGISTER_KEY] as PendingCeremony | undefined;
    delete flow.internal[REGISTER_KEY];
    let verified;
    const refusedInBrowser = register!.includes('client_error');
    try {
      if (refusedInBrowser) throw new WebAuthnRejection('not_allowed', { reported_by: 'browser' });
      verified = await this.ceremonies.verifyRegistration(register, pending, true);
    } catch (err) {
      if (!(err instanceof WebAuthnRejection)) throw err;
      keyRefused(flow, PASSKEY, refusedInBrowser ? 'browser' : 'server');
      throw await this.explain(input.trx, err, flow, identity.id, 'registration');
    }
    if (keys.some((k) => k.keyId === verified.keyId)) {
      keyRefused(flow, PASSKEY, 'server');
      throw FlowValidationError.global(webauthnMsg.alreadyRegistered());
    }
    const displayName = `Passkey ${keys.length + 1}`;
    await this.deps.identities.inTransaction(input.trx, async (trx) => {
      const fresh = await this.deps.identities.get(identity.id, trx);
      let credential = fresh?.credentials[PASSKEY];
      if (!credential) {
        credential = this.deps.identities.newCredential(PASSKEY, {}, [identity.id]);
        try {
          await this.deps.identities.addCredential(identity.id, credential, trx);
        } catch (err) {
          if (err instanceof CredentialExistsError) throw FlowValidationError.global(webauthnMsg.alreadyRegistered());
          throw err;
        }
      }
      await this.storeKey(trx, { identityId: identity.id, credentialId: credential.id, verified, userHandle: pending?.user_handle ?? '', displayName });
      await this.deps.audit.record(trx, { ...audit, type: 'identity.updated', details: { method: PASSKEY, change: 'passkey_added', display_name: displayName, aaguid: verified.aaguid } });
    });
    return { outcome: 'saved', messages: [webauthnMsg.registered(displayName)] };
  }
}
