/**
 * Passwordless security keys (Kratos's `webauthn` with `config.passwordless: true`) through the real HTTP API, on
 * SQLite and PostgreSQL: sign-up without a password, the identifier-first sign-in (identifier, then the key) in the
 * native shape (@ory/client-fetch) and the SPA / HTML shapes of browser flows, the aal1 Kratos assigns, settings, and
 * webauthn being no second factor while passwordless is on. Keys come from the honest software authenticator
 * (test/support/software-authenticator.ts); Chromium's virtual authenticator drives the hosted UI in
 * test/e2e/webauthn-passwordless.test.ts.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deepMerge } from '../../src/config/load.js';
import { createTestDatabase, DIALECTS, startKairos, type TestDatabase, type TestKairos } from '../support/harness.js';
import { loginWithPassword, registerWithPassword } from '../support/users.js';
import { errorBody, messageIds } from '../support/flows.js';
import { SoftwareAuthenticator } from '../support/software-authenticator.js';
import { BrowserClient, csrfTokenOf } from '../support/browser-client.js';

const PASSWORD = 'a long enough passphrase';
const ORIGIN = 'https://app.example.test';
const RP = { id: 'example.test', display_name: 'Kairos Test', origins: [ORIGIN] };
const PASSWORDLESS = { selfservice: { methods: { totp: { enabled: true }, webauthn: { enabled: true, config: { passwordless: true, rp: RP } } } } };
const SECOND_FACTOR = { selfservice: { methods: { totp: { enabled: true }, webauthn: { enabled: true, config: { passwordless: false, rp: RP } } } } };

const node = (flow: any, name: string) => flow.ui.nodes.find((n: any) => n.attributes.name === name || n.attributes.id === name);
const nodes = (flow: any, name: string) => flow.ui.nodes.filter((n: any) => n.attributes.name === name);
const optionsOf = (flow: any, trigger: string) => JSON.parse(node(flow, trigger).attributes.value);
const auditTypes = async (k: TestKairos, identityId: string): Promise<string[]> => {
  const events = await (await fetch(`${k.adminUrl}/admin/audit-events?identity_id=${identityId}`)).json();
  return (Array.isArray(events) ? events : events.events).map((e: any) => e.type);
};

describe.each(DIALECTS)('passwordless security keys (%s)', (dialect) => {
  let k: TestKairos;
  let database: TestDatabase;
  let counter = 0;
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    k = await startKairos({ dialect, database, config: PASSWORDLESS });
  });
  afterAll(async () => {
    await k?.close();
    await database?.drop();
  });

  const newEmail = (tag: string) => `${tag}${++counter}-${Math.random().toString(36).slice(2, 8)}@example.com`;

  /** Signs up natively with traits and a key, no password. */
  async function signUp(email = newEmail('pl'), authenticator = new SoftwareAuthenticator(ORIGIN), name = 'Blue key') {
    const flow = await k.frontend.createNativeRegistrationFlow();
    const done = await k.frontend.updateRegistrationFlow({
      flow: flow.id,
      updateRegistrationFlowBody: { method: 'webauthn', traits: { email }, webauthn_register: authenticator.create(optionsOf(flow, 'webauthn_register_trigger')), webauthn_register_displayname: name } as never,
    });
    return { email, authenticator, flow, done, identityId: done.identity.id, token: done.session_token! };
  }

  /** The identifier step, answered by the flow with the key step (native: 400 with the flow). */
  async function identifierStep(email: string) {
    const login = await k.frontend.createNativeLoginFlow();
    const step = await errorBody(k.frontend.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'webauthn', identifier: email } as never }));
    return { login, step };
  }

  function submitKey(flowId: string, identifier: string, answer: string, xSessionToken?: string) {
    return k.frontend.updateLoginFlow({ flow: flowId, ...(xSessionToken ? { xSessionToken } : {}), updateLoginFlowBody: { method: 'webauthn', identifier, webauthn_login: answer } });
  }

  it('offers Kratos\'s registration nodes and signs up without a password: webauthn only, found by the email, session aal1', async () => {
    const flow = await k.frontend.createNativeRegistrationFlow();
    const group = flow.ui.nodes.filter((n: any) => n.group === 'webauthn').map((n: any) => `${n.attributes.name ?? n.attributes.id}:${n.attributes.type}`);
    expect(group).toEqual(['webauthn_register_displayname:text', 'webauthn_register_trigger:button', 'webauthn_script:text/javascript', 'webauthn_register:hidden']);
    const trigger = node(flow, 'webauthn_register_trigger');
    expect(trigger.meta.label.id).toBe(1040004);
    expect(trigger.attributes.onclickTrigger).toBe('oryWebAuthnRegistration');
    expect(trigger.attributes.onclick).toMatch(/^window\.oryWebAuthnRegistration\(\{"publicKey"/);
    expect(optionsOf(flow, 'webauthn_register_trigger').publicKey.rp).toEqual({ id: 'example.test', name: 'Kairos Test' });

    const { email, done, identityId } = await signUp();
    expect(done.session!.authenticator_assurance_level).toBe('aal1');
    expect(done.session!.authentication_methods?.map((m) => [m.method, m.aal])).toEqual([['webauthn', 'aal1']]);
    const identity = await k.identityApi.getIdentity({ id: identityId, includeCredential: ['webauthn'] });
    expect(Object.keys(identity.credentials ?? {})).toEqual(['webauthn']);
    expect(identity.credentials!.webauthn!.identifiers).toEqual([email]);
    const config = identity.credentials!.webauthn!.config as any;
    expect(config.credentials).toHaveLength(1);
    expect(config.credentials[0]).toMatchObject({ is_passwordless: true, display_name: 'Blue key' });
    // The key was created for the identity's own user handle (its id's 16 bytes).
    expect(Buffer.from(optionsOf(flow, 'webauthn_register_trigger').publicKey.user.id, 'base64url').length).toBe(16);
    expect(await auditTypes(k, identityId)).toEqual(expect.arrayContaining(['registration.succeeded', 'identity.updated']));
  });

  it('signs in identifier-first (native): the identifier step answers with the key step, then the key alone signs in at aal1', async () => {
    const { email, authenticator, identityId } = await signUp();
    const login = await k.frontend.createNativeLoginFlow();
    // First step: the identifier and Kratos's `method: webauthn` button (1010008); no key challenge yet.
    expect(nodes(login, 'identifier')).toHaveLength(1);
    expect(nodes(login, 'method').map((n: any) => n.attributes.value)).toEqual(expect.arrayContaining(['password', 'webauthn']));
    expect(nodes(login, 'method').find((n: any) => n.attributes.value === 'webauthn').meta.label.id).toBe(1010008);
    expect(node(login, 'webauthn_login_trigger')).toBeUndefined();

    const step = await errorBody(k.frontend.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'webauthn', identifier: email.toUpperCase() } as never }));
    expect(step.status).toBe(400);
    expect(messageIds(step.body)).toEqual([1010012]);
    const names = step.body.ui.nodes.map((n: any) => n.attributes.name ?? n.attributes.id);
    expect(names).toEqual(['csrf_token', 'identifier', 'webauthn_script', 'webauthn_login_trigger', 'webauthn_login']);
    expect(node(step.body, 'identifier').attributes).toMatchObject({ type: 'hidden', value: email.toUpperCase() });
    const trigger = node(step.body, 'webauthn_login_trigger');
    expect(trigger.meta.label.id).toBe(1010013);
    expect(trigger.attributes.onclickTrigger).toBe('oryWebAuthnLogin');
    const options = JSON.parse(trigger.attributes.value);
    expect(options.publicKey.allowCredentials.map((c: any) => c.id)).toEqual([Buffer.from(authenticator.keys[0]!.keyId).toString('base64url')]);

    const done = await submitKey(login.id, email, authenticator.get(options));
    expect(done.session.identity?.id).toBe(identityId);
    expect(done.session.authenticator_assurance_level).toBe('aal1');
    expect(done.session.authentication_methods?.map((m) => [m.method, m.aal])).toEqual([['webauthn', 'aal1']]);
    // Kratos's AAL: a passwordless key is a first factor and no second factor exists, so whoami takes the session.
    const whoami = await k.frontend.toSession({ xSessionToken: done.session_token! });
    expect(whoami.authenticator_assurance_level).toBe('aal1');
    expect(await auditTypes(k, identityId)).toContain('login.succeeded');
  });

  it('SPA and HTML browser flows: the identifier step is 422 browser_location_change_required (JSON) or 303 (form) to the login UI', async () => {
    const { email, authenticator, identityId } = await signUp();
    const spa = new BrowserClient(k.publicUrl);
    const first = await spa.startFlow('login');
    const step = await spa.request(`/self-service/login?flow=${first.id}`, { method: 'POST', json: { method: 'webauthn', identifier: email, csrf_token: csrfTokenOf(first.flow) } });
    expect(step.status).toBe(422);
    const error = await step.json();
    expect(error.error.id).toBe('browser_location_change_required');
    expect(new URL(error.redirect_browser_to).searchParams.get('flow')).toBe(first.id);
    const flow = await (await spa.get(`/self-service/login/flows?id=${first.id}`, { accept: 'application/json' })).json();
    expect(messageIds(flow)).toEqual([1010012]);
    const done = await spa.request(`/self-service/login?flow=${first.id}`, { method: 'POST', json: { identifier: email, webauthn_login: authenticator.get(optionsOf(flow, 'webauthn_login_trigger')), csrf_token: csrfTokenOf(flow) } });
    expect(done.status).toBe(200);
    const body = await done.json();
    expect(body.session.identity.id).toBe(identityId);
    expect(body.session.authenticator_assurance_level).toBe('aal1');

    const html = new BrowserClient(k.publicUrl);
    const form = await html.startFlow('login');
    const redirect = await html.postForm(`/self-service/login?flow=${form.id}`, { method: 'webauthn', identifier: email, password: '', csrf_token: csrfTokenOf(form.flow) });
    expect(redirect.status).toBe(303);
    expect(new URL(redirect.headers.get('location')!).searchParams.get('flow')).toBe(form.id);
  });

  it('webauthn is no second factor while passwordless is on (Kratos): no aal2 nodes, no aal2 sign-in, and a key added in settings is a first factor', async () => {
    const user = await registerWithPassword(k, newEmail('pw'), PASSWORD);
    const authenticator = new SoftwareAuthenticator(ORIGIN);
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    const saved = await k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'webauthn', webauthn_register: authenticator.create(optionsOf(settings, 'webauthn_register_trigger')), webauthn_register_displayname: 'Desk key' } });
    // No recovery codes to confirm first: the key is not a second factor.
    expect(saved.state).toBe('success');
    const identity = await k.identityApi.getIdentity({ id: user.identityId, includeCredential: ['webauthn'] });
    expect((identity.credentials!.webauthn!.config as any).credentials[0].is_passwordless).toBe(true);
    expect(identity.credentials!.webauthn!.identifiers).toEqual([user.email]);

    // A password sign-in is complete at aal1: nothing to ask for at aal2, and webauthn is not offered there.
    const login = await loginWithPassword(k, user.email, PASSWORD);
    expect(login.session.authenticator_assurance_level).toBe('aal1');
    expect((await k.frontend.toSession({ xSessionToken: login.session_token! })).authenticator_assurance_level).toBe('aal1');
    const aal2 = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: login.session_token! });
    expect(aal2.ui.nodes.filter((n: any) => n.group === 'webauthn')).toEqual([]);
    const answer = authenticator.get({ publicKey: { challenge: 'AAAA', allowCredentials: [] } });
    const refused = await errorBody(k.frontend.updateLoginFlow({ flow: aal2.id, xSessionToken: login.session_token!, updateLoginFlowBody: { method: 'webauthn', identifier: '', webauthn_login: answer } }));
    expect(refused.status).toBe(400);
    expect((await k.frontend.toSession({ xSessionToken: login.session_token! })).authentication_methods?.map((m) => m.method)).toEqual(['password']);

    // The key it added signs in on its own.
    const { step } = await identifierStep(user.email);
    const done = await submitKey(step.body.id, user.email, authenticator.get(optionsOf(step.body, 'webauthn_login_trigger')));
    expect(done.session.authentication_methods?.map((m) => [m.method, m.aal])).toEqual([['webauthn', 'aal1']]);
  });

  it('settings: the only way in is shown disabled and cannot be removed; with a second key either can go', async () => {
    const { authenticator, token, identityId } = await signUp();
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: token });
    const names = settings.ui.nodes.filter((n: any) => n.group === 'webauthn').map((n: any) => n.attributes.name ?? n.attributes.id);
    expect(names).toEqual(['webauthn_keys', 'webauthn_remove', 'webauthn_script', 'webauthn_register_displayname', 'webauthn_register_trigger', 'webauthn_register']);
    expect(node(settings, 'webauthn_remove').attributes.disabled).toBe(true);
    expect(node(settings, 'webauthn_register_trigger').meta.label.id).toBe(1050012);
    const last = await errorBody(k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: token, updateSettingsFlowBody: { method: 'webauthn', webauthn_remove: node(settings, 'webauthn_remove').attributes.value } }));
    expect(last.status).toBe(400);
    expect(node(last.body, 'webauthn_remove').messages.map((m: any) => m.text)).toEqual(['unable to remove this security key because it would lock you out of your account']);

    const added = await k.frontend.updateSettingsFlow({ flow: last.body.id, xSessionToken: token, updateSettingsFlowBody: { method: 'webauthn', webauthn_register: authenticator.create(optionsOf(last.body, 'webauthn_register_trigger')), webauthn_register_displayname: 'Spare' } });
    expect(added.state).toBe('success');
    const removable = nodes(added, 'webauthn_remove');
    expect(removable.map((n: any) => n.attributes.disabled)).toEqual([false, false]);
    const blue = removable.find((n: any) => n.meta.label.context.display_name === 'Blue key');
    const removed = await k.frontend.updateSettingsFlow({ flow: added.id, xSessionToken: token, updateSettingsFlowBody: { method: 'webauthn', webauthn_remove: blue.attributes.value } });
    expect(removed.state).toBe('success');
    const identity = await k.identityApi.getIdentity({ id: identityId, includeCredential: ['webauthn'] });
    expect((identity.credentials!.webauthn!.config as any).credentials.map((c: any) => c.display_name)).toEqual(['Spare']);
    expect(await auditTypes(k, identityId)).toContain('credential.deleted');
  });

  it('the identifier follows the traits: after an email change the key signs in with the new address, and stays registered', async () => {
    const { email, authenticator, token } = await signUp();
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: token });
    const changed = newEmail('moved');
    const saved = await k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: token, updateSettingsFlowBody: { method: 'profile', traits: { email: changed } } });
    expect(saved.state).toBe('success');
    const old = await identifierStep(email);
    expect(messageIds(old.step.body)).toEqual([4000015]);
    const { step } = await identifierStep(changed);
    const done = await submitKey(step.body.id, changed, authenticator.get(optionsOf(step.body, 'webauthn_login_trigger')));
    expect(done.session.authenticator_assurance_level).toBe('aal1');
  });

  it('refuses what it must, explained: an unknown identifier (as a person without a key), no identifier, invalid traits at sign-up', async () => {
    const unknown = await identifierStep(newEmail('nobody'));
    expect(unknown.step.status).toBe(400);
    expect(messageIds(unknown.step.body)).toEqual([4000015]);
    expect(node(unknown.step.body, 'identifier').attributes.value).toMatch(/^nobody/);
    // A person with a password and no key gets the very same answer.
    const passwordOnly = await registerWithPassword(k, newEmail('nokey'), PASSWORD);
    expect(messageIds((await identifierStep(passwordOnly.email)).step.body)).toEqual([4000015]);
    const login = await k.frontend.createNativeLoginFlow();
    const missing = await errorBody(k.frontend.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'webauthn', identifier: '' } as never }));
    expect(node(missing.body, 'identifier').messages.map((m: any) => m.id)).toEqual([4000002]);

    const flow = await k.frontend.createNativeRegistrationFlow();
    const invalid = await errorBody(k.frontend.updateRegistrationFlow({ flow: flow.id, updateRegistrationFlowBody: { method: 'webauthn', traits: { email: 'not an address' }, webauthn_register: new SoftwareAuthenticator(ORIGIN).create(optionsOf(flow, 'webauthn_register_trigger')) } as never }));
    expect(invalid.status).toBe(400);
    expect(node(invalid.body, 'traits.email').messages.map((m: any) => m.id)).toEqual([4000004]);
  });

  it('a schema without a `credentials.webauthn.identifier` trait cannot sign up with a key (Kratos\'s 4000009): nothing is stored', async () => {
    const schema = JSON.parse(readFileSync(new URL('../../src/config/default-identity.schema.json', import.meta.url), 'utf8'));
    delete schema.properties.traits.properties.email['ory.sh/kratos'].credentials.webauthn;
    const url = `base64://${Buffer.from(JSON.stringify(schema)).toString('base64')}`;
    const other = await startKairos({ dialect, config: deepMerge(PASSWORDLESS, { identity: { default_schema_id: 'nokey', schemas: [{ id: 'nokey', url }] } }) });
    try {
      const flow = await other.frontend.createNativeRegistrationFlow();
      const email = newEmail('noid');
      const refused = await errorBody(other.frontend.updateRegistrationFlow({ flow: flow.id, updateRegistrationFlowBody: { method: 'webauthn', traits: { email }, webauthn_register: new SoftwareAuthenticator(ORIGIN).create(optionsOf(flow, 'webauthn_register_trigger')) } as never }));
      expect(refused.status).toBe(400);
      expect(messageIds(refused.body)).toEqual([4000009]);
      expect(await other.identityApi.listIdentities({ credentialsIdentifier: email })).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it('threat: a key answering for another domain (phishing proxy) is refused, explained, logged, counted and audited', async () => {
    const { email, authenticator, identityId } = await signUp();
    const { login, step } = await identifierStep(email);
    const answer = authenticator.get(optionsOf(step.body, 'webauthn_login_trigger'), { rpId: 'evil.example' });
    const refused = await errorBody(submitKey(login.id, email, answer));
    expect(refused.status).toBe(400);
    expect(messageIds(refused.body)).toEqual(expect.arrayContaining([4000043, 4900604]));
    // The next try has a fresh challenge and still knows the identifier.
    expect(node(refused.body, 'identifier').attributes.value).toBe(email);
    expect(optionsOf(refused.body, 'webauthn_login_trigger').publicKey.challenge).not.toBe(optionsOf(step.body, 'webauthn_login_trigger').publicKey.challenge);
    expect(k.logs.text()).toContain('"cause":"rp_id_mismatch"');
    const metrics = await (await fetch(`${k.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/kairos_webauthn_rejections_total\{cause="rp_id_mismatch",ceremony="login",method="webauthn"\} \d/);
    expect(await auditTypes(k, identityId)).toContain('second_factor.rejected');
  });

  it('threat: a cloned key (signature counter not growing) is refused and audited', async () => {
    const { email, authenticator, identityId } = await signUp();
    let { login, step } = await identifierStep(email);
    await submitKey(login.id, email, authenticator.get(optionsOf(step.body, 'webauthn_login_trigger')));
    ({ login, step } = await identifierStep(email));
    const cloned = await errorBody(submitKey(login.id, email, authenticator.get(optionsOf(step.body, 'webauthn_login_trigger'), { signCount: 1 })));
    expect(messageIds(cloned.body)).toContain(4900607);
    expect(await auditTypes(k, identityId)).toContain('second_factor.clone_detected');
  });

  it('threat: wrong answers are bounded per flow, yet someone who only knows the email cannot lock the account', async () => {
    const { email, authenticator, identityId } = await signUp();
    const { login, step } = await identifierStep(email);
    let flow: any = step.body;
    for (let i = 0; i < 5; i++) flow = (await errorBody(submitKey(login.id, email, authenticator.get(optionsOf(flow, 'webauthn_login_trigger'), { rpId: 'evil.example' })))).body;
    const spent = await errorBody(submitKey(login.id, email, authenticator.get(optionsOf(flow, 'webauthn_login_trigger'))));
    expect(messageIds(spent.body)).toContain(4900102);
    // The identity's own counter did not move: the owner signs in with a new flow.
    const mfa = await (await fetch(`${k.adminUrl}/admin/identities/${identityId}/mfa`)).json();
    expect(mfa.lockout.consecutive_failures).toBe(0);
    const again = await identifierStep(email);
    const done = await submitKey(again.login.id, email, authenticator.get(optionsOf(again.step.body, 'webauthn_login_trigger')));
    expect(done.session.identity?.id).toBe(identityId);
  });

  it('threat: a re-authentication (refresh) asks the session\'s own keys and cannot switch to another person\'s key', async () => {
    const mine = await signUp();
    const theirs = await signUp();
    const refresh = await k.frontend.createNativeLoginFlow({ refresh: true, xSessionToken: mine.token });
    const options = optionsOf(refresh, 'webauthn_login_trigger');
    expect(options.publicKey.allowCredentials.map((c: any) => c.id)).toEqual([Buffer.from(mine.authenticator.keys[0]!.keyId).toString('base64url')]);
    const refused = await errorBody(submitKey(refresh.id, theirs.email, theirs.authenticator.get(options, { key: theirs.authenticator.keys[0] }), mine.token));
    expect(messageIds(refused.body)).toContain(4900605);
    const fresh = optionsOf(refused.body, 'webauthn_login_trigger');
    const done = await submitKey(refresh.id, '', mine.authenticator.get(fresh), mine.token);
    expect(done.session.identity?.id).toBe(mine.identityId);
  });

  it('threat: a key registered as a second factor before passwordless was turned on does not sign in on its own', async () => {
    // The same database, first served with webauthn as a second factor.
    const mfa = await startKairos({ dialect, database, config: SECOND_FACTOR });
    const secondFactorKey = new SoftwareAuthenticator(ORIGIN);
    let user: Awaited<ReturnType<typeof registerWithPassword>>;
    try {
      user = await registerWithPassword(mfa, newEmail('legacy'), PASSWORD);
      const settings = await mfa.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
      let saved = await mfa.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'webauthn', webauthn_register: secondFactorKey.create(optionsOf(settings, 'webauthn_register_trigger')) } });
      if (saved.state !== 'success') {
        saved = await mfa.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_confirm: true, transient_payload: { lookup_secret_acknowledged: true } } });
      }
      expect(saved.state).toBe('success');
    } finally {
      await mfa.close();
    }
    // Passwordless now: the person adds a key, which is a passwordless one; the credential is found by the email.
    const passwordlessKey = new SoftwareAuthenticator(ORIGIN);
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    const added = await k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'webauthn', webauthn_register: passwordlessKey.create(optionsOf(settings, 'webauthn_register_trigger')) } });
    expect(added.state).toBe('success');
    const identity = await k.identityApi.getIdentity({ id: user.identityId, includeCredential: ['webauthn'] });
    expect((identity.credentials!.webauthn!.config as any).credentials.map((c: any) => c.is_passwordless)).toEqual(expect.arrayContaining([false, true]));

    // Kratos's ToWebAuthnFiltered(aal1): only the passwordless key is asked for, and only it answers.
    const { login, step } = await identifierStep(user.email);
    const options = optionsOf(step.body, 'webauthn_login_trigger');
    expect(options.publicKey.allowCredentials.map((c: any) => c.id)).toEqual([Buffer.from(passwordlessKey.keys[0]!.keyId).toString('base64url')]);
    const refused = await errorBody(submitKey(login.id, user.email, secondFactorKey.get(options, { key: secondFactorKey.keys[0] })));
    expect(messageIds(refused.body)).toEqual(expect.arrayContaining([4000043, 4900605]));
    const done = await submitKey(login.id, user.email, passwordlessKey.get(optionsOf(refused.body, 'webauthn_login_trigger')));
    expect(done.session.authentication_methods?.map((m) => [m.method, m.aal])).toEqual([['webauthn', 'aal1']]);
  });
});

describe.each(DIALECTS)('passkeys beside passwordless security keys (%s)', (dialect) => {
  let k: TestKairos;
  beforeAll(async () => {
    k = await startKairos({ dialect, config: deepMerge(PASSWORDLESS, { selfservice: { methods: { passkey: { enabled: true, config: { rp: RP } } } } }) });
  });
  afterAll(async () => k?.close());

  it('a passkey is not the last way in while a passwordless security key remains (Kratos counts both): it can be removed', async () => {
    const key = new SoftwareAuthenticator(ORIGIN);
    const registration = await k.frontend.createNativeRegistrationFlow();
    const email = `both-${Math.random().toString(36).slice(2, 8)}@example.com`;
    const done = await k.frontend.updateRegistrationFlow({
      flow: registration.id,
      updateRegistrationFlowBody: { method: 'webauthn', traits: { email }, webauthn_register: key.create(optionsOf(registration, 'webauthn_register_trigger')), webauthn_register_displayname: 'Drawer key' } as never,
    });
    const token = done.session_token!;
    const phone = new SoftwareAuthenticator(ORIGIN);
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: token });
    const added = await k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: token, updateSettingsFlowBody: { method: 'passkey', passkey_settings_register: phone.create(JSON.parse(node(settings, 'passkey_create_data').attributes.value)) } });
    expect(added.state).toBe('success');
    const remove = node(added, 'passkey_remove');
    expect(remove.attributes.disabled).toBe(false);
    const removed = await k.frontend.updateSettingsFlow({ flow: added.id, xSessionToken: token, updateSettingsFlowBody: { method: 'passkey', passkey_remove: remove.attributes.value } });
    expect(removed.state).toBe('success');
    expect(nodes(removed, 'passkey_remove')).toHaveLength(0);
    // The security key is now the only way in again: shown disabled.
    expect(node(removed, 'webauthn_remove').attributes.disabled).toBe(true);
  });
});
