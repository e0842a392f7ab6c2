import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// Recovery (tiers 2 and 3): one-time recovery codes and admin recovery links, stored only as keyed hashes and
// consumed by a conditional UPDATE; MFA reset requests opened when an identity with a second factor recovers.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('recovery_codes')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('identity_id', 'varchar(36)', (c) => c.notNull().references('identities.id').onDelete('cascade'))
    .addColumn('flow_id', 'varchar(36)', (c) => c.notNull())
    // `code` (six digits, typed into the flow) or `link` (a token in an admin recovery link).
    .addColumn('kind', 'varchar(8)', (c) => c.notNull())
    // HMAC-SHA256 under secrets.default of "<flow id>:<code>"; the code itself is never stored.
    .addColumn('code_hash', 'varchar(64)', (c) => c.notNull())
    // The recovery address it was sent to (null when an admin issued it).
    .addColumn('address', 'varchar(400)')
    // `self`, or the admin actor that issued it.
    .addColumn('issued_by', 'varchar(255)', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('recovery_codes_flow_idx').on('recovery_codes').columns(['flow_id', 'code_hash']).execute();
  await db.schema.createIndex('recovery_codes_identity_idx').on('recovery_codes').columns(['identity_id', 'created_at']).execute();

  await db.schema
    .createTable('mfa_reset_requests')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('identity_id', 'varchar(36)', (c) => c.notNull().references('identities.id').onDelete('cascade'))
    // pending → completed | cancelled
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('flow_id', 'varchar(36)')
    // Keyed hash of the token in the cancel link sent to every verified address.
    .addColumn('cancel_token_hash', 'varchar(64)', (c) => c.notNull().unique())
    // The reset may complete without a password from this time on (created_at + mfa_reset_delay).
    .addColumn('not_before', 'bigint', (c) => c.notNull())
    // How it completed: `password` (first factor proven), `delay`, or `admin`.
    .addColumn('completed_via', 'varchar(16)')
    .addColumn('completed_at', 'bigint')
    .addColumn('cancelled_at', 'bigint')
    // After completion the identity must enroll a second factor again; set once it has.
    .addColumn('reenrolled_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('mfa_reset_requests_identity_idx').on('mfa_reset_requests').columns(['identity_id', 'status']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('mfa_reset_requests').ifExists().execute();
  await db.schema.dropTable('recovery_codes').ifExists().execute();
}
