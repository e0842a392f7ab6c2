import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// The one-statement whoami (session/session-service.ts findCurrent, identity/repository.ts joinedIdentityColumns)
// reads each credential's identifiers by credential_id; the core migration indexed identifiers only by
// (type, identifier), so every whoami and flow step scanned the whole table once per credential and got slower with
// every identity (found by the bench's CPU profile: 40% of whoami's CPU in SQLite's executeQuery at 10,000 identities).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('identity_credential_identifiers_credential_idx').on('identity_credential_identifiers').column('credential_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('identity_credential_identifiers_credential_idx').ifExists().execute();
}
