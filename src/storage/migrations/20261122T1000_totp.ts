import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// One row per TOTP credential. The secret is encrypted (SecretCipher, AAD = credential id); the parameters are the
// credential's own, so a later change of the configured defaults never breaks an enrolled authenticator.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('totp_credentials')
    .addColumn('credential_id', 'varchar(36)', (c) => c.primaryKey().references('identity_credentials.id').onDelete('cascade'))
    .addColumn('identity_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('secret_ciphertext', 'text', (c) => c.notNull())
    .addColumn('algorithm', 'varchar(8)', (c) => c.notNull())
    .addColumn('digits', 'integer', (c) => c.notNull())
    .addColumn('period_seconds', 'integer', (c) => c.notNull())
    .addColumn('issuer', 'varchar(255)')
    .addColumn('account_name', 'varchar(512)', (c) => c.notNull())
    // RFC 6238 §5.2: the last accepted time step; a code for this step or an earlier one is refused (replay).
    .addColumn('last_used_step', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('totp_credentials_identity_idx').on('totp_credentials').column('identity_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('totp_credentials').ifExists().execute();
}
