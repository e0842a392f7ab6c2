import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// One row per identity that has ever failed a second factor (mfa/attempts). Counters are updated by single
// conditional UPDATE statements so they hold across instances sharing the database.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('mfa_lockouts')
    .addColumn('identity_id', 'varchar(36)', (c) => c.primaryKey().references('identities.id').onDelete('cascade'))
    // Consecutive wrong second-factor codes, any method; reset by a success, an admin unlock or account recovery.
    .addColumn('consecutive_failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_failure_at', 'bigint')
    // No second-factor submission is checked before this time (the increasing delay).
    .addColumn('next_attempt_at', 'bigint')
    // Set at the hard limit (NIST SP 800-63B §5.2.2); only recovery or an admin clears it.
    .addColumn('locked_at', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('mfa_lockouts').ifExists().execute();
}
