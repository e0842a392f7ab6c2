import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// Kratos's `is_passwordless` per WebAuthn key (identity.CredentialWebAuthn): with
// `selfservice.methods.webauthn.config.passwordless: true` a security key is a first factor (identifier, then the
// key), and only such keys answer a passwordless sign-in; keys registered as second factors keep 0. Passkeys are
// passwordless by nature (set to 1 when stored).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('webauthn_keys').addColumn('passwordless', 'integer', (c) => c.notNull().defaultTo(0)).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('webauthn_keys').dropColumn('passwordless').execute();
}
