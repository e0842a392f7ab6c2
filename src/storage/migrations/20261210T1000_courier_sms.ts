import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// Text messages (SMS) in the outbox (issue 15): `courier_messages.type` is now 'email' or 'sms', and an SMS keeps
// the data its HTTP channel hands the provider's Jsonnet template (Kratos's `ctx.template_data`): JSON, encrypted
// like the body when the message carries a code, wiped with it after delivery.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('courier_messages').addColumn('template_data', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('courier_messages').dropColumn('template_data').execute();
}
