/**
 * `kairos import kratos`: copies identities from a Kratos database into Kairos through Kairos's own identity
 * services and credential adapters (the same path as admin identity creation with credential import), so traits
 * are validated against Kairos's schemas, TOTP secrets are encrypted under `secrets.cipher` with Kairos's additional
 * data, and recovery codes are stored as Kairos's keyed hashes.
 *
 * - One transaction per identity: an identity is imported with all its addresses and credentials, or not at all.
 * - Idempotent: an identity whose id already exists in Kairos is **skipped, never updated**. A re-run picks up
 *   identities added in Kratos since, or those that failed before; it never overwrites what changed in Kairos
 *   after the first import (a new password, a re-enrolled authenticator, codes used since).
 * - A row Kairos cannot read (bad JSON, unknown schema, unsupported hash, traits the schema refuses…) fails that
 *   identity alone; the reasons are reported per identity and the import goes on.
 * - Dry run: every identity goes through the same transaction, which is then rolled back, so the report is what a
 *   real run would do (including conflicts with identities already in Kairos) and nothing is written.
 * - Secrets never appear in the report: hashes are named by their scheme, TOTP URLs and codes not at all.
 */
import type { Deps } from '../../deps.js';
import type { CredentialAdapter } from '../../identity/credential-adapters.js';
import type { Identity } from '../../identity/identity.js';
import { DuplicateIdentifierError, TraitsInvalidError } from '../../identity/identity-service.js';
import { PasswordHasher } from '../../credentials/password/hasher.js';
import { planIdentity, type IdentityPlan } from './mapping.js';
import type { KratosIdentityRecord, KratosSource } from './source.js';
import { existingIdentityIds } from './repository.js';

/** Identities read from Kratos per query. */
export const DEFAULT_PAGE_SIZE = 200;
/** Transactions at once on PostgreSQL: below Kairos's pool of 10 connections, so a running server is not starved. */
export const DEFAULT_POSTGRES_CONCURRENCY = 4;
/** Who the audit trail names for imported identities. */
export const IMPORT_ACTOR = 'kratos-import';

export interface ImportSummary {
  dryRun: boolean;
  source: string;
  network: string | null;
  total: number;
  imported: number;
  credentials: { password: number; totp: number; lookup_secret: number };
  /** Identities already in Kairos (same id): left as they are. */
  skipped: { id: string; reason: string }[];
  /** Identities that could not be imported, with every reason. */
  failed: { id: string; problems: string[] }[];
  /** Credentials Kairos cannot import (the identity was imported without them). */
  skippedCredentials: { id: string; type: string; reason: string }[];
  /** Addresses Kratos had that Kairos's schema does not derive from the traits (not imported). */
  warnings: { id: string; message: string }[];
}

export interface ImportOptions {
  dryRun?: boolean;
  /** Kratos network id; required when the database has more than one network. */
  network?: string;
  pageSize?: number;
  /** Identities imported at once on PostgreSQL (each in its own transaction); SQLite always takes one at a time. */
  concurrency?: number;
  onStart?(total: number): void;
  onProgress?(done: number): void;
}

class Rollback extends Error {}
const ALREADY_IMPORTED = 'already in Kairos (same id); left unchanged';

/** The scheme of a password hash (`$pbkdf2-sha256$`, `{SSHA}`…), never the hash itself. */
const hashScheme = (hashed: string) => /^(\$[^$]{1,20}\$|\{[^}]{1,10}\})/.exec(hashed)?.[1] ?? 'an unknown format';

export class KratosImporter {
  constructor(
    private readonly deps: Deps,
    private readonly adapters: Record<string, CredentialAdapter>,
  ) {}

  async run(source: KratosSource, options: ImportOptions = {}): Promise<ImportSummary> {
    const network = await this.resolveNetwork(source, options.network);
    const total = await source.countIdentities(network);
    const summary: ImportSummary = {
      dryRun: options.dryRun ?? false,
      source: source.description,
      network,
      total,
      imported: 0,
      credentials: { password: 0, totp: 0, lookup_secret: 0 },
      skipped: [],
      failed: [],
      skippedCredentials: [],
      warnings: [],
    };
    options.onStart?.(total);
    // SQLite has one writer (Kysely's driver serialises its one connection), so more would only queue.
    const concurrency = this.deps.storage.dialect === 'sqlite' ? 1 : Math.max(1, options.concurrency ?? DEFAULT_POSTGRES_CONCURRENCY);
    let after: string | null = null;
    let done = 0;
    for (;;) {
      const page = await source.page(network, after, options.pageSize ?? DEFAULT_PAGE_SIZE);
      if (page.length === 0) break;
      const existing = await existingIdentityIds(this.deps.db, page.map((r) => String(r.identity.id).toLowerCase()));
      // Identities are independent (one transaction each), so several run at once where the database allows it.
      let next = 0;
      const worker = async () => {
        while (next < page.length) {
          const record = page[next++]!;
          if (existing.has(String(record.identity.id).toLowerCase())) summary.skipped.push({ id: String(record.identity.id), reason: ALREADY_IMPORTED });
          else await this.importOne(record, summary);
          options.onProgress?.(++done);
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
      after = String(page.at(-1)!.identity.id);
    }
    return summary;
  }

  private async resolveNetwork(source: KratosSource, requested: string | undefined): Promise<string | null> {
    const networks = await source.networks();
    if (requested) {
      if (!networks.includes(requested)) throw new Error(`--network ${requested}: no such network in the Kratos database (it has ${networks.join(', ') || 'none'})`);
      return requested;
    }
    if (networks.length > 1) throw new Error(`the Kratos database has ${networks.length} networks (${networks.join(', ')}); choose one with --network`);
    return networks[0] ?? null;
  }

  private async importOne(record: KratosIdentityRecord, summary: ImportSummary): Promise<void> {
    const id = String(record.identity.id);
    const mapped = planIdentity(record);
    if (!mapped.ok) {
      summary.failed.push({ id, problems: mapped.problems });
      return;
    }
    const plan = mapped.plan;
    const problems = this.check(plan);
    if (problems.length > 0) {
      summary.failed.push({ id, problems });
      return;
    }
    const warnings: string[] = [];
    try {
      await this.deps.identities.inTransaction(this.deps.db, async (trx) => {
        const identity = this.build(plan, warnings);
        await this.deps.identities.create(identity, trx);
        if (plan.totp) await this.adapters.totp!.importCredential!(identity, { totp_url: plan.totp.totpUrl }, trx);
        if (plan.lookupSecret) await this.adapters.lookup_secret!.importCredential!(identity, { recovery_codes: plan.lookupSecret.codes }, trx);
        await this.deps.audit.record(trx, { type: 'identity.created', identityId: identity.id, actor: IMPORT_ACTOR, details: { source: 'kratos', imported_credentials: Object.keys(identity.credentials).sort() } });
        if (summary.dryRun) throw new Rollback();
      });
    } catch (err) {
      if (!(err instanceof Rollback)) {
        summary.failed.push({ id, problems: [describeError(err)] });
        return;
      }
    }
    summary.imported++;
    if (plan.password) summary.credentials.password++;
    if (plan.totp) summary.credentials.totp++;
    if (plan.lookupSecret) summary.credentials.lookup_secret++;
    for (const s of plan.skippedCredentials) summary.skippedCredentials.push({ id, ...s });
    for (const message of warnings) summary.warnings.push({ id, message });
  }

  /** What Kairos's configuration cannot take, found before any write. */
  private check(plan: IdentityPlan): string[] {
    const problems: string[] = [];
    if (!this.deps.schemas.get(plan.schemaId)) problems.push(`schema_id "${plan.schemaId}" is not one of Kairos's identity.schemas`);
    if (plan.password && !PasswordHasher.isSupportedHash(plan.password.hashedPassword)) {
      problems.push(`the password hash (${hashScheme(plan.password.hashedPassword)}) is in a format Kairos cannot verify`);
    }
    if (plan.totp && !this.adapters.totp?.importCredential) problems.push('the identity has TOTP but selfservice.methods.totp is not enabled in the Kairos config');
    if (plan.lookupSecret && !this.adapters.lookup_secret?.importCredential) problems.push('the identity has recovery codes but selfservice.methods.lookup_secret is not enabled in the Kairos config');
    return problems;
  }

  /** The Kairos identity for a plan: Kratos's id, times, states and address ids; addresses derived as Kairos does. */
  private build(plan: IdentityPlan, warnings: string[]): Identity {
    const identity = this.deps.identities.build({
      schemaId: plan.schemaId,
      traits: plan.traits,
      state: plan.state,
      metadataPublic: plan.metadataPublic,
      metadataAdmin: plan.metadataAdmin,
      externalId: plan.externalId,
    });
    const now = this.deps.clock.nowMs();
    identity.id = plan.id;
    identity.createdAtMs = plan.createdAtMs ?? now;
    identity.updatedAtMs = plan.updatedAtMs ?? now;
    identity.stateChangedAtMs = plan.stateChangedAtMs ?? identity.createdAtMs;
    const same = (a: { via: string; value: string }, b: { via: string; value: string }) => a.via === b.via && a.value.toLowerCase() === b.value.toLowerCase();
    for (const kratos of plan.verifiableAddresses) {
      const address = identity.verifiableAddresses.find((a) => same(a, kratos));
      if (!address) {
        warnings.push(`verifiable address ${kratos.via}:${kratos.value} is not derived from the traits by Kairos's schema; not imported`);
        continue;
      }
      address.id = kratos.id;
      address.verified = kratos.verified;
      address.status = kratos.verified ? 'completed' : kratos.status;
      address.verifiedAtMs = kratos.verified ? (kratos.verifiedAtMs ?? now) : null;
      address.createdAtMs = kratos.createdAtMs ?? address.createdAtMs;
    }
    for (const kratos of plan.recoveryAddresses) {
      const address = identity.recoveryAddresses.find((a) => same(a, kratos));
      if (!address) {
        warnings.push(`recovery address ${kratos.via}:${kratos.value} is not derived from the traits by Kairos's schema; not imported`);
        continue;
      }
      address.id = kratos.id;
    }
    if (plan.password) {
      const identifiers = this.deps.identities.facts(identity).passwordIdentifiers;
      identity.credentials.password = this.deps.identities.newCredential('password', { hashed_password: plan.password.hashedPassword }, identifiers);
    }
    return identity;
  }
}

function describeError(err: unknown): string {
  if (err instanceof TraitsInvalidError) return `traits do not match the identity schema: ${err.problems.map((p) => `${p.field ?? 'traits'}: ${p.message.text}`).join('; ')}`;
  if (err instanceof DuplicateIdentifierError) return 'another Kairos identity already has one of its identifiers or addresses';
  if (err instanceof Error && err.name === 'CredentialImportError') return err.message;
  // Database and other unexpected errors: the message only (a driver message never carries secret values here).
  return `could not be stored: ${err instanceof Error ? err.message : String(err)}`;
}
