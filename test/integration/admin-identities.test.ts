import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import bcrypt from 'bcryptjs';
import { ResponseError } from '@ory/client-fetch';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';

async function statusOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 200;
  } catch (err) {
    if (err instanceof ResponseError) return err.response.status;
    throw err;
  }
}

describe.each(DIALECTS)('admin identity API through @ory/client-fetch (%s)', (dialect) => {
  let k: TestKairos;
  beforeAll(async () => {
    k = await startKairos({ dialect });
  });
  afterAll(async () => k?.close());

  const loginWith = async (identifier: string, password: string) => {
    const flow = await k.frontend.createNativeLoginFlow();
    return k.frontend.updateLoginFlow({ flow: flow.id, updateLoginFlowBody: { method: 'password', identifier, password } });
  };

  it('creates an identity with a plain password, which then logs in', async () => {
    const identity = await k.identityApi.createIdentity({
      createIdentityBody: { schema_id: 'default', traits: { email: 'import1@example.com' }, credentials: { password: { config: { password: 'imported passphrase' } } } },
    });
    expect(identity.credentials?.password?.identifiers).toEqual(['import1@example.com']);
    expect((identity.credentials?.password as any).config).toBeUndefined();
    const login = await loginWith('import1@example.com', 'imported passphrase');
    expect(login.session.identity?.id).toBe(identity.id);
  });

  it('imports a bcrypt hash, accepts it, and upgrades it to argon2id at login', async () => {
    const hashed = bcrypt.hashSync('legacy passphrase', 4);
    const identity = await k.identityApi.createIdentity({
      createIdentityBody: { schema_id: 'default', traits: { email: 'legacy@example.com' }, credentials: { password: { config: { hashed_password: hashed } } } },
    });
    await loginWith('legacy@example.com', 'legacy passphrase');
    const after = await k.identityApi.getIdentity({ id: identity.id, includeCredential: ['password'] });
    expect(String((after.credentials?.password?.config as any).hashed_password)).toMatch(/^\$argon2id\$/);
  });

  it('lists with pagination and filters by credentials_identifier', async () => {
    for (let i = 0; i < 5; i++) {
      await k.identityApi.createIdentity({ createIdentityBody: { schema_id: 'default', traits: { email: `page${i}@example.com` } } });
    }
    const firstPage = await k.identityApi.listIdentitiesRaw({ pageSize: 3 });
    const first = await firstPage.value();
    expect(first).toHaveLength(3);
    const link = firstPage.raw.headers.get('link')!;
    expect(link).toContain('rel="next"');
    const token = new URL('http://x' + link.slice(1, link.indexOf('>'))).searchParams.get('page_token')!;
    const second = await k.identityApi.listIdentities({ pageSize: 3, pageToken: token });
    expect(second.map((i) => i.id)).not.toContain(first[0]!.id);
    const found = await k.identityApi.listIdentities({ credentialsIdentifier: 'import1@example.com' });
    expect(found).toHaveLength(1);
  });

  it('updates with PUT and PATCH; deactivating revokes sessions', async () => {
    const identity = await k.identityApi.createIdentity({
      createIdentityBody: { schema_id: 'default', traits: { email: 'upd@example.com' }, credentials: { password: { config: { password: 'update passphrase' } } } },
    });
    const { session_token } = await loginWith('upd@example.com', 'update passphrase');
    const put = await k.identityApi.updateIdentity({ id: identity.id, updateIdentityBody: { schema_id: 'default', traits: { email: 'upd@example.com', name: 'U' }, state: 'active' } });
    expect(put.traits).toEqual({ email: 'upd@example.com', name: 'U' });
    await k.identityApi.patchIdentity({ id: identity.id, jsonPatch: [{ op: 'replace', path: '/state', value: 'inactive' }] });
    expect(await statusOf(k.frontend.toSession({ xSessionToken: session_token }))).toBe(401);
    expect(await statusOf(k.identityApi.patchIdentity({ id: identity.id, jsonPatch: [{ op: 'replace', path: '/id', value: 'x' }] }))).toBe(400);
  });

  it('lists and revokes sessions of an identity', async () => {
    const identity = await k.identityApi.createIdentity({
      createIdentityBody: { schema_id: 'default', traits: { email: 'sess@example.com' }, credentials: { password: { config: { password: 'session passphrase' } } } },
    });
    const { session_token, session } = await loginWith('sess@example.com', 'session passphrase');
    const sessions = await k.identityApi.listIdentitySessions({ id: identity.id });
    expect(sessions.map((s) => s.id)).toContain(session.id);
    expect((await k.identityApi.getSession({ id: session.id })).id).toBe(session.id);
    await k.identityApi.deleteIdentitySessions({ id: identity.id });
    expect(await statusOf(k.frontend.toSession({ xSessionToken: session_token }))).toBe(401);
  });

  it('refuses to delete the last first factor; 404 for a credential the identity does not have', async () => {
    const identity = await k.identityApi.createIdentity({
      createIdentityBody: { schema_id: 'default', traits: { email: 'cred@example.com' }, credentials: { password: { config: { password: 'credential passphrase' } } } },
    });
    expect(await statusOf(k.identityApi.deleteIdentityCredentials({ id: identity.id, type: 'password' }))).toBe(400);
    expect(await statusOf(k.identityApi.deleteIdentityCredentials({ id: identity.id, type: 'totp' }))).toBe(404);
  });

  it('deletes an identity; conflicts on a duplicate identifier', async () => {
    const identity = await k.identityApi.createIdentity({ createIdentityBody: { schema_id: 'default', traits: { email: 'gone@example.com' }, credentials: { password: { config: { password: 'deleted passphrase' } } } } });
    expect(await statusOf(k.identityApi.createIdentity({ createIdentityBody: { schema_id: 'default', traits: { email: 'gone@example.com' }, credentials: { password: { config: { password: 'deleted passphrase' } } } } }))).toBe(409);
    await k.identityApi.deleteIdentity({ id: identity.id });
    expect(await statusOf(k.identityApi.getIdentity({ id: identity.id }))).toBe(404);
  });

  it('records admin actions in the audit trail', async () => {
    const rows = await k.deps.db.selectFrom('audit_events').select(['type', 'actor']).where('type', '=', 'identity.created').execute();
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.actor === 'admin')).toBe(true);
  });
});
