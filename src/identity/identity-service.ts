import type { Clock } from '../support/clock.js';
import type { Random } from '../support/random.js';
import { withSavepoint } from '../storage/unit-of-work.js';
import { isUniqueViolation } from '../storage/db.js';
import type { Credential, Identity, RecoveryAddress, VerifiableAddress } from './identity.js';
import * as repo from './repository.js';
import type { Db } from './repository.js';
import { describeProblems, type IdentitySchemas, type TraitFacts, type TraitProblem } from './schemas.js';

/** Traits that violate the identity schema. */
export class TraitsInvalidError extends Error {
  constructor(readonly problems: TraitProblem[]) {
    super('identity traits do not match the identity schema');
  }
}

/** Another identity already uses one of these identifiers or recovery addresses. */
export class DuplicateIdentifierError extends Error {
  constructor() {
    super('An identity with the same identifier already exists');
  }
}

/** The identity already has a credential of this type (added concurrently by another request). */
export class CredentialExistsError extends Error {
  constructor(readonly type: string) {
    super(`the identity already has a ${type} credential`);
  }
}

type IdentifierFact = keyof Pick<TraitFacts, 'passwordIdentifiers' | 'codeIdentifiers' | 'webauthnIdentifiers'>;

/** Credential types that identify a person (their identifiers follow the traits marked in the schema). */
const IDENTIFIER_TYPES: Record<string, IdentifierFact> = {
  password: 'passwordIdentifiers',
  code: 'codeIdentifiers',
};

export class IdentityService {
  constructor(
    readonly db: Db,
    private readonly clock: Clock,
    private readonly random: Random,
    readonly schemas: IdentitySchemas,
    /** Credential types that are second factors (from the registered aal2 strategies). */
    private readonly secondFactorTypes: () => string[],
  ) {}

  /** Credential types whose identifiers follow the traits: Kratos's, plus those modules add (`followTraitIdentifiers`). */
  private readonly identifierTypes: Record<string, IdentifierFact> = { ...IDENTIFIER_TYPES };

  /**
   * Makes a credential type's identifiers follow the traits marked for it, from now on (passwordless WebAuthn: the
   * `webauthn` credential is found by `credentials.webauthn.identifier`, as in Kratos).
   */
  followTraitIdentifiers(type: string, fact: IdentifierFact): void {
    this.identifierTypes[type] = fact;
    this.identifiersOnly.add(type);
  }

  /** Types whose credential row owns rows of its module (webauthn keys): `update` rewrites only their identifiers. */
  private readonly identifiersOnly = new Set<string>();

  get(id: string, db: Db = this.db): Promise<Identity | null> {
    return repo.findIdentity(db, id);
  }

  /** Validates traits against the identity's schema; throws TraitsInvalidError with Kratos messages. */
  validateTraits(schemaId: string, traits: unknown): asserts traits is Record<string, unknown> {
    const schema = this.schemas.get(schemaId);
    if (!schema) throw new TraitsInvalidError([{ field: null, message: { id: 4000001, text: `unknown schema_id "${schemaId}"`, type: 'error' } }]);
    if (typeof traits !== 'object' || traits === null || Array.isArray(traits)) {
      throw new TraitsInvalidError([{ field: 'traits', message: { id: 4000023, text: 'expected object, but got ' + (traits === null ? 'null' : typeof traits), type: 'error' } }]);
    }
    const problems = schema.validateTraits(traits);
    if (problems.length > 0) throw new TraitsInvalidError(describeProblems(problems, traits as Record<string, unknown>));
  }

  facts(identity: Pick<Identity, 'schemaId' | 'traits'>): TraitFacts {
    return this.schemas.get(identity.schemaId)!.facts(identity.traits);
  }

  /** A new identity (not stored) with addresses derived from its traits. */
  build(input: {
    schemaId: string;
    traits: Record<string, unknown>;
    state?: 'active' | 'inactive';
    metadataPublic?: unknown;
    metadataAdmin?: unknown;
    externalId?: string | null;
  }): Identity {
    this.validateTraits(input.schemaId, input.traits);
    const now = this.clock.nowMs();
    const identity: Identity = {
      id: this.random.uuid(),
      schemaId: input.schemaId,
      state: input.state ?? 'active',
      stateChangedAtMs: now,
      traits: input.traits,
      metadataPublic: input.metadataPublic ?? null,
      metadataAdmin: input.metadataAdmin ?? null,
      externalId: input.externalId ?? null,
      createdAtMs: now,
      updatedAtMs: now,
      credentials: {},
      verifiableAddresses: [],
      recoveryAddresses: [],
    };
    this.deriveAddresses(identity);
    return identity;
  }

  newCredential(type: string, config: Record<string, unknown>, identifiers: string[] = []): Credential {
    const now = this.clock.nowMs();
    return { id: this.random.uuid(), type, identifiers, config, version: 0, createdAtMs: now, updatedAtMs: now };
  }

  /** Keeps addresses in step with the traits, preserving verification state of unchanged addresses. */
  deriveAddresses(identity: Identity): void {
    const facts = this.facts(identity);
    const now = this.clock.nowMs();
    const verifiable: VerifiableAddress[] = facts.verificationAddresses.map(({ value, via }) => {
      const existing = identity.verifiableAddresses.find((a) => a.value === value && a.via === via);
      return (
        existing ?? {
          id: this.random.uuid(),
          value,
          via,
          verified: false,
          status: 'pending',
          verifiedAtMs: null,
          createdAtMs: now,
          updatedAtMs: now,
        }
      );
    });
    const recovery: RecoveryAddress[] = facts.recoveryAddresses.map(({ value, via }) => {
      const existing = identity.recoveryAddresses.find((a) => a.value === value && a.via === via);
      return existing ?? { id: this.random.uuid(), value, via, createdAtMs: now, updatedAtMs: now };
    });
    identity.verifiableAddresses = verifiable;
    identity.recoveryAddresses = recovery;
    for (const [type, key] of Object.entries(this.identifierTypes)) {
      const credential = identity.credentials[type];
      if (credential) credential.identifiers = facts[key];
    }
  }

  /** Stores a new identity with its credentials and addresses in one transaction. */
  async create(identity: Identity, db: Db = this.db): Promise<Identity> {
    this.deriveAddresses(identity);
    try {
      await this.inTransaction(db, async (trx) => {
        // A new identity has nothing stored to replace: plain inserts (three DELETEs fewer per registration).
        await repo.insertIdentityRow(trx, identity);
        for (const credential of Object.values(identity.credentials)) await repo.insertCredential(trx, identity.id, credential);
        await repo.insertAddresses(trx, identity.id, identity.verifiableAddresses, identity.recoveryAddresses);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new DuplicateIdentifierError();
      throw err;
    }
    return identity;
  }

  /** Stores changed traits/state/metadata and every credential of the identity (identifiers re-derived). */
  async update(identity: Identity, options: { credentialTypes?: string[] } = {}, db: Db = this.db): Promise<Identity> {
    this.validateTraits(identity.schemaId, identity.traits);
    identity.updatedAtMs = this.clock.nowMs();
    this.deriveAddresses(identity);
    try {
      await this.inTransaction(db, async (trx) => {
        await repo.updateIdentityRow(trx, identity);
        const types = options.credentialTypes ?? Object.keys(this.identifierTypes);
        for (const type of types) {
          const credential = identity.credentials[type];
          if (!credential) continue;
          // Replacing the row would take the rows that refer to it along (ON DELETE CASCADE): only the identifiers move.
          if (this.identifiersOnly.has(type)) await repo.replaceCredentialIdentifiers(trx, identity.id, credential);
          else await repo.upsertCredential(trx, identity.id, credential);
        }
        await repo.replaceAddresses(trx, identity.id, identity.verifiableAddresses, identity.recoveryAddresses);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new DuplicateIdentifierError();
      throw err;
    }
    return identity;
  }

  /**
   * Called inside the transaction just before an identity's credential of `type` is deleted or replaced (settings
   * unlink, admin DELETE, MFA reset, re-enrollment), with the id of the credential that stays (null on deletion).
   * The TOTP diagnosis keeps the old secret this way (mfa/diagnosis).
   */
  readonly credentialRetirementHooks: ((event: { identityId: string; type: string; keepCredentialId: string | null }, trx: Db) => Promise<void>)[] = [];

  private async runRetirementHooks(identityId: string, type: string, keepCredentialId: string | null, trx: Db): Promise<void> {
    for (const hook of this.credentialRetirementHooks) await hook({ identityId, type, keepCredentialId }, trx);
  }

  async saveCredential(identityId: string, credential: Credential, db: Db = this.db): Promise<void> {
    try {
      if (this.credentialRetirementHooks.length > 0) {
        await this.inTransaction(db, async (trx) => {
          await this.runRetirementHooks(identityId, credential.type, credential.id, trx);
          await repo.upsertCredential(trx, identityId, credential);
        });
        return;
      }
      await withSavepoint(db, (trx) => repo.upsertCredential(trx, identityId, credential));
    } catch (err) {
      if (isUniqueViolation(err)) throw new DuplicateIdentifierError();
      throw err;
    }
  }

  /**
   * Re-derives the identifiers of a credential whose identifiers follow the traits (`followTraitIdentifiers`) and
   * stores them; the credential row and what refers to it stay. Returns the identifiers.
   */
  async refreshIdentifiers(identity: Identity, type: string, db: Db = this.db): Promise<string[]> {
    const credential = identity.credentials[type];
    const fact = this.identifierTypes[type];
    if (!credential || !fact) return credential?.identifiers ?? [];
    credential.identifiers = this.facts(identity)[fact];
    try {
      await withSavepoint(db, (trx) => repo.replaceCredentialIdentifiers(trx, identity.id, credential));
    } catch (err) {
      if (isUniqueViolation(err)) throw new DuplicateIdentifierError();
      throw err;
    }
    return credential.identifiers;
  }

  /**
   * Adds a credential of a type the identity does not have yet, atomically: when another request added one first
   * (two settings flows enrolling at the same moment), throws CredentialExistsError and writes nothing.
   */
  async addCredential(identityId: string, credential: Credential, db: Db = this.db): Promise<void> {
    try {
      await withSavepoint(db, (trx) => repo.insertCredential(trx, identityId, credential));
    } catch (err) {
      if (isUniqueViolation(err)) throw new CredentialExistsError(credential.type);
      throw err;
    }
  }

  deleteCredential(identityId: string, type: string, db: Db = this.db): Promise<number> {
    if (this.credentialRetirementHooks.length === 0) return repo.deleteCredential(db, identityId, type);
    return this.inTransaction(db, async (trx) => {
      await this.runRetirementHooks(identityId, type, null, trx);
      return repo.deleteCredential(trx, identityId, type);
    });
  }

  /**
   * Runs `fn` in a transaction, or inside the caller's when `db` already is one, as a savepoint of it: a failure
   * (a unique violation the caller turns into a message) undoes only `fn`'s writes and leaves the step's
   * transaction usable (storage/unit-of-work.ts).
   */
  /** A page of identities in id order (admin `GET /admin/identities`), optionally by credential identifier or ids. */
  async listPage(options: { pageSize: number; after: repo.IdentityPageCursor | null; identifier?: string; ids?: string[] }, db: Db = this.db): Promise<Identity[]> {
    return repo.loadIdentities(db, await repo.listIdentityIds(db, options));
  }

  /** Deletes the identity with everything it owns; false when there was none. */
  delete(id: string, db: Db = this.db): Promise<boolean> {
    return repo.deleteIdentity(db, id);
  }

  async inTransaction<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T> {
    return withSavepoint(db, fn);
  }

  /** The highest level this identity can reach: aal2 when it has any second factor (Kratos `SetAvailableAAL`). */
  hasSecondFactor(identity: Identity): boolean {
    return this.secondFactorMethods(identity).length > 0;
  }

  /**
   * The second factors an identity has (credential types, and the methods modules check, such as `code`), without
   * those its MFA policy forbids (`methodFilter`) unless `all` is set: a forbidden factor does not count. A checked
   * method with kinds (`code`: its channels `email`, `sms`) counts when one of the kinds it has is allowed; `kinds`
   * lists the kinds instead of the method (the MFA policy's names).
   */
  secondFactorMethods(identity: Identity, options: { all?: boolean; kinds?: boolean } = {}): string[] {
    const filter = options.all ? null : this.methodFilter;
    const allowed = (method: string) => !filter || filter(identity, method);
    const found = this.secondFactorTypes().filter((type) => type in identity.credentials && allowed(type));
    for (const check of this.secondFactorChecks) {
      if (!check.kinds) {
        if (check.has(identity) && allowed(check.method)) found.push(check.method);
        continue;
      }
      const kinds = check.kinds(identity).filter(allowed);
      if (options.kinds) found.push(...kinds);
      else if (kinds.length > 0) found.push(check.method);
    }
    return found;
  }

  /**
   * Second factors an identity has without a credential row of their own (a code to a verified address, Kratos's
   * `code` with `mfa_enabled`). Modules add theirs; `kinds` tells apart what the MFA policy names separately (the
   * channels of `code`), and then decides alone whether the identity has the method.
   */
  readonly secondFactorChecks: { method: string; has(identity: Identity): boolean; kinds?(identity: Identity): string[] }[] = [];

  /** Set by the MFA policy (mfa/policy): whether the identity's rule allows a method. Null: every method counts. */
  methodFilter: ((identity: Identity, method: string) => boolean) | null = null;
}
