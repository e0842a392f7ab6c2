import type { Deps } from '../../deps.js';
import type { Identity } from '../../identity/identity.js';
import type { Db } from '../../storage/db.js';
import { findIdentityByIdentifier } from '../../identity/repository.js';
import { TraitsInvalidError } from '../../identity/identity-service.js';
import { BCRYPT_MAX_PASSWORD_BYTES } from './hasher.js';
import { coerceTraits, flattenTraits, traitNodes } from '../../identity/trait-nodes.js';
import { FlowValidationError, type Flow } from '../../flows/flow.js';
import {
  NOT_RESPONSIBLE,
  type LoginStrategy,
  type NotResponsible,
  type RegistrationStrategy,
  type SettingsStrategy,
  type SubmittedBody,
} from '../../flows/strategy.js';
import { errors } from '../../errors/http-error.js';
import { inputNode, type UiNode } from '../../ui/nodes.js';
import { msg } from '../../ui/messages.js';
import { checkPassword } from './policy.js';

export const PASSWORD = 'password';

type PasswordDeps = Pick<Deps, 'config' | 'db' | 'clock' | 'identities' | 'schemas' | 'hasher' | 'audit' | 'logger'>;

/** What `prepare` learnt outside the unit of work (never logged; lives for one request). */
interface PreparedPassword {
  password: string;
  /** The stored hash verified against (null: no such identity or no password, or registration/settings). */
  hashed: string | null;
  verified: boolean;
  /** A new hash of `password` (registration, settings, or a rehash after login), or null. */
  newHash: string | null;
}

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/** Password: a first factor in login, registration and settings (Kratos `selfservice/strategy/password`). */
export class PasswordStrategy implements LoginStrategy, RegistrationStrategy, SettingsStrategy {
  readonly id = PASSWORD;
  readonly aal = 'aal1' as const;

  constructor(private readonly deps: PasswordDeps) {}

  private get policy() {
    const c = this.deps.config.selfservice.methods.password.config;
    const maxBytes = this.deps.config.hashers.algorithm === 'bcrypt' ? BCRYPT_MAX_PASSWORD_BYTES : undefined;
    return { minLength: c.min_password_length, maxLength: c.max_password_length, maxBytes, identifierSimilarityCheck: c.identifier_similarity_check_enabled };
  }

  private passwordNode(autocomplete: 'current-password' | 'new-password'): UiNode {
    return inputNode('password', 'password', 'password', { required: true, autocomplete, label: msg.labelPassword() });
  }

  // ---- login ---------------------------------------------------------------------------------------------------

  loginNodes(flow: Flow, identity: Identity | null): UiNode[] {
    if (flow.requestedAal === 'aal2') return [];
    if (identity && !identity.credentials[PASSWORD]) return [];
    const identifier = identity?.credentials[PASSWORD]?.identifiers[0];
    return [
      inputNode('default', 'identifier', identity ? 'hidden' : 'text', {
        value: identifier ?? '',
        required: true,
        autocomplete: 'username',
        label: { id: 1070004, text: 'ID', type: 'info' },
      }),
      this.passwordNode('current-password'),
      inputNode('password', 'method', 'submit', { value: PASSWORD, label: msg.loginSignIn() }),
    ];
  }

  /**
   * Outside the unit of work (flows/strategy.ts `PreparesSubmission`): the argon2 work. At login, the identity's
   * stored hash is read and verified (or a dummy verification runs); in registration and settings the new password
   * is hashed. The step then only compares what it reads in its transaction with what was verified here.
   */
  async prepare(body: SubmittedBody): Promise<PreparedPassword | undefined> {
    if (body.method !== PASSWORD) return undefined;
    const password = str(body.password);
    if (!password || password.length > this.policy.maxLength * 4) return undefined;
    const identifierRaw = str(body.identifier) ?? str(body.password_identifier);
    const newHash = () => this.deps.hasher.hash(password);
    if (!identifierRaw) return { password, hashed: null, verified: false, newHash: await newHash() };
    const identifier = identifierRaw.trim();
    const credential = (await this.identityByIdentifier(this.deps.db, identifier))?.credentials[PASSWORD];
    const hashed = typeof credential?.config.hashed_password === 'string' ? credential.config.hashed_password : null;
    if (!hashed) {
      await this.deps.hasher.dummyVerify(password);
      return { password, hashed: null, verified: false, newHash: null };
    }
    const verified = await this.deps.hasher.verify(hashed, password);
    return { password, hashed, verified, newHash: verified && this.deps.hasher.needsRehash(hashed) ? await newHash() : null };
  }

  /** The identity whose password credential is named by `identifier`, as typed or in lower case (one statement each). */
  private async identityByIdentifier(db: Db, identifier: string): Promise<Identity | null> {
    return (await findIdentityByIdentifier(db, PASSWORD, identifier)) ?? (identifier === identifier.toLowerCase() ? null : await findIdentityByIdentifier(db, PASSWORD, identifier.toLowerCase()));
  }

  /** `password` verified against `hashed` (prepared), or verified now when the stored hash changed since. */
  private async verified(hashed: string, password: string, prepared: PreparedPassword | undefined): Promise<boolean> {
    if (prepared && prepared.password === password && prepared.hashed === hashed) return prepared.verified;
    return this.deps.hasher.verify(hashed, password);
  }

  /** A hash of `password`: the prepared one when it is for this password. */
  private async hashOf(password: string, prepared: unknown): Promise<string> {
    const p = prepared as PreparedPassword | undefined;
    if (p && p.password === password && p.newHash && p.hashed === null) return p.newHash;
    return this.deps.hasher.hash(password);
  }

  async login(input: { trx: Db; flow: Flow; body: SubmittedBody; identity: Identity | null; prepared?: unknown }) {
    const { body, flow, trx } = input;
    const prepared = input.prepared as PreparedPassword | undefined;
    if (body.method !== PASSWORD) return NOT_RESPONSIBLE;
    if (flow.requestedAal === 'aal2') return NOT_RESPONSIBLE;
    const identifierRaw = str(body.identifier) ?? str(body.password_identifier);
    const password = str(body.password);
    const problems: { field: string; message: ReturnType<typeof msg.required> }[] = [];
    if (!identifierRaw) problems.push({ field: 'identifier', message: msg.required('identifier') });
    if (!password) problems.push({ field: 'password', message: msg.required('password') });
    if (problems.length) throw new FlowValidationError(problems, { identifier: identifierRaw ?? '' });
    const identifier = identifierRaw!.trim();
    if (password!.length > this.policy.maxLength * 4) throw new FlowValidationError([{ field: null, message: msg.invalidCredentials() }], { identifier });

    const identity = await this.identityByIdentifier(trx, identifier);
    const credential = identity?.credentials[PASSWORD];
    const hashed = typeof credential?.config.hashed_password === 'string' ? credential.config.hashed_password : null;
    if (!identity || !hashed) {
      if (!prepared) await this.deps.hasher.dummyVerify(password!);
      throw new FlowValidationError([{ field: null, message: msg.invalidCredentials() }], { identifier });
    }
    if (!(await this.verified(hashed, password!, prepared))) {
      throw new FlowValidationError([{ field: null, message: msg.invalidCredentials() }], { identifier });
    }
    if (input.identity && input.identity.id !== identity.id) throw errors.identityMismatch('The identifier belongs to another identity than the session.');
    if (identity.state !== 'active') throw FlowValidationError.global(msg.accountDisabled());
    if (this.deps.hasher.needsRehash(hashed, password!)) {
      const rehashed = prepared?.hashed === hashed && prepared.newHash ? prepared.newHash : await this.deps.hasher.hash(password!);
      credential!.config = { ...credential!.config, hashed_password: rehashed };
      credential!.updatedAtMs = this.deps.clock.nowMs();
      await this.deps.identities.saveCredential(identity.id, credential!, trx);
    }
    return { identity, amr: { method: PASSWORD, aal: 'aal1' as const, completedAtMs: this.deps.clock.nowMs() } };
  }

  // ---- registration --------------------------------------------------------------------------------------------

  registrationNodes(_flow: Flow, schema: import('../../identity/schemas.js').IdentitySchema): UiNode[] {
    return [
      ...traitNodes(schema, 'password'),
      this.passwordNode('new-password'),
      inputNode('password', 'method', 'submit', { value: PASSWORD, label: msg.registrationSignUp() }),
    ];
  }

  async register(input: { flow: Flow; body: SubmittedBody; prepared?: unknown }) {
    const { body } = input;
    if (body.method !== PASSWORD) return NOT_RESPONSIBLE;
    const schema = this.deps.schemas.getDefault();
    const traits = coerceTraits(schema, body.traits ?? {});
    const keep = flattenTraits(traits);
    const password = str(body.password);
    let identity: Identity;
    try {
      identity = this.deps.identities.build({ schemaId: schema.id, traits: traits as Record<string, unknown> });
    } catch (err) {
      if (!(err instanceof TraitsInvalidError)) throw err;
      const problems: { field: string | null; message: import('../../ui/messages.js').UiText }[] = err.problems.map((p) => ({ field: p.field, message: p.message }));
      if (!password) problems.push({ field: 'password', message: msg.required('password') });
      throw new FlowValidationError(problems, keep);
    }
    if (!password) throw new FlowValidationError([{ field: 'password', message: msg.required('password') }], keep);
    const facts = this.deps.identities.facts(identity);
    if (facts.passwordIdentifiers.length === 0) throw new FlowValidationError([{ field: null, message: msg.identifierMissing() }], keep);
    const problem = checkPassword(password, facts.passwordIdentifiers, this.policy);
    if (problem) throw new FlowValidationError([{ field: 'password', message: problem }], keep);
    identity.credentials[PASSWORD] = this.deps.identities.newCredential(
      PASSWORD,
      { hashed_password: await this.hashOf(password, input.prepared) },
      facts.passwordIdentifiers,
    );
    return { identity, amr: { method: PASSWORD, aal: 'aal1' as const, completedAtMs: this.deps.clock.nowMs() } };
  }

  // ---- settings ------------------------------------------------------------------------------------------------

  settingsNodes(): UiNode[] {
    return [this.passwordNode('new-password'), inputNode('password', 'method', 'submit', { value: PASSWORD, label: msg.labelSave() })];
  }

  async settings(input: Parameters<SettingsStrategy['settings']>[0]): Promise<import('../../flows/strategy.js').SettingsResult | NotResponsible> {
    const { body, identity } = input;
    if (body.method !== PASSWORD) return NOT_RESPONSIBLE;
    const password = str(body.password);
    if (!password) throw FlowValidationError.field('password', msg.required('password'));
    input.requirePrivileged();
    const identifiers = this.deps.identities.facts(identity).passwordIdentifiers;
    const problem = checkPassword(password, identifiers, this.policy);
    if (problem) throw FlowValidationError.field('password', problem);
    const now = this.deps.clock.nowMs();
    const existing = identity.credentials[PASSWORD];
    const credential = existing ?? this.deps.identities.newCredential(PASSWORD, {}, identifiers);
    credential.config = { hashed_password: await this.hashOf(password, input.prepared) };
    credential.identifiers = identifiers;
    credential.updatedAtMs = now;
    await this.deps.identities.saveCredential(identity.id, credential, input.trx);
    await this.deps.audit.record(input.trx, { type: 'password.changed', identityId: identity.id, sessionId: input.session.id, flowId: input.flow.id, actor: 'self', ipAddress: input.request.ip, userAgent: input.request.userAgent });
    return { outcome: 'saved' };
  }
}

export { flattenTraits };
