import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { dialectOfDb, type Db } from '../storage/db.js';
import { prepareQuery } from '../storage/prepared.js';
import type { Credential, Identity, RecoveryAddress, VerifiableAddress } from './identity.js';

export type { Db };

const parse = (text: string | null): unknown => (text === null ? null : JSON.parse(text));
const json = (value: unknown): string | null => (value === null || value === undefined ? null : JSON.stringify(value));

/** Loads identities with their credentials and addresses in four queries, whatever the number of identities. */
export async function loadIdentities(db: Db, ids: string[]): Promise<Identity[]> {
  if (ids.length === 0) return [];
  // One after another: inside a step's transaction they share one connection, where pg would only queue them (and
  // warns "client is already executing a query", an error in pg 9).
  const rows = await db.selectFrom('identities').selectAll().where('id', 'in', ids).execute();
  const credentials = await db.selectFrom('identity_credentials').selectAll().where('identity_id', 'in', ids).execute();
  const identifiers = await db.selectFrom('identity_credential_identifiers').selectAll().where('identity_id', 'in', ids).execute();
  const verifiable = await db.selectFrom('identity_verifiable_addresses').selectAll().where('identity_id', 'in', ids).orderBy('created_at').execute();
  const recovery = await db.selectFrom('identity_recovery_addresses').selectAll().where('identity_id', 'in', ids).orderBy('created_at').execute();
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

/** The identity `id` with its credentials and addresses, in one statement (`joinedIdentityColumns`). */
export async function findIdentity(db: Db, id: string): Promise<Identity | null> {
  const row = await identityById.takeFirst(db, { id });
  return row ? identityFromJoinedRow(row as Record<string, unknown>) : null;
}

/**
 * The identity that a credential of `type` names by `identifier` (exact match), whole, in one statement: a sign-in
 * reads the person it checks with a single round trip.
 */
export async function findIdentityByIdentifier(db: Db, type: string, identifier: string): Promise<Identity | null> {
  const row = await identityByIdentifier.takeFirst(db, { type, identifier });
  return row ? identityFromJoinedRow(row as Record<string, unknown>) : null;
}

const identityById = prepareQuery(
  (db, p: { id: string }) =>
    db
      .selectFrom('identities as i')
      .select([...JOINED_IDENTITY_ROW_COLUMNS])
      .select(joinedIdentityColumns(dialectOfDb(db)))
      .where('i.id', '=', p.id),
  ['id'],
);

const identityByIdentifier = prepareQuery(
  (db, p: { type: string; identifier: string }) =>
    db
      .selectFrom('identities as i')
      .select([...JOINED_IDENTITY_ROW_COLUMNS])
      .select(joinedIdentityColumns(dialectOfDb(db)))
      .where('i.id', 'in', (eb) => eb.selectFrom('identity_credential_identifiers').select('identity_id').where('type', '=', p.type).where('identifier', '=', p.identifier)),
  ['type', 'identifier'],
);

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

/** An identifier row's id: deterministic per credential and position, and a valid 36-character id on every dialect. */
function identifierIdOf(credentialId: string, index: number): string {
  const hex = createHash('sha256').update(`${credentialId}/${index}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * Writes one credential that the identity must not have yet: the unique (identity, type) constraint makes a
 * concurrent second insert fail instead of replacing the first (callers map the unique violation).
 */
export async function insertCredential(db: Db, identityId: string, credential: Credential): Promise<void> {
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
  await insertIdentifiers(db, identityId, credential);
}

/** Rewrites a stored credential's identifiers only (its row, and the rows referring to it, stay). */
export async function replaceCredentialIdentifiers(db: Db, identityId: string, credential: Credential): Promise<void> {
  await db.deleteFrom('identity_credential_identifiers').where('credential_id', '=', credential.id).execute();
  await insertIdentifiers(db, identityId, credential);
}

/** The credential's identifier rows (ids derived from the credential and position: `identifierIdOf`). */
async function insertIdentifiers(db: Db, identityId: string, credential: Credential): Promise<void> {
  if (credential.identifiers.length === 0) return;
  await db
    .insertInto('identity_credential_identifiers')
    .values(
      credential.identifiers.map((identifier, index) => ({
        id: identifierIdOf(credential.id, index),
        identity_id: identityId,
        credential_id: credential.id,
        type: credential.type,
        identifier,
        created_at: credential.updatedAtMs,
      })),
    )
    .execute();
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
  await insertAddresses(db, identityId, verifiable, recovery);
}

/** Writes the addresses of an identity that has none stored yet (a new one). */
export async function insertAddresses(db: Db, identityId: string, verifiable: VerifiableAddress[], recovery: RecoveryAddress[]): Promise<void> {
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

/**
 * The identity of a row joined as `i` (identities), with its credentials and addresses aggregated as JSON by
 * correlated subqueries, so a caller that joins `identities i` (e.g. a session lookup) loads a whole identity in its
 * own single statement. The JSON functions differ per dialect (SQLite json1, PostgreSQL json_agg); the result is
 * the same. Column aliases: `i_*`, `credentials_json`, `verifiable_json`, `recovery_json`.
 */
export function joinedIdentityColumns(dialect: 'sqlite' | 'postgres') {
  if (dialect === 'postgres') {
    return [
      sql<unknown>`(select coalesce(json_agg(json_build_object('id', c.id, 'type', c.type, 'config', c.config, 'version', c.version, 'created_at', c.created_at, 'updated_at', c.updated_at, 'identifiers', (select coalesce(json_agg(x.identifier order by x.created_at, x.identifier), '[]'::json) from identity_credential_identifiers x where x.credential_id = c.id)) order by c.created_at), '[]'::json) from identity_credentials c where c.identity_id = i.id)`.as('credentials_json'),
      sql<unknown>`(select coalesce(json_agg(json_build_object('id', a.id, 'value', a.value, 'via', a.via, 'verified', a.verified, 'status', a.status, 'verified_at', a.verified_at, 'created_at', a.created_at, 'updated_at', a.updated_at) order by a.created_at), '[]'::json) from identity_verifiable_addresses a where a.identity_id = i.id)`.as('verifiable_json'),
      sql<unknown>`(select coalesce(json_agg(json_build_object('id', r.id, 'value', r.value, 'via', r.via, 'created_at', r.created_at, 'updated_at', r.updated_at) order by r.created_at), '[]'::json) from identity_recovery_addresses r where r.identity_id = i.id)`.as('recovery_json'),
    ];
  }
  return [
    sql<unknown>`(select json_group_array(json_object('id', c.id, 'type', c.type, 'config', c.config, 'version', c.version, 'created_at', c.created_at, 'updated_at', c.updated_at, 'identifiers', json((select json_group_array(identifier) from (select x.identifier from identity_credential_identifiers x where x.credential_id = c.id order by x.created_at, x.identifier))))) from (select * from identity_credentials c0 where c0.identity_id = i.id order by c0.created_at) c)`.as('credentials_json'),
    sql<unknown>`(select json_group_array(json_object('id', a.id, 'value', a.value, 'via', a.via, 'verified', a.verified, 'status', a.status, 'verified_at', a.verified_at, 'created_at', a.created_at, 'updated_at', a.updated_at)) from (select * from identity_verifiable_addresses a0 where a0.identity_id = i.id order by a0.created_at) a)`.as('verifiable_json'),
    sql<unknown>`(select json_group_array(json_object('id', r.id, 'value', r.value, 'via', r.via, 'created_at', r.created_at, 'updated_at', r.updated_at)) from (select * from identity_recovery_addresses r0 where r0.identity_id = i.id order by r0.created_at) r)`.as('recovery_json'),
  ];
}

interface JoinedCredential {
  id: string;
  type: string;
  config: string;
  version: number;
  created_at: number;
  updated_at: number;
  identifiers: string[];
}

const jsonValue = <T>(value: unknown): T => (typeof value === 'string' ? JSON.parse(value) : value) as T;

/** The identity from a row selected with `i_*` identity columns and `joinedIdentityColumns`. */
export function identityFromJoinedRow(row: Record<string, unknown>): Identity {
  const identity: Identity = {
    id: row.i_id as string,
    schemaId: row.i_schema_id as string,
    state: row.i_state as Identity['state'],
    stateChangedAtMs: row.i_state_changed_at === null ? null : Number(row.i_state_changed_at),
    traits: JSON.parse(row.i_traits as string),
    metadataPublic: parse(row.i_metadata_public as string | null),
    metadataAdmin: parse(row.i_metadata_admin as string | null),
    externalId: row.i_external_id as string | null,
    createdAtMs: Number(row.i_created_at),
    updatedAtMs: Number(row.i_updated_at),
    credentials: {},
    verifiableAddresses: [],
    recoveryAddresses: [],
  };
  for (const c of jsonValue<JoinedCredential[]>(row.credentials_json)) {
    identity.credentials[c.type] = {
      id: c.id,
      type: c.type,
      identifiers: c.identifiers,
      config: JSON.parse(c.config),
      version: Number(c.version),
      createdAtMs: Number(c.created_at),
      updatedAtMs: Number(c.updated_at),
    };
  }
  for (const a of jsonValue<Record<string, unknown>[]>(row.verifiable_json)) {
    identity.verifiableAddresses.push({
      id: a.id as string,
      value: a.value as string,
      via: a.via as string,
      verified: Number(a.verified) === 1,
      status: a.status as VerifiableAddress['status'],
      verifiedAtMs: a.verified_at === null ? null : Number(a.verified_at),
      createdAtMs: Number(a.created_at),
      updatedAtMs: Number(a.updated_at),
    });
  }
  for (const a of jsonValue<Record<string, unknown>[]>(row.recovery_json)) {
    identity.recoveryAddresses.push({ id: a.id as string, value: a.value as string, via: a.via as string, createdAtMs: Number(a.created_at), updatedAtMs: Number(a.updated_at) });
  }
  return identity;
}

/** The `identities` columns under `i_*` aliases, for `identityFromJoinedRow`. */
export const JOINED_IDENTITY_ROW_COLUMNS = [
  'i.id as i_id',
  'i.schema_id as i_schema_id',
  'i.state as i_state',
  'i.state_changed_at as i_state_changed_at',
  'i.traits as i_traits',
  'i.metadata_public as i_metadata_public',
  'i.metadata_admin as i_metadata_admin',
  'i.external_id as i_external_id',
  'i.created_at as i_created_at',
  'i.updated_at as i_updated_at',
] as const;
