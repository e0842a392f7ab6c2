import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// WebAuthn keys (security keys as a second factor: method `webauthn`; discoverable credentials: method `passkey`).
// One identity_credentials row per method and identity (Kratos's shape), and one row here per key under it. A key's
// public key is not a secret (it only verifies); nothing here can sign in by itself.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('webauthn_keys')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('credential_id', 'varchar(36)', (c) => c.notNull().references('identity_credentials.id').onDelete('cascade'))
    .addColumn('identity_id', 'varchar(36)', (c) => c.notNull())
    // `webauthn` or `passkey`: the method the key was registered with.
    .addColumn('method', 'varchar(16)', (c) => c.notNull())
    // The authenticator's credential id, base64url (WebAuthn Level 2 §4 "Credential ID", at most 1023 bytes).
    .addColumn('key_id', 'varchar(1400)', (c) => c.notNull())
    // COSE_Key (RFC 8152 §7), base64url.
    .addColumn('public_key', 'text', (c) => c.notNull())
    // WebAuthn Level 2 §6.1.1 signature counter: an assertion with a counter not above it means a cloned key.
    .addColumn('sign_count', 'bigint', (c) => c.notNull())
    .addColumn('transports', 'text', (c) => c.notNull())
    .addColumn('aaguid', 'varchar(36)', (c) => c.notNull())
    .addColumn('attestation_format', 'varchar(32)', (c) => c.notNull())
    .addColumn('user_handle', 'varchar(128)', (c) => c.notNull())
    // The RP ID the key is scoped to: a key answers only for this id (a later rp.id change strands it).
    .addColumn('rp_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('user_verified', 'integer', (c) => c.notNull())
    .addColumn('backup_eligible', 'integer', (c) => c.notNull())
    .addColumn('backed_up', 'integer', (c) => c.notNull())
    .addColumn('display_name', 'varchar(64)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_used_at', 'bigint')
    .addUniqueConstraint('webauthn_keys_method_key_uq', ['method', 'key_id'])
    .execute();
  await db.schema.createIndex('webauthn_keys_identity_idx').on('webauthn_keys').columns(['identity_id', 'method']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('webauthn_keys').ifExists().execute();
}
