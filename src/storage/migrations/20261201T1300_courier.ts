import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// - courier_messages: the outbox (courier/). A message is written in the transaction of the action that causes it
//   and delivered later by any courier worker; `claimed_until` is the lease that lets several workers share it.
// - courier_message_dispatches: one row per delivery attempt (Kratos's `dispatches`).
// - one_time_codes: six-digit email codes (credentials/code/), stored as keyed hashes, single use by a conditional
//   UPDATE, with their own attempt counter.
// - identity_secondary_recovery_addresses: recovery addresses a user adds in settings (Kairos); they count for
//   recovery only once verified (`verified_value` is set then, and is unique, so one verified owner per address).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('courier_messages')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('type', 'varchar(16)', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('template_type', 'varchar(64)', (c) => c.notNull())
    .addColumn('recipient', 'varchar(400)', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    // Plain text, or a SecretCipher token (AAD = message id) when body_encrypted = 1.
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('html_body', 'text', (c) => c.notNull())
    .addColumn('body_encrypted', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('carries_secret', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('identity_id', 'varchar(36)')
    .addColumn('send_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('claimed_until', 'bigint')
    .addColumn('claim_token', 'varchar(36)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('courier_messages_due_idx').on('courier_messages').columns(['status', 'next_attempt_at']).execute();
  await db.schema.createIndex('courier_messages_created_idx').on('courier_messages').columns(['created_at', 'id']).execute();

  await db.schema
    .createTable('courier_message_dispatches')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('message_id', 'varchar(36)', (c) => c.notNull().references('courier_messages.id').onDelete('cascade'))
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('courier_message_dispatches_message_idx').on('courier_message_dispatches').column('message_id').execute();

  await db.schema
    .createTable('one_time_codes')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('purpose', 'varchar(32)', (c) => c.notNull())
    .addColumn('flow_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('identity_id', 'varchar(36)')
    .addColumn('address', 'varchar(400)', (c) => c.notNull())
    .addColumn('code_hash', 'varchar(64)', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('max_attempts', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .addColumn('revoked_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('one_time_codes_flow_idx').on('one_time_codes').columns(['flow_id', 'purpose']).execute();
  await db.schema.createIndex('one_time_codes_address_idx').on('one_time_codes').columns(['address', 'created_at']).execute();

  await db.schema
    .createTable('identity_secondary_recovery_addresses')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('identity_id', 'varchar(36)', (c) => c.notNull().references('identities.id').onDelete('cascade'))
    .addColumn('value', 'varchar(400)', (c) => c.notNull())
    .addColumn('via', 'varchar(16)', (c) => c.notNull())
    .addColumn('verified', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('verified_value', 'varchar(400)', (c) => c.unique())
    .addColumn('verified_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('identity_secondary_recovery_addresses_uq', ['identity_id', 'via', 'value'])
    .execute();
  await db.schema
    .createIndex('identity_secondary_recovery_addresses_value_idx')
    .on('identity_secondary_recovery_addresses')
    .columns(['via', 'value'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['identity_secondary_recovery_addresses', 'one_time_codes', 'courier_message_dispatches', 'courier_messages']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
