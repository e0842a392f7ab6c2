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

  describe('sign-up with a passkey (Kratos\'s passkey registration)', () => {
    /** What Kratos's webauthn.js does: name the passkey after the first filled display-name field, then create it. */
    const createFor = (authenticator: SoftwareAuthenticator, flow: any, email: string) => {
      const data = JSON.parse(node(flow, 'passkey_create_data').attributes.value);
      const options = JSON.parse(JSON.stringify(data.credentialOptions));
      options.publicKey.user.name = email;
      options.publicKey.user.displayName = email;
      return authenticator.create(options);
    };

    it('offers Kratos\'s nodes: passkey_create_data {credentialOptions, displayNameFieldName(s)}, the trigger (1040007) and passkey_register', async () => {
      const flow = await k.frontend.createNativeRegistrationFlow();
      const passkey = flow.ui.nodes.filter((n: any) => n.group === 'passkey').map((n: any) => `${n.attributes.name ?? n.attributes.id}:${n.attributes.type ?? n.type}`);
      expect(passkey).toEqual(['passkey_create_data:hidden', 'passkey_register_trigger:button', 'webauthn_script:text/javascript', 'passkey_register:hidden']);
      const data = JSON.parse(node(flow, 'passkey_create_data').attributes.value);
      expect(data.displayNameFieldName).toBe('traits.email');
      expect(data.displayNameFieldNames).toEqual(['traits.email']);
      expect(data.credentialOptions.publicKey.authenticatorSelection).toMatchObject({ residentKey: 'required', userVerification: 'required' });
      expect(data.credentialOptions.publicKey.rp).toMatchObject({ id: 'example.test' });
      expect(node(flow, 'passkey_register_trigger').attributes.onclickTrigger).toBe('oryPasskeyRegistration');
      expect(node(flow, 'passkey_register_trigger').meta.label.id).toBe(1040007);
      // The password method is still there: the person chooses.
      expect(node(flow, 'password')).toBeDefined();
    });

    it('signs up without a password: the identity has a passkey and nothing else, the session is aal1, and the passkey signs in again', async () => {
      const email = `pk-signup${++counter}-${dialect}@example.com`;
      const authenticator = new SoftwareAuthenticator(ORIGIN);
      const flow = await k.frontend.createNativeRegistrationFlow();
      const done = await k.frontend.updateRegistrationFlow({ flow: flow.id, updateRegistrationFlowBody: { method: 'passkey', traits: { email }, passkey_register: createFor(authenticator, flow, email) } as never });
      expect(done.session!.authenticator_assurance_level).toBe('aal1');
      expect(done.session!.authentication_methods?.map((m) => m.method)).toEqual(['passkey']);
      const identity = await k.identityApi.getIdentity({ id: done.identity.id, includeCredential: ['passkey'] });
      expect(Object.keys(identity.credentials ?? {})).toEqual(['passkey']);
      expect(identity.traits).toEqual({ email });
      // The key was created for the identity's own user handle (its id's 16 bytes), like a passkey added in settings.
      const data = JSON.parse(node(flow, 'passkey_create_data').attributes.value);
      expect(Buffer.from(data.credentialOptions.publicKey.user.id, 'base64url').toString('hex')).toBe(done.identity.id.replace(/-/g, ''));
      const events = (await (await fetch(`${k.adminUrl}/admin/audit-events?identity_id=${done.identity.id}`)).json()) as any[];
      expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['registration.succeeded', 'identity.updated']));

      const login = await k.frontend.createNativeLoginFlow();
      const challenge = JSON.parse(node(login, 'passkey_challenge').attributes.value);
      const again = await k.frontend.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'passkey', passkey_login: authenticator.get(challenge) } });
      expect(again.session.identity?.id).toBe(done.identity.id);
      // Its only passkey is also its only way in: it cannot be removed.
      const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: again.session_token! });
      const remove = await errorBody(k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: again.session_token!, updateSettingsFlowBody: { method: 'passkey', passkey_remove: node(settings, 'passkey_remove').attributes.value } }));
      expect(messageIds(remove.body)).toContain(4900700);
    });

    it('invalid traits are refused before anything is stored; the flow keeps what was typed', async () => {
      const authenticator = new SoftwareAuthenticator(ORIGIN);
      const flow = await k.frontend.createNativeRegistrationFlow();
      const refused = await errorBody(k.frontend.updateRegistrationFlow({ flow: flow.id, updateRegistrationFlowBody: { method: 'passkey', traits: { email: 'not an address' }, passkey_register: createFor(authenticator, flow, 'x') } as never }));
      expect(refused.status).toBe(400);
      expect(node(refused.body, 'traits.email').messages.map((m: any) => m.id)).toEqual([4000004]);
      expect(node(refused.body, 'traits.email').attributes.value).toBe('not an address');
      expect(await k.deps.db.selectFrom('webauthn_keys').select('id').where('key_id', '=', Buffer.from(authenticator.keys[0]!.keyId).toString('base64url')).execute()).toEqual([]);
    });

    it('threat: an answer to another flow\'s challenge, or one a browser refused, creates no identity', async () => {
      const authenticator = new SoftwareAuthenticator(ORIGIN);
      const mine = await k.frontend.createNativeRegistrationFlow();
      const other = await k.frontend.createNativeRegistrationFlow();
      const email = `pk-replay${++counter}-${dialect}@example.com`;
      const replayed = await errorBody(k.frontend.updateRegistrationFlow({ flow: mine.id, updateRegistrationFlowBody: { method: 'passkey', traits: { email }, passkey_register: createFor(authenticator, other, email) } as never }));
      expect(replayed.status).toBe(400);
      expect(messageIds(replayed.body)).toEqual(expect.arrayContaining([4000043, 4900601]));
      const refused = await errorBody(k.frontend.updateRegistrationFlow({ flow: mine.id, updateRegistrationFlowBody: { method: 'passkey', traits: { email }, passkey_register: '{"client_error":"NotAllowedError"}' } as never }));
      expect(messageIds(refused.body)).toContain(4900609);
      const found = await k.identityApi.listIdentities({ credentialsIdentifier: email });
      expect(found).toEqual([]);
    });
  });
});
