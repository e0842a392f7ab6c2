/**
 * Issue 15, hosted UI: the second-factor page offers every factor the identity has, the one this person used last
 * first (remembered from the methods its sessions recorded, across devices), in the reader's language. Backup codes
 * never become the preferred factor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { BrowserClient, csrfTokenOf } from '../support/browser-client.js';
import { TestSmtpServer } from '../support/smtp.js';
import { totpCodeNow } from '../support/totp.js';

const PASSWORD = 'a long enough passphrase';
const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const BACKUP_CODES = ['abcd2345wxyz', 'efgh6789stuv', 'jkmn2345pqrs'];

describe.each(DIALECTS)('second-factor page: last used first (%s)', (dialect) => {
  let k: TestKairos;
  let smtp: TestSmtpServer;
  let n = 0;
  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    k = await startKairos({
      dialect,
      config: { courier: { smtp: { connection_uri: smtp.uri }, worker: { poll_interval: '50ms' } }, selfservice: { methods: { totp: { enabled: true }, code: { mfa_enabled: true } } } },
    });
  });
  afterAll(async () => {
    await k?.close();
    await smtp?.stop();
  });

  async function person() {
    const email = `pref${++n}-${dialect}@example.com`;
    await k.identityApi.createIdentity({
      createIdentityBody: {
        schema_id: 'default',
        traits: { email },
        credentials: {
          password: { config: { password: PASSWORD } },
          totp: { config: { totp_url: `otpauth://totp/Kairos:${email}?secret=${SECRET}&issuer=Kairos` } },
          lookup_secret: { config: { codes: BACKUP_CODES.map((code) => ({ code })) } },
        } as never,
        verifiable_addresses: [{ value: email, verified: true, via: 'email', status: 'completed' }] as never,
      },
    });
    return email;
  }

  /** Signs in with the password in a fresh browser and opens the second-factor page: its flow and HTML. */
  async function secondFactorPage(email: string, headers: Record<string, string> = {}) {
    const browser = new BrowserClient(k.publicUrl);
    const login = await browser.startFlow('login');
    await browser.postForm(`/self-service/login?flow=${login.id}`, { csrf_token: csrfTokenOf(login.flow), method: 'password', identifier: email, password: PASSWORD });
    const aal2 = await browser.startFlow('login', '?aal=aal2');
    const html = await (await browser.get(`/ui/login?flow=${aal2.id}`, { accept: 'text/html', ...headers })).text();
    return { browser, flow: aal2, html };
  }

  /** The node groups of the page's forms, in the order shown; the first is the one offered. */
  const order = (html: string) => [...html.matchAll(/<section class="card (primary|alt)[^"]*" id="method-([a-z_]+)"/g)].map((m) => m[2]);

  it('offers the factor used last first, says so, and keeps every other factor one link away', async () => {
    const email = await person();
    const first = await secondFactorPage(email);
    // Nothing used yet: Kratos's group order (code before TOTP), every factor present.
    expect(order(first.html)).toEqual(['code', 'totp', 'lookup_secret']);
    expect(first.html).not.toContain('/note"');

    // Sign in with the authenticator app…
    k.clock.advanceSeconds(30);
    const done = await first.browser.postForm(`/self-service/login?flow=${first.flow.id}`, { csrf_token: csrfTokenOf(first.flow.flow), method: 'totp', totp_code: totpCodeNow(k, SECRET) });
    expect(done.status).toBe(303);
    expect((await (await first.browser.get('/sessions/whoami')).json()).authenticator_assurance_level).toBe('aal2');

    // …and the next second-factor page (another device, another session) offers it first.
    const second = await secondFactorPage(email);
    expect(order(second.html)).toEqual(['totp', 'code', 'lookup_secret']);
    expect(second.html).toContain('data-testid="ui/group/totp/note"');
    expect(second.html).toContain('data-testid="ui/switch/code"');

    // Then with an emailed code: that becomes the first offer.
    const sent = await second.browser.postForm(`/self-service/login?flow=${second.flow.id}`, { csrf_token: csrfTokenOf(second.flow.flow), method: 'code', address: email });
    expect(sent.status).toBe(303);
    const code = /\b(\d{6})\b/.exec((await smtp.waitFor(email)).text)![1]!;
    await second.browser.postForm(`/self-service/login?flow=${second.flow.id}`, { csrf_token: csrfTokenOf(second.flow.flow), method: 'code', code });
    const third = await secondFactorPage(email, { 'accept-language': 'de' });
    expect(order(third.html)).toEqual(['code', 'totp', 'lookup_secret']);
    // In German, the hint and the titles too.
    expect(third.html).toContain('Zuletzt von Ihnen verwendet.');
    expect(third.html).toContain('Authenticator-App verwenden');
  });

  it('a backup code never becomes the preferred factor (it stands in for a lost one)', async () => {
    const email = await person();
    k.clock.advanceSeconds(30);
    const first = await secondFactorPage(email);
    await first.browser.postForm(`/self-service/login?flow=${first.flow.id}`, { csrf_token: csrfTokenOf(first.flow.flow), method: 'totp', totp_code: totpCodeNow(k, SECRET) });
    k.clock.advanceSeconds(60);
    const second = await secondFactorPage(email);
    const used = await second.browser.postForm(`/self-service/login?flow=${second.flow.id}`, { csrf_token: csrfTokenOf(second.flow.flow), method: 'lookup_secret', lookup_secret: BACKUP_CODES[0]! });
    expect(used.status).toBe(303);
    const third = await secondFactorPage(email);
    expect(order(third.html)[0]).toBe('totp');
  });
});
