import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// The one-statement session lookup (session/session-service.ts findCurrent, identity/repository.ts
// joinedIdentityColumns) lists an identity's credentials, identifiers, addresses and TOTP row in creation order.
// Indexes on the owner alone made SQLite sort each list in a temporary B-tree on every whoami and flow step; these
// serve the lookup and the order together (about a sixth of the statement's time, issue 12). They replace the
// single-column indexes on the same leading column.
const INDEXES = [
  { name: 'identity_credentials_identity_created_idx', table: 'identity_credentials', columns: ['identity_id', 'created_at'] },
  { name: 'identity_credential_identifiers_credential_created_idx', table: 'identity_credential_identifiers', columns: ['credential_id', 'created_at', 'identifier'] },
  { name: 'identity_verifiable_addresses_identity_created_idx', table: 'identity_verifiable_addresses', columns: ['identity_id', 'created_at'] },
  { name: 'identity_recovery_addresses_identity_created_idx', table: 'identity_recovery_addresses', columns: ['identity_id', 'created_at'] },
  { name: 'totp_credentials_identity_created_idx', table: 'totp_credentials', columns: ['identity_id', 'created_at'] },
] as const;

/** Single-column indexes the new ones make redundant (a composite index serves lookups by its leading column). */
const REPLACED = [
  { name: 'identity_credential_identifiers_credential_idx', table: 'identity_credential_identifiers', columns: ['credential_id'] },
  { name: 'identity_verifiable_addresses_identity_idx', table: 'identity_verifiable_addresses', columns: ['identity_id'] },
  { name: 'identity_recovery_addresses_identity_idx', table: 'identity_recovery_addresses', columns: ['identity_id'] },
  { name: 'totp_credentials_identity_idx', table: 'totp_credentials', columns: ['identity_id'] },
] as const;

export async function up(db: Kysely<any>): Promise<void> {
  for (const index of INDEXES) await db.schema.createIndex(index.name).ifNotExists().on(index.table).columns([...index.columns]).execute();
  for (const index of REPLACED) await db.schema.dropIndex(index.name).ifExists().execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const index of REPLACED) await db.schema.createIndex(index.name).ifNotExists().on(index.table).columns([...index.columns]).execute();
  for (const index of INDEXES) await db.schema.dropIndex(index.name).ifExists().execute();
}
