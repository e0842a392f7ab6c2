/**
 * Compatibility suite: Kratos's own quickstart configuration (contrib/quickstart/kratos/email-password/kratos.yml,
 * unchanged but for the database, ports, the schema's file path and the SMTP server) with its identity schema
 * (nested `traits.name.first/last`), driven the way real deployments drive Kratos:
 *
 * 1. Ory's reference UI: each flow state rendered to HTML by @ory/elements-markup, and only what it draws is
 *    submitted as a plain browser form post with cookies and the CSRF token (test/compat/support/reference-ui.ts);
 * 2. @ory/client-fetch for native and SPA flows.
 *
 * Every flow: registration (→ verification UI via the show_verification_ui hook), verification, logout, login at
 * aal1 and aal2 (TOTP and recovery code), settings per method (profile, password, TOTP with recovery codes,
 * recovery codes), recovery without and with a second factor.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { Configuration, FrontendApi } from '@ory/client-fetch';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { BrowserClient } from '../support/browser-client.js';
import { eventually, TestSmtpServer, type ReceivedMail } from '../support/smtp.js';
import { totpCodeNow } from '../support/totp.js';
import { Templates } from '../../src/courier/templates.js';
import type { CourierTemplateType } from '../../src/courier/courier.js';
import { flowBehind, formsOf, renderAuthFlow, renderSettings, startBrowserFlow, submitRendered } from './support/reference-ui.js';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);
const quickstart = parseYaml(readFileSync(fixture('quickstart-email-password.kratos.yml'), 'utf8')) as Record<string, any>;
const withoutKeys = (o: Record<string, any>, keys: string[]) => Object.fromEntries(Object.entries(o).filter(([key]) => !keys.includes(key)));
const PASSWORD = 'Kairos quickstart passphrase 7';
const NEW_PASSWORD = 'Another long passphrase 8';

describe.each(DIALECTS)("Kratos's quickstart through Ory's reference UI and SDK (%s)", (dialect) => {
  let k: TestKairos;
  let smtp: TestSmtpServer;
  const templates = new Templates(undefined);

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    k = await startKairos({
      dialect,
      config: {
        ...withoutKeys(quickstart, ['dsn']),
        // The harness's ephemeral ports replace the quickstart's 4433/4434; CORS stays as the quickstart has it.
        serve: { public: { cors: quickstart.serve.public.cors } },
        identity: { ...quickstart.identity, schemas: [{ id: 'default', url: fixture('quickstart-identity.schema.json').href }] },
        courier: { smtp: { connection_uri: smtp.uri }, worker: { poll_interval: '50ms' } },
      },
    });
  });
  afterAll(async () => {
    await k?.close();
    await smtp?.stop();
  });

  async function mailOf(to: string, template: CourierTemplateType): Promise<ReceivedMail> {
    const subject = templates.render(template, to, {}).subject;
    return eventually(async () => {
      const found = smtp.received.find((m) => m.to.includes(to) && m.subject === subject);
      if (found) smtp.received.splice(smtp.received.indexOf(found), 1);
      return found;
    });
  }
  const sixDigits = (mail: ReceivedMail) => /\b(\d{6})\b/.exec(mail.text)![1]!;
  const secretOf = (flow: any) => flow.ui.nodes.find((n: any) => n.attributes.id === 'totp_secret_key').attributes.text.context.secret as string;
  const codesOf = (flow: any) => flow.ui.nodes.find((n: any) => n.attributes.id === 'lookup_secret_codes').attributes.text.context.secrets.map((s: any) => s.text as string) as string[];

  /** Registers through the rendered registration card; answers the browser and the address. */
  async function registerThroughUi(email: string) {
    const browser = new BrowserClient(k.publicUrl);
    const { flow } = await startBrowserFlow(browser, 'registration');
    const html = renderAuthFlow('registration', flow);
    // Kratos renders leaf traits only: the person fills in first and last name, never an object.
    const done = await submitRendered(browser, html, { name: 'method', value: 'password' }, {
      'traits.email': email,
      'traits.name.first': 'Ada',
      'traits.name.last': 'Lovelace',
      password: PASSWORD,
    });
    expect(done.status, await done.clone().text()).toBe(303);
    return { browser, location: done.headers.get('location')! };
  }

  async function loginThroughUi(browser: BrowserClient, email: string, password = PASSWORD): Promise<Response> {
    const { flow } = await startBrowserFlow(browser, 'login');
    return submitRendered(browser, renderAuthFlow('login', flow), { name: 'method', value: 'password' }, { identifier: email, password });
  }

  async function enrollTotpThroughUi(browser: BrowserClient): Promise<{ secret: string; codes: string[] }> {
    const { flow } = await startBrowserFlow(browser, 'settings');
    const secret = secretOf(flow);
    const saved = await submitRendered(browser, renderSettings(flow, 'totp'), { name: 'method', value: 'totp' }, { totp_code: totpCodeNow(k, secret) });
    expect(saved.status).toBe(303);
    const pending = await flowBehind(browser, 'settings', saved.headers.get('location')!);
    const codes = codesOf(pending);
    // The codes, the required checkbox and the confirm button are drawn by the reference UI's recovery-codes card.
    const html = renderSettings(pending, 'lookup_secret');
    for (const code of codes.slice(0, 3)) expect(html).toContain(code);
    const confirmed = await submitRendered(browser, html, { name: 'lookup_secret_confirm' }, { lookup_secret_acknowledged: 'true' });
    expect(confirmed.status).toBe(303);
    const done = await flowBehind(browser, 'settings', confirmed.headers.get('location')!);
    expect(done.state).toBe('success');
    return { secret, codes };
  }

  it('registration → verification UI (show_verification_ui hook) → verification by emailed code, all through the rendered cards', async () => {
    const email = `reg-${dialect}@example.org`;
    const { browser, location } = await registerThroughUi(email);
    expect(location.startsWith('http://127.0.0.1:4455/verification?flow=')).toBe(true);
    const verification = await flowBehind(browser, 'verification', location);
    expect(verification.state).toBe('sent_email');
    const html = renderAuthFlow('verification', verification);
    const verified = await submitRendered(browser, html, { name: 'method', value: 'code' }, { code: sixDigits(await mailOf(email, 'verification_code_valid')) });
    const after = await flowBehind(browser, 'verification', verified.headers.get('location')!);
    expect(after.state).toBe('passed_challenge');
    // verification.after.default_browser_return_url from the quickstart is where "continue" leads.
    expect(JSON.stringify(after.ui.nodes)).toContain('http://127.0.0.1:4455/welcome');
    const identity = (await k.identityApi.listIdentities({ credentialsIdentifier: email }))[0]!;
    expect(identity.traits).toEqual({ email, name: { first: 'Ada', last: 'Lovelace' } });
    expect(identity.verifiable_addresses![0]!.verified).toBe(true);
    // The quickstart's hashers.algorithm: bcrypt (cost 8) is what new passwords are hashed with.
    const row = await k.deps.db.selectFrom('identity_credentials').select('config').where('identity_id', '=', identity.id).where('type', '=', 'password').executeTakeFirstOrThrow();
    expect(JSON.parse(row.config as string).hashed_password).toMatch(/^\$2[aby]\$08\$/);
  });

  it('settings through the rendered cards: profile (nested traits), password, TOTP with recovery codes, regenerated recovery codes; then logout', async () => {
    const email = `settings-${dialect}@example.org`;
    const { browser } = await registerThroughUi(email);
    const { flow } = await startBrowserFlow(browser, 'settings');
    const profile = await submitRendered(browser, renderSettings(flow, 'profile'), { name: 'method', value: 'profile' }, { 'traits.email': email, 'traits.name.first': 'Grace', 'traits.name.last': 'Hopper' });
    expect((await flowBehind(browser, 'settings', profile.headers.get('location')!)).state).toBe('success');
    const again = await startBrowserFlow(browser, 'settings');
    const password = await submitRendered(browser, renderSettings(again.flow, 'password'), { name: 'method', value: 'password' }, { password: NEW_PASSWORD });
    expect((await flowBehind(browser, 'settings', password.headers.get('location')!)).state).toBe('success');
    await enrollTotpThroughUi(browser);
    // Recovery codes: regenerate and confirm through the rendered recovery-codes card.
    // As in Kratos: reveal first, then regenerate is offered.
    const codesFlow = await startBrowserFlow(browser, 'settings');
    const revealed = await submitRendered(browser, renderSettings(codesFlow.flow, 'lookup_secret'), { name: 'lookup_secret_reveal' });
    const status = await flowBehind(browser, 'settings', revealed.headers.get('location')!);
    const regenerated = await submitRendered(browser, renderSettings(status, 'lookup_secret'), { name: 'lookup_secret_regenerate' });
    const shown = await flowBehind(browser, 'settings', regenerated.headers.get('location')!);
    expect(codesOf(shown)).toHaveLength(12);
    const saved = await submitRendered(browser, renderSettings(shown, 'lookup_secret'), { name: 'lookup_secret_confirm' }, { lookup_secret_acknowledged: 'true' });
    expect((await flowBehind(browser, 'settings', saved.headers.get('location')!)).state).toBe('success');
    const identity = (await k.identityApi.listIdentities({ credentialsIdentifier: email, includeCredential: ['totp'] }))[0]!;
    expect(identity.traits).toMatchObject({ name: { first: 'Grace', last: 'Hopper' } });
    expect(Object.keys(identity.credentials!)).toEqual(expect.arrayContaining(['password', 'totp', 'lookup_secret']));

    const logout = await (await browser.get('/self-service/logout/browser', { accept: 'application/json' })).json();
    const out = await browser.get(new URL(logout.logout_url).pathname + new URL(logout.logout_url).search, { accept: 'text/html' });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('http://127.0.0.1:4455/login');
    expect((await browser.get('/sessions/whoami')).status).toBe(401);
  });

  it('login aal1 then aal2 by TOTP and by a recovery code, the second factor prompt rendered by the login card (relative return_to=/sessions)', async () => {
    const email = `login-${dialect}@example.org`;
    const { browser } = await registerThroughUi(email);
    const { secret, codes } = await enrollTotpThroughUi(browser);
    k.clock.advanceSeconds(30); // the enrollment used this TOTP step; each step is accepted once

    for (const secondFactor of ['totp', 'lookup_secret'] as const) {
      const fresh = new BrowserClient(k.publicUrl);
      const first = await loginThroughUi(fresh, email);
      expect(first.status).toBe(303);
      const aal2Url = new URL(first.headers.get('location')!);
      expect(aal2Url.pathname).toBe('/self-service/login/browser');
      expect(aal2Url.searchParams.get('aal')).toBe('aal2');
      // The reference UI sends aal1 sessions here with a relative return_to (Kratos resolves it).
      const { flow } = await startBrowserFlow(fresh, 'login', '?aal=aal2&return_to=/sessions');
      expect(flow.return_to).toBe('http://127.0.0.1:4455/sessions');
      const html = renderAuthFlow('login', flow);
      const second =
        secondFactor === 'totp'
          ? await submitRendered(fresh, html, { name: 'method', value: 'totp' }, { totp_code: totpCodeNow(k, secret) })
          : await submitRendered(fresh, html, { name: 'method', value: 'lookup_secret' }, { lookup_secret: codes[0]! });
      expect(second.status).toBe(303);
      expect(second.headers.get('location')).toBe('http://127.0.0.1:4455/sessions');
      const session = await (await fresh.get('/sessions/whoami', { accept: 'application/json' })).json();
      expect(session.authenticator_assurance_level).toBe('aal2');
      k.clock.advanceSeconds(30); // the next TOTP step (each step is accepted once)
    }
  });

  it('recovery without a second factor: email → code → settings, through the rendered recovery card', async () => {
    const email = `recover-${dialect}@example.org`;
    const { browser: registered, location } = await registerThroughUi(email);
    const verification = await flowBehind(registered, 'verification', location);
    await submitRendered(registered, renderAuthFlow('verification', verification), { name: 'method', value: 'code' }, { code: sixDigits(await mailOf(email, 'verification_code_valid')) });

    const browser = new BrowserClient(k.publicUrl);
    const { flow } = await startBrowserFlow(browser, 'recovery');
    const sent = await submitRendered(browser, renderAuthFlow('recovery', flow), { name: 'method', value: 'code' }, { email });
    const codeStep = await flowBehind(browser, 'recovery', sent.headers.get('location')!);
    expect(codeStep.state).toBe('sent_email');
    const done = await submitRendered(browser, renderAuthFlow('recovery', codeStep), { name: 'method', value: 'code' }, { code: sixDigits(await mailOf(email, 'recovery_code_valid')) });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')!.startsWith('http://127.0.0.1:4455/settings?flow=')).toBe(true);
    const settings = await flowBehind(browser, 'settings', done.headers.get('location')!);
    const changed = await submitRendered(browser, renderSettings(settings, 'password'), { name: 'method', value: 'password' }, { password: NEW_PASSWORD });
    expect((await flowBehind(browser, 'settings', changed.headers.get('location')!)).state).toBe('success');
    expect((await loginThroughUi(new BrowserClient(k.publicUrl), email, NEW_PASSWORD)).status).toBe(303);
  });

  it('recovery with a second factor: the MFA-reset password field is drawn by the recovery card and completes the reset', async () => {
    const email = `mfa-reset-${dialect}@example.org`;
    const { browser: registered, location } = await registerThroughUi(email);
    const verification = await flowBehind(registered, 'verification', location);
    await submitRendered(registered, renderAuthFlow('verification', verification), { name: 'method', value: 'code' }, { code: sixDigits(await mailOf(email, 'verification_code_valid')) });
    await enrollTotpThroughUi(registered);

    const browser = new BrowserClient(k.publicUrl);
    const { flow } = await startBrowserFlow(browser, 'recovery');
    const sent = await submitRendered(browser, renderAuthFlow('recovery', flow), { name: 'method', value: 'code' }, { email });
    const codeStep = await flowBehind(browser, 'recovery', sent.headers.get('location')!);
    const reset = await submitRendered(browser, renderAuthFlow('recovery', codeStep), { name: 'method', value: 'code' }, { code: sixDigits(await mailOf(email, 'recovery_code_valid')) });
    const mfaStep = await flowBehind(browser, 'recovery', reset.headers.get('location')!);
    const html = renderAuthFlow('recovery', mfaStep);
    const form = formsOf(html).find((f) => f.inputs.has('password'));
    expect(form, 'the recovery card must draw the password field of the MFA reset').toBeTruthy();
    const done = await submitRendered(browser, html, { name: 'method', value: 'password' }, { password: PASSWORD });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')!.startsWith('http://127.0.0.1:4455/settings?flow=')).toBe(true);
    const identity = (await k.identityApi.listIdentities({ credentialsIdentifier: email }))[0]!;
    expect(Object.keys(identity.credentials ?? {})).not.toContain('totp');
  });

  it('@ory/client-fetch, native: nested-trait registration, TOTP enrollment finished by a plain lookup_secret_confirm, aal2 login', async () => {
    const email = `native-${dialect}@example.org`;
    const registration = await k.frontend.createNativeRegistrationFlow();
    const names = registration.ui.nodes.map((n) => (n.attributes as { name?: string }).name);
    expect(names).toEqual(expect.arrayContaining(['traits.email', 'traits.name.first', 'traits.name.last']));
    expect(names).not.toContain('traits.name');
    const registered = await k.frontend.updateRegistrationFlow({
      flow: registration.id,
      updateRegistrationFlowBody: { method: 'password', traits: { email, name: { first: 'Ada', last: 'Lovelace' } }, password: PASSWORD },
    });
    const token = registered.session_token!;
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: token });
    const secret = secretOf(settings);
    await k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: token, updateSettingsFlowBody: { method: 'totp', totp_code: totpCodeNow(k, secret) } });
    // Exactly what a Kratos SDK client sends: no Kairos-specific field.
    const confirmed = await k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: token, updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_confirm: true } });
    expect(confirmed.state).toBe('success');
    k.clock.advanceSeconds(30);
    const first = await k.frontend.updateLoginFlow({ flow: (await k.frontend.createNativeLoginFlow()).id, updateLoginFlowBody: { method: 'password', identifier: email, password: PASSWORD } });
    const aal2 = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: first.session_token! });
    const second = await k.frontend.updateLoginFlow({ flow: aal2.id, xSessionToken: first.session_token!, updateLoginFlowBody: { method: 'totp', totp_code: totpCodeNow(k, secret) } });
    expect(second.session.authenticator_assurance_level).toBe('aal2');
  });

  it('@ory/client-fetch, SPA: browser flows as JSON with cookies, relative return_to accepted', async () => {
    const browser = new BrowserClient(k.publicUrl);
    const fetchWithCookies: typeof fetch = (input, init) => browser.request(String(input), { ...init, method: init?.method ?? 'GET', headers: { ...(init?.headers as Record<string, string>), accept: 'application/json' } });
    const spa = new FrontendApi(new Configuration({ basePath: k.publicUrl, fetchApi: fetchWithCookies }));
    const email = `spa-${dialect}@example.org`;
    const flow = await spa.createBrowserRegistrationFlow({ returnTo: '/dashboard' });
    expect(flow.return_to).toBe('http://127.0.0.1:4455/dashboard');
    const csrf = (flow.ui.nodes.find((n) => (n.attributes as { name?: string }).name === 'csrf_token')!.attributes as { value: string }).value;
    const done = await spa.updateRegistrationFlow({ flow: flow.id, updateRegistrationFlowBody: { method: 'password', csrf_token: csrf, traits: { email, name: { first: 'S', last: 'PA' } }, password: PASSWORD } });
    expect(done.identity.traits).toMatchObject({ name: { first: 'S' } });
    expect((await spa.toSession()).identity?.traits).toMatchObject({ email });
  });
});
