/**
 * Passkeys (Kratos's `passkey` method) through the real HTTP API with @ory/client-fetch, on SQLite and PostgreSQL:
 * added in settings, then a passwordless sign-in with the discoverable credential (aal1, as Kratos counts it).
 * Keys come from the honest software authenticator (test/support/software-authenticator.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { registerWithPassword } from '../support/users.js';
import { errorBody, messageIds } from '../support/flows.js';
import { SoftwareAuthenticator } from '../support/software-authenticator.js';

const PASSWORD = 'a long enough passphrase';
const ORIGIN = 'https://app.example.test';
const PASSKEY_ON = { selfservice: { methods: { passkey: { enabled: true, config: { rp: { id: 'example.test', display_name: 'Kairos Test', origins: [ORIGIN] } } } } } };

const node = (flow: any, name: string) => flow.ui.nodes.find((n: any) => n.attributes.name === name || n.attributes.id === name);

describe.each(DIALECTS)('passkeys (%s)', (dialect) => {
  let k: TestKairos;
  let counter = 0;
  beforeAll(async () => {
    k = await startKairos({ dialect, config: PASSKEY_ON });
  });
  afterAll(async () => k?.close());

  async function withPasskey() {
    const user = await registerWithPassword(k, `pk${++counter}-${Math.random().toString(36).slice(2, 8)}@example.com`, PASSWORD);
    const authenticator = new SoftwareAuthenticator(ORIGIN);
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    expect(node(flow, 'passkey_register_trigger').attributes.onclickTrigger).toBe('oryPasskeySettingsRegistration');
    const options = JSON.parse(node(flow, 'passkey_create_data').attributes.value);
    expect(options.publicKey.authenticatorSelection).toMatchObject({ residentKey: 'required', userVerification: 'required' });
    const saved = await k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'passkey', passkey_settings_register: authenticator.create(options) } });
    expect(saved.state).toBe('success');
    return { user, authenticator, saved };
  }

  it('adds a passkey in settings and signs in with it, without identifier or password, at aal1 (as Kratos)', async () => {
    const { user, authenticator, saved } = await withPasskey();
    expect(node(saved, 'passkey_remove').meta.label.id).toBe(1050020);
    const login = await k.frontend.createNativeLoginFlow();
    expect(node(login, 'passkey_login_trigger').attributes.onclickTrigger).toBe('oryPasskeyLogin');
    const challenge = JSON.parse(node(login, 'passkey_challenge').attributes.value);
    expect(challenge.publicKey.allowCredentials ?? []).toEqual([]);
    const done = await k.frontend.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'passkey', passkey_login: authenticator.get(challenge) } });
    expect(done.session.identity?.id).toBe(user.identityId);
    expect(done.session.authenticator_assurance_level).toBe('aal1');
    expect(done.session.authentication_methods?.map((m) => m.method)).toEqual(['passkey']);
  });

  it('threat: a passkey answer signed for another RP ID or by an unknown key signs no one in', async () => {
    const { authenticator } = await withPasskey();
    const login = await k.frontend.createNativeLoginFlow();
    const challenge = JSON.parse(node(login, 'passkey_challenge').attributes.value);
    const other = await errorBody(k.frontend.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'passkey', passkey_login: authenticator.get(challenge, { rpId: 'evil.example' }) } }));
    expect(other.status).toBe(400);
    expect(messageIds(other.body)).toEqual(expect.arrayContaining([4000043, 4900604]));
    const stranger = new SoftwareAuthenticator(ORIGIN);
    stranger.create({ publicKey: { rp: { id: 'example.test' }, user: { id: 'AAAA' }, challenge: 'AA' } });
    const fresh = JSON.parse(node(other.body, 'passkey_challenge').attributes.value);
    const unknown = await errorBody(k.frontend.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'passkey', passkey_login: stranger.get(fresh) } }));
    expect(messageIds(unknown.body)).toContain(4900605);
  });

  it('threat: a re-authentication (refresh) cannot switch the session to another person\'s passkey', async () => {
    const { authenticator } = await withPasskey();
    const other = await registerWithPassword(k, `pk-other-${Math.random().toString(36).slice(2, 8)}@example.com`, PASSWORD);
    const refresh = await k.frontend.createNativeLoginFlow({ refresh: true, xSessionToken: other.token });
    const challenge = JSON.parse(node(refresh, 'passkey_challenge').attributes.value);
    const refused = await errorBody(k.frontend.updateLoginFlow({ flow: refresh.id, xSessionToken: other.token, updateLoginFlowBody: { method: 'passkey', passkey_login: authenticator.get(challenge) } }));
    expect(refused.status).toBe(400);
    expect(messageIds(refused.body)).toContain(4900605);
  });

  it('removes a passkey in settings (the identity keeps its password); the passkey credential goes with the last one', async () => {
    const { user, saved } = await withPasskey();
    const removed = await k.frontend.updateSettingsFlow({ flow: saved.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'passkey', passkey_remove: node(saved, 'passkey_remove').attributes.value } });
    expect(removed.state).toBe('success');
    const identity = await k.identityApi.getIdentity({ id: user.identityId });
    expect(Object.keys(identity.credentials ?? {})).not.toContain('passkey');
  });
});
