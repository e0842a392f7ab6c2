import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// Loading an identity reads its verifiable and recovery addresses by identity_id (identity/repository.ts
// loadIdentities); the core migration indexed them only by (via, value), so every whoami, login and second-factor
// step scanned both tables in full and got slower with every identity (found by bench/, issue 8).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('identity_verifiable_addresses_identity_idx').on('identity_verifiable_addresses').column('identity_id').execute();
  await db.schema.createIndex('identity_recovery_addresses_identity_idx').on('identity_recovery_addresses').column('identity_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('identity_recovery_addresses_identity_idx').ifExists().execute();
  await db.schema.dropIndex('identity_verifiable_addresses_identity_idx').ifExists().execute();
}
