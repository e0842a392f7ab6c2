import { createHash } from 'node:crypto';
import type { Db } from '../storage/db.js';
import type { Credential, Identity, RecoveryAddress, VerifiableAddress } from './identity.js';

export type { Db };

const parse = (text: string | null): unknown => (text === null ? null : JSON.parse(text));
const json = (value: unknown): string | null => (value === null || value === undefined ? null : JSON.stringify(value));

/** Loads identities with their credentials and addresses in four queries, whatever the number of identities. */
export async function loadIdentities(db: Db, ids: string[]): Promise<Identity[]> {
  if (ids.length === 0) return [];
  const [rows, credentials, identifiers, verifiable, recovery] = await Promise.all([
    db.selectFrom('identities').selectAll().where('id', 'in', ids).execute(),
    db.selectFrom('identity_credentials').selectAll().where('identity_id', 'in', ids).execute(),
    db.selectFrom('identity_credential_identifiers').selectAll().where('identity_id', 'in', ids).execute(),
    db.selectFrom('identity_verifiable_addresses').selectAll().where('identity_id', 'in', ids).orderBy('created_at').execute(),
    db.selectFrom('identity_recovery_addresses').selectAll().where('identity_id', 'in', ids).orderBy('created_at').execute(),
  ]);
  const byId = new Map<string, Identity>();
  for (const row of rows) {
    byId.set(row.id, {
      id: row.id,
      schemaId: row.schema_id,
      state: row.state,
      stateChangedAtMs: row.state_changed_at,
      traits: JSON.parse(row.traits),
      metadataPublic: parse(row.metadata_public),
      metadataAdmin: parse(row.metadata_admin),
      externalId: row.external_id,
      createdAtMs: row.created_at,
      updatedAtMs: row.updated_at,
      credentials: {},
      verifiableAddresses: [],
      recoveryAddresses: [],
    });
  }
  for (const c of credentials) {
    const identity = byId.get(c.identity_id);
    if (!identity) continue;
    identity.credentials[c.type] = {
      id: c.id,
      type: c.type,
      identifiers: identifiers.filter((i) => i.credential_id === c.id).map((i) => i.identifier),
      config: JSON.parse(c.config),
      version: c.version,
      createdAtMs: c.created_at,
      updatedAtMs: c.updated_at,
    };
  }
  for (const a of verifiable) {
    byId.get(a.identity_id)?.verifiableAddresses.push({
      id: a.id,
      value: a.value,
      via: a.via,
      verified: a.verified === 1,
      status: a.status,
      verifiedAtMs: a.verified_at,
      createdAtMs: a.created_at,
      updatedAtMs: a.updated_at,
    });
  }
  for (const a of recovery) {
    byId.get(a.identity_id)?.recoveryAddresses.push({
      id: a.id,
      value: a.value,
      via: a.via,
      createdAtMs: a.created_at,
      updatedAtMs: a.updated_at,
    });
  }
  return ids.map((id) => byId.get(id)).filter((i): i is Identity => i !== undefined);
}

export async function findIdentity(db: Db, id: string): Promise<Identity | null> {
  return (await loadIdentities(db, [id]))[0] ?? null;
}

export async function findIdentityIdByIdentifier(db: Db, type: string, identifier: string): Promise<string | null> {
  const row = await db
    .selectFrom('identity_credential_identifiers')
    .select('identity_id')
    .where('type', '=', type)
    .where('identifier', '=', identifier)
    .executeTakeFirst();
  return row?.identity_id ?? null;
}

export async function insertIdentityRow(db: Db, identity: Identity): Promise<void> {
  await db
    .insertInto('identities')
    .values({
      id: identity.id,
      schema_id: identity.schemaId,
      state: identity.state,
      state_changed_at: identity.stateChangedAtMs,
      traits: JSON.stringify(identity.traits),
      metadata_public: json(identity.metadataPublic),
      metadata_admin: json(identity.metadataAdmin),
      external_id: identity.externalId,
      created_at: identity.createdAtMs,
      updated_at: identity.updatedAtMs,
    })
    .execute();
}

export async function updateIdentityRow(db: Db, identity: Identity): Promise<void> {
  await db
    .updateTable('identities')
    .set({
      schema_id: identity.schemaId,
      state: identity.state,
      state_changed_at: identity.stateChangedAtMs,
      traits: JSON.stringify(identity.traits),
      metadata_public: json(identity.metadataPublic),
      metadata_admin: json(identity.metadataAdmin),
      external_id: identity.externalId,
      updated_at: identity.updatedAtMs,
    })
    .where('id', '=', identity.id)
    .execute();
}

/** Writes one credential (config and identifiers) replacing what the identity had of that type. */
export async function upsertCredential(db: Db, identityId: string, credential: Credential): Promise<void> {
  await db.deleteFrom('identity_credentials').where('identity_id', '=', identityId).where('type', '=', credential.type).execute();
  await insertCredential(db, identityId, credential);
}

/**
 * Writes one credential that the identity must not have yet: the unique (identity, type) constraint makes a
 * concurrent second insert fail instead of replacing the first (callers map the unique violation).
 */
export async function insertCredential(db: Db, identityId: string, credential: Credential): Promise<void> {
  const identifierId = (index: number) => {
    // Deterministic per credential and position, and a valid 36-character id on every dialect.
    const hex = createHash('sha256').update(`${credential.id}/${index}`).digest('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  };
  await db
    .insertInto('identity_credentials')
    .values({
      id: credential.id,
      identity_id: identityId,
      type: credential.type,
      config: JSON.stringify(credential.config),
      version: credential.version,
      created_at: credential.createdAtMs,
      updated_at: credential.updatedAtMs,
    })
    .execute();
  if (credential.identifiers.length > 0) {
    await db
      .insertInto('identity_credential_identifiers')
      .values(
        credential.identifiers.map((identifier, index) => ({
          id: identifierId(index),
          identity_id: identityId,
          credential_id: credential.id,
          type: credential.type,
          identifier,
          created_at: credential.updatedAtMs,
        })),
      )
      .execute();
  }
}

export async function deleteCredential(db: Db, identityId: string, type: string): Promise<number> {
  const result = await db
    .deleteFrom('identity_credentials')
    .where('identity_id', '=', identityId)
    .where('type', '=', type)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

export async function replaceAddresses(
  db: Db,
  identityId: string,
  verifiable: VerifiableAddress[],
  recovery: RecoveryAddress[],
): Promise<void> {
  await db.deleteFrom('identity_verifiable_addresses').where('identity_id', '=', identityId).execute();
  await db.deleteFrom('identity_recovery_addresses').where('identity_id', '=', identityId).execute();
  if (verifiable.length > 0) {
    await db
      .insertInto('identity_verifiable_addresses')
      .values(
        verifiable.map((a) => ({
          id: a.id,
          identity_id: identityId,
          value: a.value,
          via: a.via,
          verified: a.verified ? 1 : 0,
          status: a.status,
          verified_at: a.verifiedAtMs,
          created_at: a.createdAtMs,
          updated_at: a.updatedAtMs,
        })),
      )
      .execute();
  }
  if (recovery.length > 0) {
    await db
      .insertInto('identity_recovery_addresses')
      .values(
        recovery.map((a) => ({
          id: a.id,
          identity_id: identityId,
          value: a.value,
          via: a.via,
          created_at: a.createdAtMs,
          updated_at: a.updatedAtMs,
        })),
      )
      .execute();
  }
}

export interface IdentityPageCursor {
  createdAtMs: number;
  id: string;
}

export async function listIdentityIds(
  db: Db,
  options: { pageSize: number; after: IdentityPageCursor | null; identifier?: string; ids?: string[] },
): Promise<string[]> {
  let query = db.selectFrom('identities').select(['identities.id', 'identities.created_at']);
  if (options.identifier !== undefined) {
    query = query.where('identities.id', 'in', (qb) =>
      qb.selectFrom('identity_credential_identifiers').select('identity_id').where('identifier', '=', options.identifier!),
    );
  }
  if (options.ids) query = query.where('identities.id', 'in', options.ids.length ? options.ids : ['']);
  if (options.after) {
    const { createdAtMs, id } = options.after;
    query = query.where((eb) =>
      eb.or([eb('identities.created_at', '>', createdAtMs), eb.and([eb('identities.created_at', '=', createdAtMs), eb('identities.id', '>', id)])]),
    );
  }
  const rows = await query.orderBy('identities.created_at').orderBy('identities.id').limit(options.pageSize).execute();
  return rows.map((r) => r.id);
}

export async function deleteIdentity(db: Db, id: string): Promise<boolean> {
  const result = await db.deleteFrom('identities').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
