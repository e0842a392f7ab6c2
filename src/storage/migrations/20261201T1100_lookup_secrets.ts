import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// Recovery codes (lookup_secret): one row per code, stored only as a keyed hash (HMAC-SHA256 under secrets.default),
// never in clear and never reversibly encrypted. `used_at` is set once by a conditional UPDATE (single use).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('lookup_secret_codes')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('credential_id', 'varchar(36)', (c) => c.notNull().references('identity_credentials.id').onDelete('cascade'))
    .addColumn('identity_id', 'varchar(36)', (c) => c.notNull())
    // 1-based position in the set as it was shown, so "code 3 was used at …" can be told without the code.
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('code_hash', 'varchar(64)', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('lookup_secret_codes_credential_hash_uq', ['credential_id', 'code_hash'])
    .execute();
  // A login looks a code up by (identity, hash): one index probe, whatever the number of codes.
  await db.schema.createIndex('lookup_secret_codes_identity_hash_idx').on('lookup_secret_codes').columns(['identity_id', 'code_hash']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('lookup_secret_codes').ifExists().execute();
}
