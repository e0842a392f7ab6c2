import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// TOTP rejection diagnosis (mfa/diagnosis) and clock drift (RFC 6238 §6):
// - totp_credentials.drift_steps: the learned centre of the credential's window (steps from the server's step);
// - totp_credentials.recent_offsets: offsets of the last accepted codes ("1,1,0"), from which the drift is learned;
// - totp_credentials.refused_steps: future steps a diagnosis has revealed (never accepted later, see README);
// - totp_previous_secrets: secrets of removed or replaced TOTP credentials, encrypted (AAD bound to the row), kept
//   for `diagnostics.previous_secret_retention` only to recognise codes from an old authenticator entry;
// - totp_offset_samples: the latest offset per identity, feeding the population drift estimate across instances.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('totp_credentials').addColumn('drift_steps', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('totp_credentials').addColumn('recent_offsets', 'varchar(64)', (c) => c.notNull().defaultTo('')).execute();
  await db.schema.alterTable('totp_credentials').addColumn('refused_steps', 'varchar(255)', (c) => c.notNull().defaultTo('')).execute();

  await db.schema
    .createTable('totp_previous_secrets')
    // The removed credential's id: unique, and the cipher's additional data ("totp_previous_secrets/<id>").
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('identity_id', 'varchar(36)', (c) => c.notNull().references('identities.id').onDelete('cascade'))
    .addColumn('secret_ciphertext', 'text', (c) => c.notNull())
    .addColumn('algorithm', 'varchar(8)', (c) => c.notNull())
    .addColumn('digits', 'integer', (c) => c.notNull())
    .addColumn('period_seconds', 'integer', (c) => c.notNull())
    .addColumn('issuer', 'varchar(255)')
    .addColumn('account_name', 'varchar(512)', (c) => c.notNull())
    .addColumn('enrolled_at', 'bigint', (c) => c.notNull())
    .addColumn('retired_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('totp_previous_secrets_identity_idx').on('totp_previous_secrets').columns(['identity_id', 'retired_at']).execute();
  await db.schema.createIndex('totp_previous_secrets_retired_idx').on('totp_previous_secrets').column('retired_at').execute();

  await db.schema
    .createTable('totp_offset_samples')
    .addColumn('identity_id', 'varchar(36)', (c) => c.primaryKey().references('identities.id').onDelete('cascade'))
    .addColumn('offset_steps', 'integer', (c) => c.notNull())
    .addColumn('period_seconds', 'integer', (c) => c.notNull())
    .addColumn('observed_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('totp_offset_samples_observed_idx').on('totp_offset_samples').column('observed_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('totp_offset_samples').ifExists().execute();
  await db.schema.dropTable('totp_previous_secrets').ifExists().execute();
  await db.schema.alterTable('totp_credentials').dropColumn('refused_steps').execute();
  await db.schema.alterTable('totp_credentials').dropColumn('recent_offsets').execute();
  await db.schema.alterTable('totp_credentials').dropColumn('drift_steps').execute();
}
