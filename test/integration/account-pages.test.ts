/**
 * Issue 19, the last English-only pieces: emails in the recipient's language (the identity's stated preference,
 * else the language of the request that caused the mail: the hosted UI's choice, then Accept-Language), the
 * printable backup codes (in the reader's language, never cached, never logged) and the MFA-reset cancel page (in
 * the reader's language; opening the link cancels nothing).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { eventually, TestSmtpServer, type ReceivedMail } from '../support/smtp.js';
import { BrowserClient, csrfTokenOf } from '../support/browser-client.js';
import { de } from '../../src/ui/i18n/de.js';
import { en } from '../../src/ui/i18n/en.js';
import { LANGUAGE_COOKIE } from '../../src/ui/i18n/catalogue.js';

const PASSWORD = 'a long enough passphrase';
const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';

describe.each(DIALECTS)('account pages and mails in the reader\'s language (%s)', (dialect) => {
  let k: TestKairos;
  let smtp: TestSmtpServer;
  let n = 0;
  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    k = await startKairos({ dialect, config: { selfservice: { methods: { totp: { enabled: true } } }, courier: { smtp: { connection_uri: smtp.uri }, worker: { poll_interval: '50ms' } } } });
  });
  afterAll(async () => {
    await k?.close();
    await smtp?.stop();
  });

  const email = (tag: string) => `${tag}${++n}-${dialect}@example.com`;
  const mailWithSubject = (to: string, subject: string): Promise<ReceivedMail> =>
    eventually(async () => {
      const found = smtp.received.find((m) => m.to.includes(to) && m.subject === subject);
      if (found) smtp.received.splice(smtp.received.indexOf(found), 1);
      return found;
    });

  async function registerInBrowser(address: string, headers: Record<string, string>): Promise<BrowserClient> {
    const browser = new BrowserClient(k.publicUrl);
    const { id, flow } = await browser.startFlow('registration');
    const res = await browser.request(`/self-service/registration?flow=${id}`, {
      method: 'POST',
      form: { csrf_token: csrfTokenOf(flow), method: 'password', 'traits.email': address, password: PASSWORD },
      headers: { accept: 'text/html', ...headers },
    });
    expect(res.status).toBe(303);
    return browser;
  }

  it('the verification mail after sign-up is in the browser\'s language (Accept-Language: de-DE)', async () => {
    const address = email('de');
    await registerInBrowser(address, { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' });
    const mail = await mailWithSubject(address, de['email.verification_code_valid.subject']);
    expect(mail.text).toMatch(/Hallo,\n\nbitte bestätigen Sie Ihr Konto mit diesem Code:\n\n\d{6}\n/);
    expect(mail.text).toContain('Der Code läuft in 15 Minuten ab.');
    expect(mail.html).toMatch(/<strong>\d{6}<\/strong>/);
  });

  it('the language chosen in the hosted UI wins over Accept-Language; without either, the first of ui.languages', async () => {
    const chosen = email('cookie');
    const browser = new BrowserClient(k.publicUrl);
    browser.cookies.set(LANGUAGE_COOKIE, 'de');
    const { id, flow } = await browser.startFlow('registration');
    await browser.request(`/self-service/registration?flow=${id}`, { method: 'POST', form: { csrf_token: csrfTokenOf(flow), method: 'password', 'traits.email': chosen, password: PASSWORD }, headers: { accept: 'text/html', 'accept-language': 'en-US' } });
    await mailWithSubject(chosen, de['email.verification_code_valid.subject']);

    const plain = email('none');
    const api = await (await fetch(`${k.publicUrl}/self-service/registration/api`)).json();
    await fetch(`${k.publicUrl}/self-service/registration?flow=${api.id}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: 'password', traits: { email: plain }, password: PASSWORD }) });
    await mailWithSubject(plain, en['email.verification_code_valid.subject']);
  });

  it('an identity\'s own stated language (metadata_public.language) wins over the request\'s', async () => {
    const address = email('pref');
    await k.identityApi.createIdentity({
      createIdentityBody: {
        schema_id: 'default',
        traits: { email: address },
        metadata_public: { language: 'de' },
        credentials: { password: { config: { password: PASSWORD } } },
        verifiable_addresses: [{ value: address, verified: true, via: 'email', status: 'completed' }] as any,
      },
    });
    const flow = await (await fetch(`${k.publicUrl}/self-service/recovery/api`)).json();
    await fetch(`${k.publicUrl}/self-service/recovery?flow=${flow.id}`, { method: 'POST', headers: { 'content-type': 'application/json', 'accept-language': 'en' }, body: JSON.stringify({ method: 'code', email: address }) });
    const mail = await mailWithSubject(address, de['email.recovery_code_valid.subject']);
    expect(mail.text).toMatch(/\b\d{6}\b/);
  });

  it('printable backup codes: in the reader\'s language, not stored by any cache, never in a log line, and only for the flow\'s owner', async () => {
    const browser = await registerInBrowser(email('print'), {});
    const { id, flow } = await browser.startFlow('settings');
    await browser.postForm(`/self-service/settings?flow=${id}`, { csrf_token: csrfTokenOf(flow), lookup_secret_regenerate: 'true' });
    const json = await (await browser.get(`/self-service/settings/flows?id=${id}`, { accept: 'application/json' })).json();
    const codes: string[] = json.ui.nodes.find((x: any) => x.attributes.id === 'lookup_secret_codes').attributes.text.context.secrets.map((s: any) => s.text);
    expect(codes.length).toBeGreaterThanOrEqual(8);
    const logsBefore = k.logs.lines.length;

    const print = await browser.get(`/self-service/settings/lookup_secret/print?flow=${id}`, { accept: 'text/html', 'accept-language': 'de' });
    expect(print.status).toBe(200);
    expect(print.headers.get('cache-control')).toContain('no-store');
    expect(print.headers.get('referrer-policy')).toBe('no-referrer');
    expect(print.headers.get('content-language')).toBe('de');
    const html = await print.text();
    expect(html).toContain('<html lang="de">');
    expect(html).toContain(de['print.back']);
    expect(html).toContain('Jeder Code meldet Sie einmal an');
    expect(html).toContain(`href="${k.publicUrl}/ui/settings?flow=${id}"`);
    const listed = [...html.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1]);
    expect(listed).toEqual(codes);

    const file = await browser.get(`/self-service/settings/lookup_secret/codes.txt?flow=${id}`, { 'accept-language': 'de' });
    expect(file.headers.get('cache-control')).toContain('no-store');
    const text = await file.text();
    expect(text).toContain('Backup-Codes');
    for (const code of codes) expect(text).toContain(code);

    // Neither answer put a code into the server's log.
    const logged = k.logs.lines.slice(logsBefore).join('');
    for (const code of codes) expect(logged).not.toContain(code);
    // Another browser (no session, or another account) gets nothing.
    expect((await fetch(`${k.publicUrl}/self-service/settings/lookup_secret/print?flow=${id}`)).status).toBe(401);
    const other = await registerInBrowser(email('other'), {});
    expect((await other.get(`/self-service/settings/lookup_secret/print?flow=${id}`)).status).toBe(404);
  });

  it('the MFA-reset notice and its cancel page are in German for a German reader, and the page cancels only on the button', async () => {
    const address = email('reset');
    const created = await k.identityApi.createIdentity({
      createIdentityBody: {
        schema_id: 'default',
        traits: { email: address },
        credentials: { password: { config: { password: PASSWORD } }, totp: { config: { totp_url: `otpauth://totp/Kairos:${address}?secret=${SECRET}&issuer=Kairos` } } } as any,
        verifiable_addresses: [{ value: address, verified: true, via: 'email', status: 'completed' }] as any,
      },
    });
    const headers = { 'content-type': 'application/json', 'accept-language': 'de-AT' };
    const flow = await (await fetch(`${k.publicUrl}/self-service/recovery/api`)).json();
    await fetch(`${k.publicUrl}/self-service/recovery?flow=${flow.id}`, { method: 'POST', headers, body: JSON.stringify({ method: 'code', email: address }) });
    const code = /\b(\d{6})\b/.exec((await mailWithSubject(address, de['email.recovery_code_valid.subject'])).text)![1]!;
    await fetch(`${k.publicUrl}/self-service/recovery?flow=${flow.id}`, { method: 'POST', headers, body: JSON.stringify({ method: 'code', code }) });
    const notice = await mailWithSubject(address, de['email.mfa_reset_requested.subject']);
    expect(notice.text).toContain('Das wird am ');
    const cancelUrl = /(http:\/\/\S+\/self-service\/recovery\/mfa-reset\/cancel\?token=\w+)/.exec(notice.text)![1]!;
    expect(notice.html).toContain(`<a href="${cancelUrl}">`);

    const page = await fetch(cancelUrl, { headers: { accept: 'text/html', 'accept-language': 'de' } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<html lang="de">');
    expect(html).toContain(de['mfaReset.title']);
    expect(html).toContain(de['mfaReset.cancel']);
    expect(html).toContain('Jemand hat Ihr Konto per E-Mail wiederhergestellt');
    expect((await k.deps.db.selectFrom('mfa_reset_requests').select('status').where('identity_id', '=', created.id).executeTakeFirstOrThrow()).status).toBe('pending');

    const token = new URL(cancelUrl).searchParams.get('token')!;
    const cancelled = await fetch(`${k.publicUrl}/self-service/recovery/mfa-reset/cancel`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', 'accept-language': 'de' }, body: new URLSearchParams({ token }).toString() });
    expect(cancelled.status).toBe(200);
    expect(await cancelled.text()).toContain('Das Zurücksetzen Ihres zweiten Schritts wurde abgebrochen.');
    expect((await k.deps.db.selectFrom('mfa_reset_requests').select('status').where('identity_id', '=', created.id).executeTakeFirstOrThrow()).status).toBe('cancelled');
    await mailWithSubject(address, de['email.mfa_reset_cancelled.subject']);
  });
});
