/**
 * A Kratos-shaped database for import tests: the CREATE TABLEs of Kratos's final schema (fixtures/, derived from
 * ory/kratos's migrations) on SQLite or PostgreSQL, and a few identities written the way Kratos stores them.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import bcrypt from 'bcryptjs';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import type { KratosTables } from '../../src/import/kratos/source.js';
import { PG_URL, type Dialect } from '../support/harness.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

export interface KratosDatabase {
  dsn: string;
  db: Kysely<KratosTables>;
  dialect: Dialect;
  drop(): Promise<void>;
}

export async function createKratosDatabase(dialect: Dialect): Promise<KratosDatabase> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'kratos-source-'));
    const path = join(dir, 'kratos.sqlite');
    const raw = new SQLite(path);
    raw.exec(fixture('kratos-schema.sqlite.sql'));
    raw.close();
    const db = new Kysely<KratosTables>({ dialect: new SqliteDialect({ database: new SQLite(path) }) });
    // Kratos's own SQLite DSN form (pop): `sqlite://<path>?_fk=true`.
    return { dsn: `sqlite://${path}?_fk=true&mode=rwc`, db, dialect, drop: async () => { await db.destroy(); rmSync(dir, { recursive: true, force: true }); } };
  }
  const schema = `kratos_src_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`create schema ${schema}; set search_path = ${schema};`);
  await client.query(fixture('kratos-schema.postgres.sql'));
  await client.end();
  const pool = new pg.Pool({ connectionString: PG_URL, max: 2, options: `-c search_path=${schema}` });
  const db = new Kysely<KratosTables>({ dialect: new PostgresDialect({ pool }) });
  const url = new URL(PG_URL);
  url.searchParams.set('search_path', schema);
  // Kratos's pool parameters ride along in its DSN; the importer must ignore them.
  url.searchParams.set('max_conns', '20');
  return {
    dsn: url.toString(),
    db,
    dialect,
    drop: async () => {
      await db.destroy();
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`drop schema if exists ${schema} cascade`);
      await c.end();
    },
  };
}

export const NETWORK_ID = '5f6e2a1c-3b4d-4e5f-8a9b-0c1d2e3f4a5b';
/** Kratos's credential type ids (the rows its migrations insert). */
const TYPE_IDS: Record<string, string> = {
  password: '78c1b41d-8341-4507-aa60-aff1d4369670',
  oidc: '6fa5e2e0-bfce-4631-b62b-cf2b0252b289',
  totp: '5e29b036-aa47-457f-9fe6-aa8b854a752b',
  lookup_secret: '567a0730-7f48-4dd7-a13d-df87a51c245f',
};

/** A Kratos timestamp as each dialect stores it (UTC; pop adds the offset on SQLite). */
export function kratosTime(dialect: Dialect, iso: string): string {
  const text = iso.replace('T', ' ').replace('Z', '');
  return dialect === 'sqlite' ? `${text}+00:00` : text;
}

export interface SeedIdentity {
  id: string;
  schemaId?: string;
  traits: unknown;
  /** Raw text for the traits column (SQLite only; jsonb refuses invalid JSON). */
  rawTraits?: string;
  state?: string;
  metadataPublic?: unknown;
  metadataAdmin?: unknown;
  createdAt: string;
  credentials?: { type: keyof typeof TYPE_IDS; config: unknown }[];
  verifiable?: { value: string; verified: boolean; verifiedAt?: string }[];
  recovery?: string[];
}

const uuid = () => {
  const b = randomBytes(16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

export async function seedNetwork(k: KratosDatabase): Promise<void> {
  const now = kratosTime(k.dialect, '2024-01-01T00:00:00.000000Z');
  await k.db.insertInto('networks').values({ id: NETWORK_ID, created_at: now, updated_at: now }).execute();
}

export async function seedIdentity(k: KratosDatabase, seed: SeedIdentity): Promise<void> {
  const t = (iso: string) => kratosTime(k.dialect, iso);
  const created = t(seed.createdAt);
  const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
  await k.db
    .insertInto('identities')
    .values({
      id: seed.id,
      nid: NETWORK_ID,
      schema_id: seed.schemaId ?? 'default',
      traits: seed.rawTraits ?? JSON.stringify(seed.traits),
      state: seed.state ?? 'active',
      state_changed_at: created,
      metadata_public: json(seed.metadataPublic),
      metadata_admin: json(seed.metadataAdmin),
      external_id: null,
      created_at: created,
      updated_at: created,
    })
    .execute();
  for (const c of seed.credentials ?? []) {
    await k.db
      .insertInto('identity_credentials')
      .values({ id: uuid(), nid: NETWORK_ID, identity_id: seed.id, identity_credential_type_id: TYPE_IDS[c.type]!, config: JSON.stringify(c.config), version: 0, created_at: created, updated_at: created })
      .execute();
  }
  for (const a of seed.verifiable ?? []) {
    await k.db
      .insertInto('identity_verifiable_addresses')
      .values({
        id: uuid(),
        nid: NETWORK_ID,
        identity_id: seed.id,
        via: 'email',
        value: a.value,
        verified: k.dialect === 'sqlite' ? (a.verified ? 1 : 0) : a.verified,
        status: a.verified ? 'completed' : 'sent',
        verified_at: a.verifiedAt ? t(a.verifiedAt) : null,
        created_at: created,
        updated_at: created,
      })
      .execute();
  }
  for (const value of seed.recovery ?? []) {
    await k.db.insertInto('identity_recovery_addresses').values({ id: uuid(), nid: NETWORK_ID, identity_id: seed.id, via: 'email', value, created_at: created, updated_at: created }).execute();
  }
}

/** bcrypt as Kratos's `hashers.algorithm: bcrypt` writes it (cost 4 here: the code path, not the cost, is tested). */
export const bcryptHash = (password: string) => bcrypt.hashSync(password, 4);
