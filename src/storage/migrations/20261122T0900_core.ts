import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one. Types are those both dialects share.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('identities')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('schema_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('state', 'varchar(16)', (c) => c.notNull())
    .addColumn('state_changed_at', 'bigint')
    .addColumn('traits', 'text', (c) => c.notNull())
    .addColumn('metadata_public', 'text')
    .addColumn('metadata_admin', 'text')
    .addColumn('external_id', 'varchar(255)', (c) => c.unique())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('identities_created_at_id_idx').on('identities').columns(['created_at', 'id']).execute();

  await db.schema
    .createTable('identity_credentials')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('identity_id', 'varchar(36)', (c) => c.notNull().references('identities.id').onDelete('cascade'))
    .addColumn('type', 'varchar(32)', (c) => c.notNull())
    .addColumn('config', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('identity_credentials_identity_type_uq', ['identity_id', 'type'])
    .execute();

  await db.schema
    .createTable('identity_credential_identifiers')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('identity_id', 'varchar(36)', (c) => c.notNull().references('identities.id').onDelete('cascade'))
    .addColumn('credential_id', 'varchar(36)', (c) => c.notNull().references('identity_credentials.id').onDelete('cascade'))
    .addColumn('type', 'varchar(32)', (c) => c.notNull())
    .addColumn('identifier', 'varchar(512)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('identity_credential_identifiers_type_identifier_uq', ['type', 'identifier'])
    .execute();
  await db.schema
    .createIndex('identity_credential_identifiers_identity_idx')
    .on('identity_credential_identifiers')
    .column('identity_id')
    .execute();

  await db.schema
    .createTable('identity_verifiable_addresses')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('identity_id', 'varchar(36)', (c) => c.notNull().references('identities.id').onDelete('cascade'))
    .addColumn('value', 'varchar(400)', (c) => c.notNull())
    .addColumn('via', 'varchar(16)', (c) => c.notNull())
    .addColumn('verified', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('verified_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('identity_verifiable_addresses_uq', ['identity_id', 'via', 'value'])
    .execute();
  await db.schema
    .createIndex('identity_verifiable_addresses_value_idx')
    .on('identity_verifiable_addresses')
    .columns(['via', 'value'])
    .execute();

  await db.schema
    .createTable('identity_recovery_addresses')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('identity_id', 'varchar(36)', (c) => c.notNull().references('identities.id').onDelete('cascade'))
    .addColumn('value', 'varchar(400)', (c) => c.notNull())
    .addColumn('via', 'varchar(16)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('identity_recovery_addresses_uq', ['via', 'value'])
    .execute();

  await db.schema
    .createTable('sessions')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('identity_id', 'varchar(36)', (c) => c.notNull().references('identities.id').onDelete('cascade'))
    .addColumn('token_hash', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('logout_token_hash', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('active', 'integer', (c) => c.notNull())
    .addColumn('issued_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('authenticated_at', 'bigint', (c) => c.notNull())
    .addColumn('amr', 'text', (c) => c.notNull())
    .addColumn('ip_address', 'varchar(64)')
    .addColumn('user_agent', 'varchar(512)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('sessions_identity_idx').on('sessions').column('identity_id').execute();

  await db.schema
    .createTable('selfservice_flows')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('kind', 'varchar(16)', (c) => c.notNull())
    .addColumn('type', 'varchar(8)', (c) => c.notNull())
    .addColumn('state', 'varchar(32)', (c) => c.notNull())
    .addColumn('identity_id', 'varchar(36)', (c) => c.references('identities.id').onDelete('cascade'))
    .addColumn('session_id', 'varchar(36)')
    .addColumn('request_url', 'text', (c) => c.notNull())
    .addColumn('return_to', 'text')
    .addColumn('requested_aal', 'varchar(8)')
    .addColumn('refresh', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('failed_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('active', 'varchar(32)')
    .addColumn('ui', 'text', (c) => c.notNull())
    .addColumn('internal', 'text', (c) => c.notNull())
    .addColumn('issued_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('selfservice_flows_expires_idx').on('selfservice_flows').column('expires_at').execute();

  await db.schema
    .createTable('selfservice_errors')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('error', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'selfservice_errors',
    'selfservice_flows',
    'sessions',
    'identity_recovery_addresses',
    'identity_verifiable_addresses',
    'identity_credential_identifiers',
    'identity_credentials',
    'identities',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
