/**
 * WebAuthn as a second factor through the real HTTP API with @ory/client-fetch (native flows, and the SPA JSON shape
 * of browser flows), on SQLite and PostgreSQL. Keys are made by an honest software authenticator
 * (test/support/software-authenticator.ts): real attestation and assertion objects, verified by the server's real
 * verifier. Chromium's virtual authenticator drives the hosted UI in test/e2e/webauthn.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { loginWithPassword, registerWithPassword } from '../support/users.js';
import { errorBody, messageIds } from '../support/flows.js';
import { SoftwareAuthenticator } from '../support/software-authenticator.js';
import { BrowserClient, csrfTokenOf } from '../support/browser-client.js';
import { submitTotpEnrollment } from '../support/enroll.js';
import { totpCodeNow } from '../support/totp.js';
import { secretOf } from '../support/flows.js';

const PASSWORD = 'a long enough passphrase';
const ORIGIN = 'https://app.example.test';
const WEBAUTHN_ON = { selfservice: { methods: { totp: { enabled: true }, webauthn: { enabled: true, config: { rp: { id: 'example.test', display_name: 'Kairos Test', origins: [ORIGIN] } } } } } };

const node = (flow: any, name: string) => flow.ui.nodes.find((n: any) => n.attributes.name === name || n.attributes.id === name);
const optionsOf = (flow: any, trigger: string) => JSON.parse(node(flow, trigger).attributes.value);

describe.each(DIALECTS)('WebAuthn second factor (%s)', (dialect) => {
  let k: TestKairos;
  let counter = 0;
  beforeAll(async () => {
    k = await startKairos({ dialect, config: WEBAUTHN_ON });
  });
  afterAll(async () => k?.close());

  async function register() {
    const email = `key${++counter}-${Math.random().toString(36).slice(2, 8)}@example.com`;
    return registerWithPassword(k, email, PASSWORD);
  }

  /** Registers a key in a native settings flow, confirming the recovery codes when they are shown. */
  async function addKey(token: string, authenticator: SoftwareAuthenticator, name: string) {
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: token });
    const answer = authenticator.create(optionsOf(flow, 'webauthn_register_trigger'));
    let saved = await k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: token, updateSettingsFlowBody: { method: 'webauthn', webauthn_register: answer, webauthn_register_displayname: name } });
    const codesShown = saved.state !== 'success';
    if (codesShown) {
      saved = await k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: token, updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_confirm: true, transient_payload: { lookup_secret_acknowledged: true } } });
    }
    return { saved, codesShown };
  }

  async function aal2Flow(token: string) {
    return k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: token });
  }

  function submitKey(flowId: string, token: string, answer: string) {
    return k.frontend.updateLoginFlow({ flow: flowId, xSessionToken: token, updateLoginFlowBody: { method: 'webauthn', identifier: '', webauthn_login: answer } });
  }

  it('registers a key in Kratos\'s settings nodes, with recovery codes confirmed at this first second factor, then signs in with it as aal2', async () => {
    const user = await register();
    const authenticator = new SoftwareAuthenticator(ORIGIN);
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    const names = settings.ui.nodes.filter((n: any) => n.group === 'webauthn').map((n: any) => n.attributes.name ?? n.attributes.id);
    expect(names).toEqual(['webauthn_script', 'webauthn_register_displayname', 'webauthn_register_trigger', 'webauthn_register']);
    const script = node(settings, 'webauthn_script');
    expect(script.type).toBe('script');
    expect(script.attributes.src).toBe(`${k.publicUrl}/.well-known/ory/webauthn.js`);
    expect(script.attributes.integrity).toMatch(/^sha512-/);
    const trigger = node(settings, 'webauthn_register_trigger').attributes;
    expect(trigger.onclickTrigger).toBe('oryWebAuthnRegistration');
    expect(trigger.onclick).toMatch(/^window\.oryWebAuthnRegistration\(\{"publicKey"/);
    const options = JSON.parse(trigger.value).publicKey;
    expect(options.rp).toEqual({ id: 'example.test', name: 'Kairos Test' });
    expect(options.attestation).toBe('none');
    // The served script is the one the node names (its integrity matches).
    const served = await fetch(script.attributes.src);
    expect(served.headers.get('content-type')).toMatch(/javascript/);
    const { createHash } = await import('node:crypto');
    expect(`sha512-${createHash('sha512').update(await served.text()).digest('base64')}`).toBe(script.attributes.integrity);

    const { saved, codesShown } = await addKey(user.token, authenticator, 'Blue key');
    expect(codesShown).toBe(true);
    expect(saved.state).toBe('success');
    const whoami = await k.frontend.toSession({ xSessionToken: user.token });
    expect(whoami.authenticator_assurance_level).toBe('aal2');
    expect(whoami.authentication_methods?.map((m) => m.method)).toContain('webauthn');

    // Sign out (a new password login) and complete aal2 with the key.
    const login = await loginWithPassword(k, user.email, PASSWORD);
    const aal1 = login.session_token!;
    expect(login.session.authenticator_assurance_level).toBe('aal1');
    const flow = await aal2Flow(aal1);
    const loginTrigger = node(flow, 'webauthn_login_trigger').attributes;
    expect(loginTrigger.onclickTrigger).toBe('oryWebAuthnLogin');
    expect(node(flow, 'webauthn_login').attributes.type).toBe('hidden');
    const done = await submitKey(flow.id, aal1, authenticator.get(JSON.parse(loginTrigger.value)));
    expect(done.session.authenticator_assurance_level).toBe('aal2');
    expect(done.session.authentication_methods?.map((m) => m.method)).toEqual(['password', 'webauthn']);

    // Settings list the key with its dates.
    const after = await k.frontend.createNativeSettingsFlow({ xSessionToken: aal1 });
    const list = node(after, 'webauthn_keys').attributes.text.context.keys;
    expect(list).toHaveLength(1);
    expect(list[0].display_name).toBe('Blue key');
    expect(list[0].last_used_at).not.toBeNull();
    expect(node(after, 'webauthn_remove').meta.label.id).toBe(1050018);
  });

  it('several keys per identity; a second key needs no new recovery codes', async () => {
    const user = await register();
    const first = new SoftwareAuthenticator(ORIGIN);
    const second = new SoftwareAuthenticator(ORIGIN);
    await addKey(user.token, first, 'Home');
    k.clock.advanceSeconds(60);
    const { saved, codesShown } = await addKey(user.token, second, 'Drawer backup');
    expect(codesShown).toBe(false);
    expect(saved.state).toBe('success');
    const removes = saved.ui.nodes.filter((n: any) => n.attributes.name === 'webauthn_remove');
    expect(removes.map((n: any) => n.meta.label.context.display_name)).toEqual(['Home', 'Drawer backup']);
    // The second key alone completes aal2 (the backup in the drawer).
    const login = await loginWithPassword(k, user.email, PASSWORD);
    const flow = await aal2Flow(login.session_token!);
    const options = optionsOf(flow, 'webauthn_login_trigger');
    expect(options.publicKey.allowCredentials).toHaveLength(2);
    const done = await submitKey(flow.id, login.session_token!, second.get(options));
    expect(done.session.authenticator_assurance_level).toBe('aal2');
  });

  it('a key kept as a backup beside the authenticator app: the second-factor page offers every factor, and the key alone completes aal2', async () => {
    const user = await register();
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    await submitTotpEnrollment(k, { flowId: settings.id, token: user.token, code: totpCodeNow(k, secretOf(settings)) });
    // The session is aal2 (TOTP), the identity already has recovery codes: the key is added directly.
    const backup = new SoftwareAuthenticator(ORIGIN);
    const { saved, codesShown } = await addKey(user.token, backup, 'Backup key');
    expect(codesShown).toBe(false);
    expect(saved.state).toBe('success');
    const login = await loginWithPassword(k, user.email, PASSWORD);
    const flow = await aal2Flow(login.session_token!);
    const groups = [...new Set(flow.ui.nodes.map((n: any) => n.group))];
    expect(groups).toEqual(['default', 'webauthn', 'totp', 'lookup_secret']);
    // The phone is lost: the key in the drawer signs in.
    const done = await submitKey(flow.id, login.session_token!, backup.get(optionsOf(flow, 'webauthn_login_trigger')));
    expect(done.session.authenticator_assurance_level).toBe('aal2');

    // No helpdesk: right after the key, the authenticator app of the lost phone is removed without a code from it
    // (the key just proved a second factor), and a new phone is set up.
    const token = login.session_token!;
    const unlinkFlow = await k.frontend.createNativeSettingsFlow({ xSessionToken: token });
    const unlinked = await k.frontend.updateSettingsFlow({ flow: unlinkFlow.id, xSessionToken: token, updateSettingsFlowBody: { method: 'totp', totp_unlink: true } });
    expect(unlinked.state).toBe('success');
    const removed = ((await (await fetch(`${k.adminUrl}/admin/audit-events?identity_id=${user.identityId}&type=second_factor.removed`)).json()) as any[]).at(-1);
    expect(removed.details).toMatchObject({ method: 'totp', proven_by: 'webauthn' });
    const newPhone = await k.frontend.createNativeSettingsFlow({ xSessionToken: token });
    const enrolled = await submitTotpEnrollment(k, { flowId: newPhone.id, token, code: totpCodeNow(k, secretOf(newPhone)) });
    expect(enrolled.state).toBe('success');
  });

  it('threat: without a fresh other second factor in the session, removing the authenticator app still needs its code', async () => {
    const user = await register();
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    await submitTotpEnrollment(k, { flowId: settings.id, token: user.token, code: totpCodeNow(k, secretOf(settings)) });
    const backup = new SoftwareAuthenticator(ORIGIN);
    await addKey(user.token, backup, 'Backup key');
    // A new session that proved TOTP (not another factor): no code, no removal. (Adding a key needs aal2 already,
    // so a session that added one had proven a second factor before.)
    k.clock.advanceSeconds(30);
    const viaTotp = await loginWithPassword(k, user.email, PASSWORD);
    const totpStep = await aal2Flow(viaTotp.session_token!);
    await k.frontend.updateLoginFlow({ flow: totpStep.id, xSessionToken: viaTotp.session_token!, updateLoginFlowBody: { method: 'totp', totp_code: totpCodeNow(k, secretOf(settings)) } });
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: viaTotp.session_token! });
    const refused = await errorBody(k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: viaTotp.session_token!, updateSettingsFlowBody: { method: 'totp', totp_unlink: true } }));
    expect(refused.status).toBe(400);
    expect(refused.body.ui.nodes.find((n: any) => n.attributes.name === 'totp_code').messages.map((m: any) => m.id)).toEqual([4000002]);
    // A key step older than the privileged window does not count either.
    const login = await loginWithPassword(k, user.email, PASSWORD);
    const aal2 = await aal2Flow(login.session_token!);
    await submitKey(aal2.id, login.session_token!, backup.get(optionsOf(aal2, 'webauthn_login_trigger')));
    k.clock.advanceSeconds(16 * 60);
    const stale = await errorBody(k.frontend.updateSettingsFlow({ flow: (await k.frontend.createNativeSettingsFlow({ xSessionToken: login.session_token! })).id, xSessionToken: login.session_token!, updateSettingsFlowBody: { method: 'totp', totp_unlink: true } }));
    expect(stale.status).toBeGreaterThanOrEqual(400);
    expect((await k.identityApi.getIdentity({ id: user.identityId })).credentials?.totp).toBeDefined();
  });

  it('threat: a key answering for another domain (phishing proxy, wrong RP ID) is refused and explained', async () => {
    const user = await register();
    const authenticator = new SoftwareAuthenticator(ORIGIN);
    await addKey(user.token, authenticator, 'Key');
    const login = await loginWithPassword(k, user.email, PASSWORD);
    const flow = await aal2Flow(login.session_token!);
    const answer = authenticator.get(optionsOf(flow, 'webauthn_login_trigger'), { rpId: 'evil.example' });
    const { status, body } = await errorBody(submitKey(flow.id, login.session_token!, answer));
    expect(status).toBe(400);
    expect(messageIds(body)).toEqual(expect.arrayContaining([4000043, 4900604]));
    expect(body.ui.messages.find((m: any) => m.id === 4900604).context).toMatchObject({ cause: 'rp_id_mismatch', rp_id: 'example.test' });
    expect(k.logs.text()).toContain('"cause":"rp_id_mismatch"');
  });

  it('explains a wrong origin, a timed-out challenge, a reused answer and a browser refusal; each is logged and counted', async () => {
    const user = await register();
    const authenticator = new SoftwareAuthenticator(ORIGIN);
    await addKey(user.token, authenticator, 'Key');
    const login = await loginWithPassword(k, user.email, PASSWORD);
    const token = login.session_token!;
    const flow = await aal2Flow(token);
    const options = optionsOf(flow, 'webauthn_login_trigger');

    const wrongOrigin = await errorBody(submitKey(flow.id, token, authenticator.get(options, { origin: 'https://app.example.test.evil.example' })));
    expect(messageIds(wrongOrigin.body)).toContain(4900603);

    // The challenge of the failed attempt is spent: answering it again is an answer to an old page.
    const reused = await errorBody(submitKey(flow.id, token, authenticator.get(options)));
    expect(messageIds(reused.body)).toContain(4900601);

    // A fresh challenge answered after its timeout (5 minutes by default).
    const fresh = JSON.parse(node(reused.body, 'webauthn_login_trigger').attributes.value);
    k.clock.advanceSeconds(6 * 60);
    const late = await errorBody(submitKey(flow.id, token, authenticator.get(fresh)));
    expect(messageIds(late.body)).toContain(4900602);

    // webauthn.js reports a browser refusal (cancelled / timed out / no key for this site).
    const refused = await errorBody(submitKey(flow.id, token, JSON.stringify({ client_error: 'NotAllowedError' })));
    expect(messageIds(refused.body)).toContain(4900609);

    const metrics = await (await fetch(`${k.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/kairos_webauthn_rejections_total\{cause="origin_mismatch",ceremony="login",method="webauthn"\} \d/);
    expect(metrics).toMatch(/kairos_webauthn_rejections_total\{cause="timeout"/);
  });

  it('threat: a cloned key (signature counter not growing) is refused, audited, and counted by the shared limits', async () => {
    const user = await register();
    const authenticator = new SoftwareAuthenticator(ORIGIN);
    await addKey(user.token, authenticator, 'Key');
    const login = await loginWithPassword(k, user.email, PASSWORD);
    const token = login.session_token!;
    let flow = await aal2Flow(token);
    await submitKey(flow.id, token, authenticator.get(optionsOf(flow, 'webauthn_login_trigger')));
    const again = await loginWithPassword(k, user.email, PASSWORD);
    flow = await aal2Flow(again.session_token!);
    // The clone still has counter 1, which the server has already seen.
    const cloned = await errorBody(submitKey(flow.id, again.session_token!, authenticator.get(optionsOf(flow, 'webauthn_login_trigger'), { signCount: 1 })));
    expect(messageIds(cloned.body)).toContain(4900607);
    const events = await (await fetch(`${k.adminUrl}/admin/audit-events?identity_id=${user.identityId}`)).json().catch(() => null);
    const types = Array.isArray(events) ? events.map((e: any) => e.type) : (events?.events ?? []).map((e: any) => e.type);
    expect(types).toContain('second_factor.clone_detected');
    const lockout = await (await fetch(`${k.adminUrl}/admin/identities/${user.identityId}/mfa`)).json();
    expect(lockout.lockout.consecutive_failures).toBe(1);
  });

  it('threat: guessing is bounded by the per-flow budget every second factor shares', async () => {
    const user = await register();
    const authenticator = new SoftwareAuthenticator(ORIGIN);
    await addKey(user.token, authenticator, 'Key');
    const login = await loginWithPassword(k, user.email, PASSWORD);
    const token = login.session_token!;
    let flow: any = await aal2Flow(token);
    for (let i = 0; i < 5; i++) {
      const { body } = await errorBody(submitKey(flow.id, token, authenticator.get(optionsOf(flow, 'webauthn_login_trigger'), { rpId: 'evil.example' })));
      flow = body;
    }
    const { body } = await errorBody(submitKey(flow.id, token, authenticator.get(optionsOf(flow, 'webauthn_login_trigger'))));
    expect(messageIds(body)).toContain(4900102);
  });

  it('removing a key needs a privileged aal2 session; the last key takes the webauthn credential with it', async () => {
    const user = await register();
    const authenticator = new SoftwareAuthenticator(ORIGIN);
    const { saved } = await addKey(user.token, authenticator, 'Only key');
    const removeValue = node(saved, 'webauthn_remove').attributes.value;
    expect(removeValue).toBe(Buffer.from(JSON.parse(authenticator.get({ publicKey: { challenge: 'AA', allowCredentials: [] } })).id, 'base64url').toString('hex'));

    // A password-only session (aal1) may not strip the second factor.
    const login = await loginWithPassword(k, user.email, PASSWORD);
    const aal1Flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: login.session_token! }).catch((e) => e);
    expect(aal1Flow.response?.status ?? 200).toBe(403);

    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    const done = await k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'webauthn', webauthn_remove: removeValue } });
    expect(done.state).toBe('success');
    const identity = await k.identityApi.getIdentity({ id: user.identityId });
    expect(Object.keys(identity.credentials ?? {})).not.toContain('webauthn');
    // Recovery codes stay (a second factor of their own, as after unlinking TOTP).
    expect(Object.keys(identity.credentials ?? {})).toContain('lookup_secret');
  });

  it('SPA: the browser flow answers in JSON with the same nodes, and takes the key with the CSRF token', async () => {
    const user = await register();
    const authenticator = new SoftwareAuthenticator(ORIGIN);
    await addKey(user.token, authenticator, 'Key');
    const browser = new BrowserClient(k.publicUrl);
    const first = await browser.startFlow('login');
    const csrf = csrfTokenOf(first.flow);
    const password = await browser.request(`/self-service/login?flow=${first.id}`, { method: 'POST', json: { method: 'password', identifier: user.email, password: PASSWORD, csrf_token: csrf } });
    expect(password.status).toBe(422);
    const aal2 = await browser.request('/self-service/login/browser?aal=aal2', { headers: { accept: 'application/json' } });
    const flow = await aal2.json();
    expect(node(flow, 'webauthn_login_trigger')).toBeDefined();
    const answer = authenticator.get(optionsOf(flow, 'webauthn_login_trigger'));
    const done = await browser.request(`/self-service/login?flow=${flow.id}`, { method: 'POST', json: { method: 'webauthn', webauthn_login: answer, csrf_token: csrfTokenOf(flow) } });
    expect(done.status).toBe(200);
    expect((await done.json()).session.authenticator_assurance_level).toBe('aal2');
  });
});
