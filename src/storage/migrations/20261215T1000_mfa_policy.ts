import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// MFA policy by role (mfa/policy): when each rule first applied to each identity (its enrollment grace runs from
// there), and the browsers remembered after a second factor. Both go with their identity.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('mfa_policy_states')
    .addColumn('identity_id', 'varchar(36)', (c) => c.notNull().references('identities.id').onDelete('cascade'))
    // The rule's id in selfservice.mfa (a renamed rule starts afresh: ids name rules).
    .addColumn('rule_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('first_applied_at', 'bigint', (c) => c.notNull())
    // First-factor sign-ins under this rule since it first applied (a grace may count sign-ins).
    .addColumn('login_count', 'integer', (c) => c.notNull().defaultTo(0))
    // The last decision recorded for a session use (whoami), so a refusal is audited once per change, not per call.
    .addColumn('last_decision', 'varchar(32)')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('mfa_policy_states_pk', ['identity_id', 'rule_id'])
    .execute();

  await db.schema
    .createTable('mfa_remembered_devices')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('identity_id', 'varchar(36)', (c) => c.notNull().references('identities.id').onDelete('cascade'))
    // HMAC-SHA256 of the cookie's token under secrets.default; the token itself is never stored.
    .addColumn('token_hash', 'varchar(64)', (c) => c.notNull().unique())
    // The second factor completed when the browser was remembered: the device skips only while it is still enrolled.
    .addColumn('method', 'varchar(32)', (c) => c.notNull())
    .addColumn('rule_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('user_agent', 'varchar(512)')
    .addColumn('ip_address', 'varchar(64)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('last_used_at', 'bigint')
    .addColumn('revoked_at', 'bigint')
    .addColumn('revoked_reason', 'varchar(32)')
    .execute();
  await db.schema.createIndex('mfa_remembered_devices_identity_idx').on('mfa_remembered_devices').columns(['identity_id', 'revoked_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('mfa_remembered_devices').ifExists().execute();
  await db.schema.dropTable('mfa_policy_states').ifExists().execute();
}
