import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { BrowserClient, csrfTokenOf } from '../support/browser-client.js';

describe.each(DIALECTS)('browser flows: redirects, cookies and CSRF (%s)', (dialect) => {
  let k: TestKairos;
  beforeAll(async () => {
    k = await startKairos({ dialect, config: { selfservice: { allowed_return_urls: ['https://app.example.org/'] } } });
  });
  afterAll(async () => k?.close());

  async function registerInBrowser(browser: BrowserClient, email: string) {
    const { id, flow } = await browser.startFlow('registration');
    return browser.postForm(`/self-service/registration?flow=${id}`, {
      csrf_token: csrfTokenOf(flow),
      method: 'password',
      'traits.email': email,
      password: 'a long enough passphrase',
    });
  }

  it('browser init redirects to the UI with a flow and sets the CSRF cookie', async () => {
    const browser = new BrowserClient(k.publicUrl);
    const res = await browser.get('/self-service/login/browser', { accept: 'text/html' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(new RegExp(`^${k.publicUrl}/ui/login\\?flow=[0-9a-f-]{36}$`));
    expect(browser.cookies.has('kairos_csrf_token')).toBe(true);
  });

  it('a form registration sets an HttpOnly, SameSite=Lax session cookie and redirects to the return URL', async () => {
    const browser = new BrowserClient(k.publicUrl);
    const { id, flow } = await browser.startFlow('registration');
    const res = await browser.request(`/self-service/registration?flow=${id}`, {
      method: 'POST',
      form: { csrf_token: csrfTokenOf(flow), method: 'password', 'traits.email': 'web@example.com', password: 'a long enough passphrase' },
      headers: { accept: 'text/html' },
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`${k.publicUrl}/ui/welcome`);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('ory_kratos_session='))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(cookie).not.toMatch(/Secure/i);
    const whoami = await browser.get('/sessions/whoami');
    expect(whoami.status).toBe(200);
    expect((await whoami.json()).identity.traits.email).toBe('web@example.com');
  });

  it('a forged form post without the CSRF token is refused (403 security_csrf_violation) and writes nothing', async () => {
    const browser = new BrowserClient(k.publicUrl);
    const { id } = await browser.startFlow('registration');
    const res = await browser.request(`/self-service/registration?flow=${id}`, {
      method: 'POST',
      json: { method: 'password', traits: { email: 'forged@example.com' }, password: 'a long enough passphrase', csrf_token: 'x'.repeat(64) },
    });
    expect(res.status).toBe(403);
    expect((await res.json()).error.id).toBe('security_csrf_violation');
    expect(await k.deps.db.selectFrom('identity_credential_identifiers').selectAll().where('identifier', '=', 'forged@example.com').execute()).toHaveLength(0);
  });

  it('a CSRF token from another browser is refused', async () => {
    const victim = new BrowserClient(k.publicUrl);
    const attacker = new BrowserClient(k.publicUrl);
    const { id } = await victim.startFlow('login');
    const { flow: attackerFlow } = await attacker.startFlow('login');
    const res = await victim.request(`/self-service/login?flow=${id}`, {
      method: 'POST',
      json: { method: 'password', identifier: 'web@example.com', password: 'a long enough passphrase', csrf_token: csrfTokenOf(attackerFlow) },
    });
    expect(res.status).toBe(403);
  });

  it('a validation error sends the browser back to the form, with the message in the flow', async () => {
    const browser = new BrowserClient(k.publicUrl);
    const { id, flow } = await browser.startFlow('login');
    const res = await browser.postForm(`/self-service/login?flow=${id}`, { csrf_token: csrfTokenOf(flow), method: 'password', identifier: 'web@example.com', password: 'wrong password here' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`${k.publicUrl}/ui/login?flow=${id}`);
    const again = await (await browser.get(`/self-service/login/flows?id=${id}`, { accept: 'application/json' })).json();
    expect(again.ui.messages.map((m: any) => m.id)).toContain(4000006);
  });

  it('SPA login (Accept: application/json) returns the session and continue_with, and sets the cookie', async () => {
    const browser = new BrowserClient(k.publicUrl);
    await registerInBrowser(new BrowserClient(k.publicUrl), 'spa@example.com');
    const init = await browser.request('/self-service/login/browser', { method: 'GET', headers: { accept: 'application/json' } });
    expect(init.status).toBe(200);
    const flow = await init.json();
    const res = await browser.request(`/self-service/login?flow=${flow.id}`, {
      method: 'POST',
      json: { method: 'password', identifier: 'spa@example.com', password: 'a long enough passphrase', csrf_token: csrfTokenOf(flow) },
    });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.session.identity.traits.email).toBe('spa@example.com');
    expect(body.continue_with[0]).toEqual({ action: 'redirect_browser_to', redirect_browser_to: `${k.publicUrl}/ui/welcome` });
    expect(browser.cookies.has('ory_kratos_session')).toBe(true);
  });

  it('return_to must be allowed: listed URLs pass, others get self_service_flow_return_to_forbidden', async () => {
    const browser = new BrowserClient(k.publicUrl);
    const ok = await browser.get('/self-service/login/browser?return_to=' + encodeURIComponent('https://app.example.org/after'), { accept: 'application/json' });
    expect(ok.status).toBe(200);
    expect((await ok.json()).return_to).toBe('https://app.example.org/after');
    const bad = await browser.get('/self-service/login/browser?return_to=' + encodeURIComponent('https://evil.example.com/'), { accept: 'application/json' });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.id).toBe('self_service_flow_return_to_forbidden');
  });

  it('a logged-in browser asking for a login flow is sent to the return URL', async () => {
    const browser = new BrowserClient(k.publicUrl);
    await registerInBrowser(browser, 'twice@example.com');
    const res = await browser.get('/self-service/login/browser', { accept: 'text/html' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`${k.publicUrl}/ui/welcome`);
  });

  it('browser logout: logout URL, then the session is gone and the cookie cleared', async () => {
    const browser = new BrowserClient(k.publicUrl);
    await registerInBrowser(browser, 'bye@example.com');
    const { logout_url } = await (await browser.get('/self-service/logout/browser', { accept: 'application/json' })).json();
    const res = await browser.get(logout_url, { accept: 'text/html' });
    expect(res.status).toBe(303);
    expect(browser.cookies.has('ory_kratos_session')).toBe(false);
    expect((await browser.get('/sessions/whoami')).status).toBe(401);
  });

  it('settings without a session redirects a browser to login with return_to', async () => {
    const browser = new BrowserClient(k.publicUrl);
    const res = await browser.get('/self-service/settings/browser', { accept: 'text/html' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toContain('/self-service/login/browser?return_to=');
  });

  it('another identity cannot read a settings flow (security_identity_mismatch)', async () => {
    const owner = new BrowserClient(k.publicUrl);
    await registerInBrowser(owner, 'owner@example.com');
    const { id } = await owner.startFlow('settings');
    const other = new BrowserClient(k.publicUrl);
    await registerInBrowser(other, 'other@example.com');
    const res = await other.get(`/self-service/settings/flows?id=${id}`, { accept: 'application/json' });
    expect(res.status).toBe(403);
    expect((await res.json()).error.id).toBe('security_identity_mismatch');
  });
});
