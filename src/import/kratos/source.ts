/**
 * Read-only access to a Kratos database (PostgreSQL, or SQLite where Kratos used it). The tables and columns are
 * Kratos's final shape, from replaying every up migration in ory/kratos `persistence/sql/migrations/sql` (see
 * test/import/fixtures/README.md): `networks`, `identities`, `identity_credentials`, `identity_credential_types`,
 * `identity_verifiable_addresses`, `identity_recovery_addresses`. Only the columns the import needs are read.
 *
 * Values are returned as the drivers give them and normalised here: JSON columns are objects on PostgreSQL (jsonb)
 * and text on SQLite; timestamps are `timestamp without time zone` in UTC (Kratos writes UTC) and are read as text
 * so that no local time zone is applied; booleans are 0/1 on SQLite.
 */
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { Kysely, PostgresDialect, SqliteDialect, type Selectable } from 'kysely';
import { sqlitePath } from '../../storage/db.js';

export interface KratosTables {
  networks: { id: string; created_at: unknown; updated_at: unknown };
  identities: {
    id: string;
    nid: string | null;
    schema_id: string;
    traits: unknown;
    state: string;
    state_changed_at: unknown;
    metadata_public: unknown;
    metadata_admin: unknown;
    external_id: string | null;
    created_at: unknown;
    updated_at: unknown;
  };
  identity_credential_types: { id: string; name: string };
  identity_credentials: {
    id: string;
    nid: string | null;
    identity_id: string;
    identity_credential_type_id: string;
    config: unknown;
    version: number;
    created_at: unknown;
    updated_at: unknown;
  };
  identity_verifiable_addresses: {
    id: string;
    nid: string | null;
    identity_id: string;
    via: string;
    value: string;
    verified: unknown;
    status: string;
    verified_at: unknown;
    created_at: unknown;
    updated_at: unknown;
  };
  identity_recovery_addresses: { id: string; nid: string | null; identity_id: string; via: string; value: string; created_at: unknown; updated_at: unknown };
}

export type KratosIdentityRow = Selectable<KratosTables['identities']>;
export type KratosCredentialRow = Selectable<KratosTables['identity_credentials']> & { type: string };
export type KratosVerifiableAddressRow = Selectable<KratosTables['identity_verifiable_addresses']>;
export type KratosRecoveryAddressRow = Selectable<KratosTables['identity_recovery_addresses']>;

/** Everything Kratos stores about one identity that the import reads. */
export interface KratosIdentityRecord {
  identity: KratosIdentityRow;
  credentials: KratosCredentialRow[];
  verifiableAddresses: KratosVerifiableAddressRow[];
  recoveryAddresses: KratosRecoveryAddressRow[];
}

/** Pool parameters Kratos (pop) reads from its DSN that libpq and node-postgres do not know. */
const POP_DSN_PARAMETERS = ['max_conns', 'max_idle_conns', 'max_conn_lifetime', 'max_conn_idle_time', 'search_path'];

/** PostgreSQL type OIDs of `timestamp` and `timestamptz` (pg_type.dat), read as text. */
const PG_TIMESTAMP_OIDS = new Set([1114, 1184]);

/** Redacts the password of a DSN for messages. */
export const redactDsn = (dsn: string) => dsn.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');

export class KratosSource {
  private constructor(
    readonly db: Kysely<KratosTables>,
    readonly description: string,
  ) {}

  /** Opens `dsn` read-only: `postgres://…` (`?search_path=` honoured), `sqlite://…` or `sqlite3://…`. */
  static open(dsn: string): KratosSource {
    if (/^(postgres|postgresql|cockroach):\/\//.test(dsn)) {
      const url = new URL(dsn.replace(/^cockroach:/, 'postgres:'));
      const searchPath = url.searchParams.get('search_path');
      for (const name of POP_DSN_PARAMETERS) url.searchParams.delete(name);
      const pool = new pg.Pool({
        connectionString: url.toString(),
        max: 2,
        options: ['-c default_transaction_read_only=on', searchPath ? `-c search_path=${searchPath}` : ''].filter(Boolean).join(' '),
        types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (PG_TIMESTAMP_OIDS.has(oid) ? (value: string) => value : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser },
      });
      return new KratosSource(new Kysely<KratosTables>({ dialect: new PostgresDialect({ pool }) }), `postgres ${url.host}${url.pathname}${searchPath ? ` (schema ${searchPath})` : ''}`);
    }
    if (/^sqlite3?:\/\//.test(dsn) || dsn.startsWith('file:')) {
      const path = sqlitePath(dsn.replace(/^sqlite3:/, 'sqlite:'));
      if (path === ':memory:') throw new Error('an in-memory Kratos database (dsn: memory) has nothing to import');
      const database = new SQLite(path, { readonly: true, fileMustExist: true });
      return new KratosSource(new Kysely<KratosTables>({ dialect: new SqliteDialect({ database }) }), `sqlite ${path}`);
    }
    throw new Error(`--from: unsupported DSN "${redactDsn(dsn)}" (use postgres://… or sqlite://…; MySQL is not supported)`);
  }

  async networks(): Promise<string[]> {
    return (await this.db.selectFrom('networks').select('id').orderBy('id').execute()).map((r) => String(r.id));
  }

  async countIdentities(nid: string | null): Promise<number> {
    const row = await this.db
      .selectFrom('identities')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .$if(nid !== null, (q) => q.where('nid', '=', nid!))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** One page of identities after `afterId` (keyset pagination by id), with their credentials and addresses. */
  async page(nid: string | null, afterId: string | null, size: number): Promise<KratosIdentityRecord[]> {
    const identities = await this.db
      .selectFrom('identities')
      .select(['id', 'nid', 'schema_id', 'traits', 'state', 'state_changed_at', 'metadata_public', 'metadata_admin', 'external_id', 'created_at', 'updated_at'])
      .$if(nid !== null, (q) => q.where('nid', '=', nid!))
      .$if(afterId !== null, (q) => q.where('id', '>', afterId!))
      .orderBy('id')
      .limit(size)
      .execute();
    if (identities.length === 0) return [];
    const ids = identities.map((i) => i.id);
    const [credentials, verifiable, recovery] = await Promise.all([
      this.db
        .selectFrom('identity_credentials as c')
        .innerJoin('identity_credential_types as t', 't.id', 'c.identity_credential_type_id')
        .select(['c.id', 'c.nid', 'c.identity_id', 'c.identity_credential_type_id', 'c.config', 'c.version', 'c.created_at', 'c.updated_at', 't.name as type'])
        .where('c.identity_id', 'in', ids)
        .orderBy('c.created_at')
        .execute(),
      this.db.selectFrom('identity_verifiable_addresses').selectAll().where('identity_id', 'in', ids).execute(),
      this.db.selectFrom('identity_recovery_addresses').select(['id', 'nid', 'identity_id', 'via', 'value', 'created_at', 'updated_at']).where('identity_id', 'in', ids).execute(),
    ]);
    const byId = new Map<string, KratosIdentityRecord>(identities.map((identity) => [String(identity.id), { identity, credentials: [], verifiableAddresses: [], recoveryAddresses: [] }]));
    for (const c of credentials) byId.get(String(c.identity_id))?.credentials.push(c as KratosCredentialRow);
    for (const a of verifiable) byId.get(String(a.identity_id))?.verifiableAddresses.push(a);
    for (const a of recovery) byId.get(String(a.identity_id))?.recoveryAddresses.push(a);
    return [...byId.values()];
  }

  close(): Promise<void> {
    return this.db.destroy();
  }
}
