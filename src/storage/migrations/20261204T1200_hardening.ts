import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// Issue 14 (hardening):
// - rate_limit_counters: the fixed-window counters of the per-IP and per-identity request limits
//   (http/plugins/rate-limit-store.ts), in the database every instance shares, so N instances enforce one limit.
// - one_time_codes.client_key / owner_request: mail quotas count per requesting client as well as per address, and
//   keep a reserve for requests the address's owner makes (credentials/code/one-time-codes.ts).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('rate_limit_counters')
    .addColumn('key', 'varchar(512)', (c) => c.primaryKey())
    .addColumn('hits', 'integer', (c) => c.notNull())
    .addColumn('window_ends_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('rate_limit_counters_window_idx').on('rate_limit_counters').column('window_ends_at').execute();
  await db.schema.alterTable('one_time_codes').addColumn('client_key', 'varchar(64)').execute();
  await db.schema.alterTable('one_time_codes').addColumn('owner_request', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.createIndex('one_time_codes_client_idx').on('one_time_codes').columns(['client_key', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('one_time_codes_client_idx').ifExists().execute();
  await db.schema.alterTable('one_time_codes').dropColumn('owner_request').execute();
  await db.schema.alterTable('one_time_codes').dropColumn('client_key').execute();
  await db.schema.dropTable('rate_limit_counters').ifExists().execute();
}
