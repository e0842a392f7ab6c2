import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { BrowserClient } from '../support/browser-client.js';
import { escapeHtml } from '../../src/ui/hosted/pages.js';

/** Follows redirects like a browser would, returning the final HTML. */
async function visit(browser: BrowserClient, path: string, headers: Record<string, string> = {}): Promise<{ url: string; html: string; status: number; headers: Headers }> {
  let url = path.startsWith('http') ? path : browser.baseUrl + path;
  for (let i = 0; i < 10; i++) {
    const res = await browser.get(url, { accept: 'text/html', ...headers });
    if (res.status === 303) {
      url = new URL(res.headers.get('location')!, url).toString();
      continue;
    }
    return { url, html: await res.text(), status: res.status, headers: res.headers };
  }
  throw new Error('too many redirects');
}

function formFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[m[1]!] = m[2]!;
  return fields;
}

describe.each(DIALECTS)('hosted UI works without JavaScript (%s)', (dialect) => {
  let k: TestKairos;
  beforeAll(async () => {
    k = await startKairos({ dialect });
  });
  afterAll(async () => k?.close());

  it('registration page: every visible input has a label, the form posts to the flow, and the user lands signed in', async () => {
    const browser = new BrowserClient(k.publicUrl);
    const page = await visit(browser, '/ui/registration');
    expect(page.status).toBe(200);
    expect(page.url).toMatch(/\/ui\/registration\?flow=/);
    const inputIds = [...page.html.matchAll(/<input id="([^"]+)"/g)].map((m) => m[1]);
    expect(inputIds.length).toBeGreaterThanOrEqual(2);
    for (const id of inputIds) expect(page.html).toContain(`<label for="${id}">`);
    const action = /<form method="POST" action="([^"]+)"/.exec(page.html)![1]!.replaceAll('&amp;', '&');
    const res = await browser.postForm(action, { ...formFields(page.html), method: 'password', 'traits.email': `ui-${dialect}@example.com`, password: 'a long enough passphrase' });
    expect(res.status).toBe(303);
    const welcome = await visit(browser, res.headers.get('location')!);
    expect(welcome.html).toContain(`ui-${dialect}@example.com`);
    expect(welcome.html).toContain('data-aal="aal1"');
  });

  it('shows validation messages with their ids after a failed login', async () => {
    const browser = new BrowserClient(k.publicUrl);
    const page = await visit(browser, '/ui/login');
    const action = /<form method="POST" action="([^"]+)"/.exec(page.html)![1]!.replaceAll('&amp;', '&');
    const res = await browser.postForm(action, { ...formFields(page.html), method: 'password', identifier: 'ui@example.com', password: 'wrong password value' });
    const again = await visit(browser, res.headers.get('location')!);
    expect(again.html).toContain('data-testid="ui/message/4000006"');
  });

  it('escapes hostile values', () => {
    expect(escapeHtml('<script>alert("x")</script>')).toBe('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
  });

  /** Registers through the hosted form and returns the signed-in browser. */
  async function register(email: string, userAgent?: string): Promise<BrowserClient> {
    const browser = new BrowserClient(k.publicUrl);
    const page = await visit(browser, '/ui/registration');
    const action = /<form method="POST" action="([^"]+)"/.exec(page.html)![1]!.replaceAll('&amp;', '&');
    const res = await browser.request(action, {
      method: 'POST',
      form: { ...formFields(page.html), method: 'password', 'traits.email': email, password: 'a long enough passphrase' },
      headers: { accept: 'text/html', ...(userAgent ? { 'user-agent': userAgent } : {}) },
    });
    expect(res.status).toBe(303);
    return browser;
  }

  async function signIn(email: string, userAgent: string): Promise<BrowserClient> {
    const browser = new BrowserClient(k.publicUrl);
    const page = await visit(browser, '/ui/login');
    const action = /<form method="POST" action="([^"]+)"/.exec(page.html)![1]!.replaceAll('&amp;', '&');
    const res = await browser.request(action, {
      method: 'POST',
      form: { ...formFields(page.html), method: 'password', identifier: email, password: 'a long enough passphrase' },
      headers: { accept: 'text/html', 'user-agent': userAgent },
    });
    expect(res.status).toBe(303);
    return browser;
  }

  it('speaks German to a German browser (Accept-Language), and the switcher changes the language of the same page', async () => {
    const browser = new BrowserClient(k.publicUrl);
    const login = await visit(browser, '/ui/login', { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' });
    expect(login.headers.get('content-language')).toBe('de');
    expect(login.html).toContain('<html lang="de">');
    expect(login.html).toContain('<h1>Anmelden</h1>');
    expect(login.html).toMatch(/<label for="[^"]+">E-Mail<\/label>/);
    // The API keeps Kratos's English texts: only the hosted UI localises.
    const flowId = new URL(login.url).searchParams.get('flow')!;
    const json = await (await browser.get(`/self-service/login/flows?id=${flowId}`, { accept: 'application/json', 'accept-language': 'de' })).json();
    expect(JSON.stringify(json.ui)).toContain('"text":"ID"');
    const path = new URL(login.url).pathname + new URL(login.url).search;
    const switched = await browser.get(`/ui/language?lang=en&return_to=${encodeURIComponent(path)}`);
    expect(switched.status).toBe(303);
    expect(switched.headers.get('location')).toBe(path);
    const english = await visit(browser, path, { 'accept-language': 'de' });
    expect(english.html).toContain('<html lang="en">');
    expect(english.html).toMatch(/<label for="[^"]+">Email<\/label>/);
  });

  it('the language switcher never redirects off the hosted UI (open redirect)', async () => {
    const browser = new BrowserClient(k.publicUrl);
    for (const target of ['//evil.example/ui/', 'https://evil.example/ui/login', '/\\evil.example', '/ui/../..//evil.example', 'javascript:alert(1)']) {
      const res = await browser.get(`/ui/language?lang=de&return_to=${encodeURIComponent(target)}`);
      const location = res.headers.get('location')!;
      expect(location.startsWith('/ui'), `${target} -> ${location}`).toBe(true);
      expect(new URL(location, k.publicUrl).origin).toBe(new URL(k.publicUrl).origin);
    }
  });

  it('serves a favicon in the brand colour', async () => {
    const res = await new BrowserClient(k.publicUrl).get('/ui/favicon.svg');
    expect(res.headers.get('content-type')).toContain('image/svg+xml');
    expect(await res.text()).toContain('fill="#4f46e5"');
  });

  it('settings list the devices signed in; signing out another device ends its session and is audited', async () => {
    const email = `devices-${dialect}@example.com`;
    const phone = await register(email, 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1');
    const laptop = await signIn(email, 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36');
    const settings = await visit(laptop, '/ui/settings');
    expect(settings.html).toContain('Safari on iOS');
    expect(settings.html).toMatch(/data-testid="ui\/device" data-current="true"><span>Chrome on Linux/);
    const form = /<form method="POST" action="\/ui\/sessions\/revoke"><input type="hidden" name="csrf_token" value="([^"]+)"><input type="hidden" name="flow" value="([^"]+)"><button type="submit" class="danger small" name="session_id" value="([^"]+)"/.exec(settings.html)!;
    const [, csrfToken, flow, sessionId] = form;
    expect((await phone.get('/sessions/whoami', { accept: 'application/json' })).status).toBe(200);

    // Without the form's token (a cross-site post), nothing happens.
    const forged = await laptop.postForm('/ui/sessions/revoke', { csrf_token: 'forged', flow: flow!, session_id: sessionId! });
    expect(forged.headers.get('location') ?? '').not.toContain('revoked=');
    expect((await phone.get('/sessions/whoami', { accept: 'application/json' })).status).toBe(200);
    // Another account's session cannot be signed out from here.
    const stranger = await register(`stranger-${dialect}@example.com`);
    const strangerSettings = await visit(stranger, '/ui/settings');
    const strangerToken = /name="csrf_token" value="([^"]+)">/.exec(strangerSettings.html)![1]!;
    const refused = await stranger.postForm('/ui/sessions/revoke', { csrf_token: strangerToken, flow: flow!, session_id: sessionId! });
    expect(refused.headers.get('location')).toContain('revoked=0');
    expect((await phone.get('/sessions/whoami', { accept: 'application/json' })).status).toBe(200);

    const res = await laptop.postForm('/ui/sessions/revoke', { csrf_token: csrfToken!, flow: flow!, session_id: sessionId! });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toContain('revoked=1');
    expect((await phone.get('/sessions/whoami', { accept: 'application/json' })).status).toBe(401);
    expect((await laptop.get('/sessions/whoami', { accept: 'application/json' })).status).toBe(200);
    const after = await visit(laptop, res.headers.get('location')!);
    expect(after.html).toContain('1 device was signed out.');
    expect(after.html).not.toContain('Safari on iOS');
    const events = await k.deps.db.selectFrom('audit_events').selectAll().where('type', '=', 'session.revoked').where('session_id', '=', sessionId!).execute();
    expect(events).toHaveLength(1);
  });

  it('the owner of an unverified address is told, on the welcome page and in settings, that recovery needs it verified', async () => {
    const browser = await register(`unverified-${dialect}@example.com`);
    const welcome = await visit(browser, '/ui/welcome');
    expect(welcome.html).toContain('data-testid="ui/verify-prompt"');
    expect(welcome.html).toContain('recovery codes are sent only to verified addresses');
    const settings = await visit(browser, '/ui/settings');
    expect(settings.html).toContain('data-testid="ui/address" data-verified="false"');
    // The verification page pre-fills the reader's own address.
    const verification = await visit(browser, '/ui/verification');
    expect(verification.html).toContain(`value="unverified-${dialect}@example.com"`);
  });
});
