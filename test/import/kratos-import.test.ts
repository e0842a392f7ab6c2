/**
 * `kairos import kratos` on SQLite and PostgreSQL: a Kratos-shaped database (fixtures from Kratos's migrations) is
 * imported into Kairos; then people log in through the real HTTP API with their old password, the same
 * authenticator entry (a code computed from the original secret) and a recovery code, with no re-enrollment.
 * Also: a dry run writes nothing, a re-run is idempotent, rows Kairos cannot read are reported one by one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { createDeps, createModules } from '../../src/registry.js';
import { KratosImporter, type ImportSummary } from '../../src/import/kratos/importer.js';
import { KratosSource } from '../../src/import/kratos/source.js';
import { createTestDatabase, DIALECTS, startKairos, type TestDatabase, type TestKairos } from '../support/harness.js';
import { totpCodeNow } from '../support/totp.js';
import { loginWithPassword } from '../support/users.js';
import { bcryptHash, createKratosDatabase, seedIdentity, seedNetwork, type KratosDatabase } from './kratos-source.js';

const ALICE = '0a1b2c3d-0000-4000-8000-00000000a11c';
const BOB = '0a1b2c3d-0000-4000-8000-000000000b0b';
const BAD_TRAITS = '0a1b2c3d-0000-4000-8000-0000000000c1';
const BAD_HASH = '0a1b2c3d-0000-4000-8000-0000000000c2';
const BAD_SCHEMA = '0a1b2c3d-0000-4000-8000-0000000000c3';
const BAD_JSON = '0a1b2c3d-0000-4000-8000-0000000000c4';

const ALICE_PASSWORD = 'alice-old-kratos-password';
/** The secret in Alice's authenticator app (Kratos's totp_url); the test computes codes from it, as her phone does. */
const ALICE_TOTP_SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
/** Kratos's recovery codes: 8 characters of [a-z0-9]; the first was used in Kratos. */
const ALICE_CODES = ['x7k2m9qa', 'p4r8t2wz', 'b6n3v5cy'];
/** `$pbkdf2-sha256$` of "correct horse" (computed with Python's hashlib; see imported-hashes.test.ts). */
const BOB_PBKDF2 = '$pbkdf2-sha256$i=1000,l=32$c2FsdHNhbHQxMjM0NTY3OA$4k505osG8KMN4wotSosGJPlhKDtLiyB61aw4ZQGUPTA';

const CONFIG = { selfservice: { methods: { totp: { enabled: true, config: { issuer: 'Kairos Test' } }, lookup_secret: { enabled: true } } } };

async function seedKratos(k: KratosDatabase): Promise<void> {
  await seedNetwork(k);
  await seedIdentity(k, {
    id: ALICE,
    traits: { email: 'alice@example.com', name: 'Alice' },
    metadataPublic: { plan: 'pro' },
    metadataAdmin: { crm_id: 42 },
    createdAt: '2023-03-04T05:06:07.123456Z',
    credentials: [
      { type: 'password', config: { hashed_password: bcryptHash(ALICE_PASSWORD) } },
      { type: 'totp', config: { totp_url: `otpauth://totp/Kratos:alice@example.com?algorithm=SHA1&digits=6&issuer=Kratos&period=30&secret=${ALICE_TOTP_SECRET}` } },
      {
        type: 'lookup_secret',
        config: { recovery_codes: [{ code: ALICE_CODES[0], used_at: '2024-02-03T04:05:06Z' }, { code: ALICE_CODES[1], used_at: null }, { code: ALICE_CODES[2] }] },
      },
    ],
    verifiable: [{ value: 'alice@example.com', verified: true, verifiedAt: '2023-03-04T06:00:00Z' }],
    recovery: ['alice@example.com'],
  });
  await seedIdentity(k, {
    id: BOB,
    traits: { email: 'bob@example.com' },
    state: 'active',
    createdAt: '2023-05-06T07:08:09Z',
    credentials: [
      { type: 'password', config: { hashed_password: BOB_PBKDF2 } },
      { type: 'oidc', config: { providers: [{ provider: 'github', subject: '123' }] } },
    ],
    verifiable: [{ value: 'bob@example.com', verified: false }],
    recovery: ['bob@example.com'],
  });
  await seedIdentity(k, { id: BAD_TRAITS, traits: { email: 42 }, createdAt: '2023-01-01T00:00:00Z', credentials: [{ type: 'password', config: { hashed_password: BOB_PBKDF2 } }] });
  await seedIdentity(k, { id: BAD_HASH, traits: { email: 'carol@example.com' }, createdAt: '2023-01-01T00:00:00Z', credentials: [{ type: 'password', config: { hashed_password: '$md5-crypt$$1$saltsalt$not-supported' } }] });
  await seedIdentity(k, { id: BAD_SCHEMA, schemaId: 'customer-v2', traits: { email: 'dave@example.com' }, createdAt: '2023-01-01T00:00:00Z' });
  if (k.dialect === 'sqlite') await seedIdentity(k, { id: BAD_JSON, traits: null, rawTraits: '{"email": "eve@', createdAt: '2023-01-01T00:00:00Z' });
}

/** Runs the importer as the CLI does: its own dependencies and modules over the Kairos database. */
async function runImport(server: TestKairos, kratosDsn: string, options: { dryRun?: boolean } = {}): Promise<ImportSummary> {
  const deps = createDeps(server.deps.config, { clock: server.clock, logger: pino({ level: 'silent' }) });
  const adapters = Object.fromEntries(createModules(deps).flatMap((m) => m.adapters ?? []).map((a) => [a.type, a]));
  const source = KratosSource.open(kratosDsn);
  try {
    return await new KratosImporter(deps, adapters).run(source, { ...options, pageSize: 2 });
  } finally {
    await source.close();
    await deps.storage.close();
  }
}

async function aal2(server: TestKairos, token: string, body: Record<string, unknown>) {
  const flow = await server.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: token });
  const response = await fetch(`${server.publicUrl}/self-service/login?flow=${flow.id}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', 'x-session-token': token },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

describe.each(DIALECTS)('kairos import kratos (%s)', (dialect) => {
  let kratos: KratosDatabase;
  let database: TestDatabase;
  let server: TestKairos;
  let first: ImportSummary;
  const failedIds = dialect === 'sqlite' ? [BAD_TRAITS, BAD_HASH, BAD_SCHEMA, BAD_JSON] : [BAD_TRAITS, BAD_HASH, BAD_SCHEMA];

  beforeAll(async () => {
    kratos = await createKratosDatabase(dialect);
    await seedKratos(kratos);
    database = await createTestDatabase(dialect);
    server = await startKairos({ dialect, database, config: CONFIG });
  });
  afterAll(async () => {
    await server?.close();
    await database?.drop();
    await kratos?.drop();
  });

  it('a dry run reports what would be imported and writes nothing', async () => {
    const summary = await runImport(server, kratos.dsn, { dryRun: true });
    expect(summary.dryRun).toBe(true);
    expect(summary.imported).toBe(2);
    expect(summary.failed.map((f) => f.id).sort()).toEqual([...failedIds].sort());
    expect(await server.deps.db.selectFrom('identities').select('id').execute()).toEqual([]);
    expect(await server.deps.db.selectFrom('identity_credentials').select('id').execute()).toEqual([]);
    expect(await server.deps.db.selectFrom('totp_credentials').selectAll().execute()).toEqual([]);
    expect(await server.deps.db.selectFrom('lookup_secret_codes').select('id').execute()).toEqual([]);
    expect(await server.deps.db.selectFrom('audit_events').select('id').where('actor', '=', 'kratos-import').execute()).toEqual([]);
  });

  it('imports identities with traits, state, metadata, addresses and credentials; reports each unreadable row', async () => {
    first = await runImport(server, kratos.dsn);
    expect(first.dryRun).toBe(false);
    expect(first.total).toBe(2 + failedIds.length);
    expect(first.imported).toBe(2);
    expect(first.credentials).toEqual({ password: 2, totp: 1, lookup_secret: 1 });
    expect(first.skipped).toEqual([]);
    expect(first.skippedCredentials).toEqual([{ id: BOB, type: 'oidc', reason: 'Kairos has no oidc credentials to import into' }]);
    const problems = Object.fromEntries(first.failed.map((f) => [f.id, f.problems.join('; ')]));
    expect(problems[BAD_TRAITS]).toMatch(/traits do not match the identity schema: .*email/);
    expect(problems[BAD_HASH]).toBe('the password hash ($md5-crypt$) is in a format Kairos cannot verify');
    expect(problems[BAD_SCHEMA]).toBe('schema_id "customer-v2" is not one of Kairos\'s identity.schemas');
    if (dialect === 'sqlite') expect(problems[BAD_JSON]).toBe('traits is not valid JSON');
    // Nothing half-imported: the failed identities left no row at all.
    for (const id of failedIds) expect(await server.deps.db.selectFrom('identities').select('id').where('id', '=', id).execute()).toEqual([]);

    const alice = await server.identityApi.getIdentity({ id: ALICE, includeCredential: ['totp', 'lookup_secret'] });
    expect(alice.traits).toEqual({ email: 'alice@example.com', name: 'Alice' });
    expect(alice.schema_id).toBe('default');
    expect(alice.state).toBe('active');
    expect(alice.metadata_public).toEqual({ plan: 'pro' });
    expect(alice.metadata_admin).toEqual({ crm_id: 42 });
    expect(new Date(alice.created_at!).toISOString()).toBe('2023-03-04T05:06:07.123Z');
    expect(alice.verifiable_addresses?.[0]).toMatchObject({ value: 'alice@example.com', verified: true, status: 'completed' });
    expect(new Date(alice.verifiable_addresses![0]!.verified_at!).toISOString()).toBe('2023-03-04T06:00:00.000Z');
    expect(alice.recovery_addresses?.map((a) => a.value)).toEqual(['alice@example.com']);
    expect(Object.keys(alice.credentials ?? {}).sort()).toEqual(['lookup_secret', 'password', 'totp']);
    const bob = await server.identityApi.getIdentity({ id: BOB });
    expect(bob.verifiable_addresses?.[0]).toMatchObject({ value: 'bob@example.com', verified: false });
    expect(Object.keys(bob.credentials ?? {})).toEqual(['password']);
  });

  it('secrets at rest: the TOTP secret is encrypted and recovery codes are hashed', async () => {
    const rows = await server.deps.db.selectFrom('totp_credentials').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(ALICE_TOTP_SECRET);
    const codes = await server.deps.db.selectFrom('lookup_secret_codes').selectAll().execute();
    expect(codes).toHaveLength(3);
    for (const code of ALICE_CODES) expect(JSON.stringify(codes)).not.toContain(code);
    expect(codes.filter((c) => c.used_at !== null)).toHaveLength(1);
  });

  it('Alice logs in with her old password and the same authenticator entry, then with a recovery code', async () => {
    const login = await loginWithPassword(server, 'alice@example.com', ALICE_PASSWORD);
    expect(login.session.authenticator_assurance_level).toBe('aal1');
    const totp = await aal2(server, login.session_token!, { method: 'totp', totp_code: totpCodeNow(server, ALICE_TOTP_SECRET) });
    expect(totp.status).toBe(200);
    expect(totp.body.session.authenticator_assurance_level).toBe('aal2');

    const again = await loginWithPassword(server, 'alice@example.com', ALICE_PASSWORD);
    // The code Alice used in Kratos stays used; an unused one works once.
    expect((await aal2(server, again.session_token!, { method: 'lookup_secret', lookup_secret: ALICE_CODES[0] })).status).toBe(400);
    const code = await aal2(server, again.session_token!, { method: 'lookup_secret', lookup_secret: ALICE_CODES[1] });
    expect(code.status).toBe(200);
    expect(code.body.session.authenticator_assurance_level).toBe('aal2');
  });

  it('Bob logs in with his PBKDF2 password from Kratos, which is then re-hashed with argon2id', async () => {
    const login = await loginWithPassword(server, 'bob@example.com', 'correct horse');
    expect(login.session.identity?.id).toBe(BOB);
    const row = await server.deps.db.selectFrom('identity_credentials').select('config').where('identity_id', '=', BOB).where('type', '=', 'password').executeTakeFirstOrThrow();
    expect(String(row.config)).toMatch(/\$argon2id\$/);
  });

  it('a re-run is idempotent: imported identities are skipped and left unchanged', async () => {
    const before = await server.deps.db.selectFrom('identity_credentials').select(['id', 'config']).orderBy('id').execute();
    const second = await runImport(server, kratos.dsn);
    expect(second.imported).toBe(0);
    expect(second.skipped.map((s) => s.id).sort()).toEqual([ALICE, BOB].sort());
    expect(second.skipped[0]!.reason).toBe('already in Kairos (same id); left unchanged');
    expect(second.failed.map((f) => f.id).sort()).toEqual([...failedIds].sort());
    // Bob's upgraded argon2id hash was not overwritten by the PBKDF2 one from Kratos.
    expect(await server.deps.db.selectFrom('identity_credentials').select(['id', 'config']).orderBy('id').execute()).toEqual(before);
  });
});
