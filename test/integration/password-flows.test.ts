import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoginFlow, RegistrationFlow } from '@ory/client-fetch';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { loginWithPassword, registerWithPassword } from '../support/users.js';
import { errorBody, messageIds } from '../support/flows.js';

describe.each(DIALECTS)('password flows through @ory/client-fetch (%s)', (dialect) => {
  let k: TestKairos;
  beforeAll(async () => {
    k = await startKairos({ dialect });
  });
  afterAll(async () => k?.close());

  const register = async (email: string, password = 'a long enough passphrase') => (await registerWithPassword(k, email, password)).result;

  const login = (identifier: string, password: string) => loginWithPassword(k, identifier, password);

  it('registers, logs in and answers whoami with the password method at aal1', async () => {
    const registration = await register('ada@example.com');
    expect(registration.identity.traits).toEqual({ email: 'ada@example.com' });
    expect(registration.session_token).toMatch(/^ory_st_/);
    const result = await login('ada@example.com', 'a long enough passphrase');
    const session = await k.frontend.toSession({ xSessionToken: result.session_token });
    expect(session.identity?.id).toBe(registration.identity.id);
    expect(session.authenticator_assurance_level).toBe('aal1');
    expect(session.authentication_methods?.map((m) => m.method)).toEqual(['password']);
  });

  it('renders Kratos nodes for a login flow (csrf first, identifier, password, submit)', async () => {
    const flow: LoginFlow = await k.frontend.createNativeLoginFlow();
    expect(flow.ui.nodes.map((n: any) => n.attributes.name)).toEqual(['csrf_token', 'identifier', 'password', 'method']);
    expect(flow.requested_aal).toBe('aal1');
    expect(flow.state).toBe('choose_method');
    expect(flow.ui.action).toBe(`${k.publicUrl}/self-service/login?flow=${flow.id}`);
  });

  it('rejects a wrong password with 4000006 and the flow', async () => {
    await register('bob@example.com');
    const { status, body } = await errorBody(login('bob@example.com', 'wrong password entirely'));
    expect(status).toBe(400);
    expect(messageIds(body)).toContain(4000006);
    const identifier = body.ui.nodes.find((n: any) => n.attributes.name === 'identifier');
    expect(identifier.attributes.value).toBe('bob@example.com');
  });

  it('gives an unknown identifier the same answer as a wrong password', async () => {
    const { status, body } = await errorBody(login('nobody@example.com', 'whatever password'));
    expect(status).toBe(400);
    expect(messageIds(body)).toEqual([4000006]);
  });

  it('logs in case-insensitively by email', async () => {
    await register('Carol@Example.com');
    const result = await login('carol@example.com', 'a long enough passphrase');
    expect(result.session.identity?.traits).toEqual({ email: 'Carol@Example.com' });
  });

  it('refuses a duplicate registration with 4000007', async () => {
    await register('dup@example.com');
    const { status, body } = await errorBody(register('DUP@example.com'));
    expect(status).toBe(400);
    expect(messageIds(body)).toContain(4000007);
  });

  it('enforces password policy: too short, too long, too similar to the identifier', async () => {
    expect(messageIds((await errorBody(register('p1@example.com', 'short'))).body)).toContain(4000032);
    expect(messageIds((await errorBody(register('p2@example.com', 'x'.repeat(2000)))).body)).toContain(4000033);
    expect(messageIds((await errorBody(register('longname@example.com', 'longname@example.com1'))).body)).toContain(4000031);
  });

  it('reports schema violations on the trait node', async () => {
    const { body } = await errorBody(register('not-an-email'));
    const node = body.ui.nodes.find((n: any) => n.attributes.name === 'traits.email');
    expect(node.messages.map((m: any) => m.id)).toContain(4000004);
  });

  it('answers session_already_available for a logged-in API client', async () => {
    const { session_token } = await login('ada@example.com', 'a long enough passphrase');
    const { status, body } = await errorBody(k.frontend.createNativeLoginFlow({ xSessionToken: session_token }));
    expect(status).toBe(400);
    expect(body.error.id).toBe('session_already_available');
  });

  it('refuses aal2 without a session (session_aal1_required)', async () => {
    const { status, body } = await errorBody(k.frontend.createNativeLoginFlow({ aal: 'aal2' }));
    expect(status).toBe(401);
    expect(body.error.id).toBe('session_aal1_required');
  });

  it('refreshes the same session with refresh=true', async () => {
    const first = await login('ada@example.com', 'a long enough passphrase');
    k.clock.advanceSeconds(60);
    const flow = await k.frontend.createNativeLoginFlow({ refresh: true, xSessionToken: first.session_token });
    expect(flow.refresh).toBe(true);
    const identifier = flow.ui.nodes.find((n: any) => n.attributes.name === 'identifier') as any;
    expect(identifier.attributes.type).toBe('hidden');
    const refreshed = await k.frontend.updateLoginFlow({
      flow: flow.id,
      xSessionToken: first.session_token,
      updateLoginFlowBody: { method: 'password', identifier: 'ada@example.com', password: 'a long enough passphrase' },
    });
    expect(refreshed.session.id).toBe(first.session.id);
    expect(refreshed.session.authentication_methods).toHaveLength(2);
    expect(new Date(refreshed.session.authenticated_at!).getTime()).toBeGreaterThan(new Date(first.session.authenticated_at!).getTime());
  });

  it('changes the password in settings and the old one stops working', async () => {
    await register('dora@example.com');
    const { session_token } = await login('dora@example.com', 'a long enough passphrase');
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: session_token });
    const updated = await k.frontend.updateSettingsFlow({
      flow: flow.id,
      xSessionToken: session_token,
      updateSettingsFlowBody: { method: 'password', password: 'a brand new passphrase' },
    });
    expect(updated.state).toBe('success');
    expect(updated.ui.messages?.map((m) => m.id)).toContain(1050001);
    expect(messageIds((await errorBody(login('dora@example.com', 'a long enough passphrase'))).body)).toContain(4000006);
    await login('dora@example.com', 'a brand new passphrase');
  });

  it('asks for re-authentication in settings once the session is older than privileged_session_max_age', async () => {
    await register('eve@example.com');
    const { session_token } = await login('eve@example.com', 'a long enough passphrase');
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: session_token });
    k.clock.advanceSeconds(16 * 60);
    const { status, body } = await errorBody(
      k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: session_token, updateSettingsFlowBody: { method: 'password', password: 'another long passphrase' } }),
    );
    expect(status).toBe(403);
    expect(body.error.id).toBe('session_refresh_required');
    expect(body.redirect_browser_to).toContain('/self-service/login/browser?refresh=true');
  });

  it('updates profile traits in settings', async () => {
    const reg = await register('fay@example.com');
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: reg.session_token });
    const updated = await k.frontend.updateSettingsFlow({
      flow: flow.id,
      xSessionToken: reg.session_token,
      updateSettingsFlowBody: { method: 'profile', traits: { email: 'fay@example.com', name: 'Fay' } },
    });
    expect(updated.identity.traits).toEqual({ email: 'fay@example.com', name: 'Fay' });
  });

  it('answers an expired login flow with 410 and a replacement flow id', async () => {
    const flow = await k.frontend.createNativeLoginFlow();
    k.clock.advanceSeconds(3601);
    const { status, body } = await errorBody(
      k.frontend.updateLoginFlow({ flow: flow.id, updateLoginFlowBody: { method: 'password', identifier: 'ada@example.com', password: 'a long enough passphrase' } }),
    );
    expect(status).toBe(410);
    expect(body.error.id).toBe('self_service_flow_expired');
    expect(body.use_flow_id).toMatch(/^[0-9a-f-]{36}$/);
    const replacement = await k.frontend.getLoginFlow({ id: body.use_flow_id });
    expect(replacement.ui.messages?.[0]?.id).toBe(4010001);
  });

  it('logs out an API session', async () => {
    const { session_token } = await login('ada@example.com', 'a long enough passphrase');
    await k.frontend.performNativeLogout({ performNativeLogoutBody: { session_token: session_token! } });
    const { status, body } = await errorBody(k.frontend.toSession({ xSessionToken: session_token }));
    expect(status).toBe(401);
    expect(body.error.id).toBe('session_inactive');
  });

  it('does not let an inactive identity log in', async () => {
    const reg = await register('gil@example.com');
    await k.identityApi.patchIdentity({ id: reg.identity.id, jsonPatch: [{ op: 'replace', path: '/state', value: 'inactive' }] });
    expect(messageIds((await errorBody(login('gil@example.com', 'a long enough passphrase'))).body)).toContain(4010011);
  });
});

describe.each(DIALECTS)('bad input gets a 4xx in Kratos shape and writes nothing (%s)', (dialect) => {
  let k: TestKairos;
  beforeAll(async () => {
    k = await startKairos({ dialect, config: { serve: { public: { request_body_limit_bytes: 4096 } } } });
  });
  afterAll(async () => k?.close());

  const post = (path: string, body: string, contentType = 'application/json') =>
    fetch(k.publicUrl + path, { method: 'POST', headers: { 'content-type': contentType, accept: 'application/json' }, body });

  async function registrationFlowId(): Promise<string> {
    return (await k.frontend.createNativeRegistrationFlow()).id;
  }

  async function identityCount(): Promise<number> {
    const row = await k.deps.db.selectFrom('identities').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  it('malformed JSON → 400 envelope', async () => {
    const res = await post(`/self-service/registration?flow=${await registrationFlowId()}`, '{"method": "password", ');
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe(400);
  });

  it('unsupported content type → 415 envelope', async () => {
    const res = await post(`/self-service/registration?flow=${await registrationFlowId()}`, 'x', 'text/plain');
    expect(res.status).toBe(415);
    expect((await res.json()).error.code).toBe(415);
  });

  it('oversized body → 413 envelope', async () => {
    const res = await post(`/self-service/registration?flow=${await registrationFlowId()}`, JSON.stringify({ method: 'password', password: 'x'.repeat(10_000) }));
    expect(res.status).toBe(413);
    expect((await res.json()).error.code).toBe(413);
  });

  it('a JSON array body → 400 envelope', async () => {
    const res = await post(`/self-service/registration?flow=${await registrationFlowId()}`, '[1,2]');
    expect(res.status).toBe(400);
  });

  it('wrong field types → 400 flow with messages, no identity written', async () => {
    const before = await identityCount();
    const res = await post(`/self-service/registration?flow=${await registrationFlowId()}`, JSON.stringify({ method: 'password', traits: 'nope', password: 42 }));
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.ui).toBeDefined();
    expect(await identityCount()).toBe(before);
  });

  it('unknown flow id → 404, malformed flow id → 404, missing flow → 400', async () => {
    expect((await post('/self-service/login?flow=00000000-0000-4000-8000-000000000000', '{}')).status).toBe(404);
    expect((await post('/self-service/login?flow=not-a-uuid', '{}')).status).toBe(404);
    expect((await post('/self-service/login', '{}')).status).toBe(400);
  });

  it('a registration flow submitted to login → 404', async () => {
    const res = await post(`/self-service/login?flow=${await registrationFlowId()}`, JSON.stringify({ method: 'password' }));
    expect(res.status).toBe(404);
  });

  it('an unknown method → 400 with 4010002', async () => {
    const flow = await k.frontend.createNativeLoginFlow();
    const res = await post(`/self-service/login?flow=${flow.id}`, JSON.stringify({ method: 'carrier-pigeon' }));
    expect(res.status).toBe(400);
    expect(messageIds(await res.json())).toContain(4010002);
  });

  it('unknown routes → 404 envelope; a bad aal → 400', async () => {
    const res = await fetch(k.publicUrl + '/nope');
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe(404);
    expect((await fetch(k.publicUrl + '/self-service/login/api?aal=aal9')).status).toBe(400);
  });

  it('admin: identity violating its schema → 400, nothing written', async () => {
    const before = await identityCount();
    const res = await fetch(k.adminUrl + '/admin/identities', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ schema_id: 'default', traits: { email: 12 } }) });
    expect(res.status).toBe(400);
    expect(await identityCount()).toBe(before);
  });

  it('admin: a bad password hash import → 400, nothing written', async () => {
    const before = await identityCount();
    const res = await fetch(k.adminUrl + '/admin/identities', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ schema_id: 'default', traits: { email: 'imp@example.com' }, credentials: { password: { config: { hashed_password: 'md5:abc' } } } }),
    });
    expect(res.status).toBe(400);
    expect(await identityCount()).toBe(before);
  });
});
