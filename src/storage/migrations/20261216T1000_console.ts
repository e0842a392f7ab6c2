import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// The operator console (src/console): its sign-in hand-offs, its own sessions (separate from the user-facing
// ones, bound to the Kairos session they came from), and four-eyes approvals of privileged actions.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('console_sign_ins')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    // HMAC of the state kept in the console's pre-sign-in cookie; the state itself is never stored.
    .addColumn('state_hash', 'varchar(64)', (c) => c.notNull().unique())
    // HMAC of the one-time hand-off code the public listener returns to the console; null until then.
    .addColumn('code_hash', 'varchar(64)')
    .addColumn('identity_id', 'varchar(36)')
    .addColumn('session_id', 'varchar(36)')
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('console_sign_ins_code_idx').on('console_sign_ins').column('code_hash').execute();

  await db.schema
    .createTable('console_sessions')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('token_hash', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('operator_id', 'varchar(36)', (c) => c.notNull().references('identities.id').onDelete('cascade'))
    // The Kairos session (aal2) it was exchanged for: revoking that one ends this one.
    .addColumn('kairos_session_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .execute();
  await db.schema.createIndex('console_sessions_operator_idx').on('console_sessions').column('operator_id').execute();

  await db.schema
    .createTable('console_approvals')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('identity_id', 'varchar(36)', (c) => c.notNull().references('identities.id').onDelete('cascade'))
    .addColumn('action', 'varchar(64)', (c) => c.notNull())
    // JSON: the action's parameters and the verification checklist; never a secret.
    .addColumn('params', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('requested_by', 'varchar(36)', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('decided_by', 'varchar(36)')
    .addColumn('decision_reason', 'text')
    .addColumn('decided_at', 'bigint')
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('console_approvals_status_idx').on('console_approvals').columns(['status', 'created_at']).execute();
  await db.schema.createIndex('console_approvals_identity_idx').on('console_approvals').columns(['identity_id', 'status']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('console_approvals').ifExists().execute();
  await db.schema.dropTable('console_sessions').ifExists().execute();
  await db.schema.dropTable('console_sign_ins').ifExists().execute();
}
