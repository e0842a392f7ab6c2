/**
 * The whole MFA lifecycle in a real browser, as a person with a phone lives it (issue 7). The phone reads the QR code
 * off the rendered page and computes codes with oathtool; nothing here reads a secret from the DOM or the database.
 * Each step is a browser action checked by an assertion, with a screenshot and an accessibility check of every page.
 *
 * Two runs: SQLite at desktop size, and PostgreSQL at phone size.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { DIALECTS, type Dialect, type TestKairos } from '../support/harness.js';
import { arrive, clickAndLoad, DESKTOP, openBrowser, PHONE, type E2eBrowser, type Viewport } from './support/browser.js';
import { Phone } from './support/phone.js';
import { TestSmtpServer, eventually } from '../support/smtp.js';
import { E2E_BRAND, newEmail, PASSWORD, startE2eKairos } from './support/kairos.js';

/** One TOTP step (RFC 6238's default period, the one the server enrolls with). */
const STEP_SECONDS = 30;

const RUNS: { dialect: Dialect; viewport: Viewport }[] = [
  { dialect: 'sqlite' as const, viewport: DESKTOP },
  { dialect: 'postgres' as const, viewport: PHONE },
].filter((run) => DIALECTS.includes(run.dialect));

describe.each(RUNS)('MFA lifecycle in Chromium ($dialect, $viewport.name)', ({ dialect, viewport }) => {
  let k: TestKairos;
  let b: E2eBrowser;
  let page: Page;
  let phone: Phone;
  const email = newEmail(`mfa-${viewport.name}`);
  /** The recovery codes as shown on the page (a person may read these; only the TOTP secret is off limits). */
  let codes: string[] = [];

  const messageIds = async () =>
    (await page.locator('[data-testid^="ui/message/"]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-testid')!.split('/')[2]))));
  const heading = () => page.getByRole('heading', { level: 1 }).textContent();
  /** The next TOTP step: what a person does by waiting for the app to show a new code. */
  const nextStep = () => k.clock.advanceSeconds(STEP_SECONDS);

  let smtp: TestSmtpServer;
  /** The next mail with this subject for the user, read from the test SMTP server. */
  const mail = (subject: string) =>
    eventually(async () => {
      const found = smtp.received.find((m) => m.to.includes(email) && m.subject === subject);
      if (found) smtp.received.splice(smtp.received.indexOf(found), 1);
      return found;
    }, 20_000);

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    k = await startE2eKairos(dialect, { courier: { smtp: { connection_uri: smtp.uri, from_address: 'accounts@acme.example' }, worker: { poll_interval: '50ms' } } });
    b = await openBrowser(viewport);
    page = b.page;
    phone = new Phone(() => k.clock.nowMs());
  });
  afterAll(async () => {
    await b?.close();
    await k?.close();
    await smtp?.stop();
  });

  it('1. registers, opens settings and scans the QR code with the phone', async () => {
    await page.goto(`${k.publicUrl}/ui/registration`);
    await page.getByLabel('E-Mail').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: 'Sign up' }));
    await page.waitForURL(/\/ui\/welcome/);
    await arrive(page, b, '01-welcome-after-registration');
    expect(await page.getByTestId('ui/message/1900500').isVisible()).toBe(true);

    await clickAndLoad(page, page.getByRole('link', { name: 'Account settings', exact: true }));
    await page.waitForURL(/\/ui\/settings\?flow=/);
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('false');
    const totp = page.getByTestId('ui/group/totp');
    expect(await totp.getByRole('heading').textContent()).toBe('Set up an authenticator app');
    const qr = totp.locator('figure.qr img');
    const box = (await qr.boundingBox())!;
    // Large enough for a phone camera across a desk: at least 200 CSS pixels, and fully inside the viewport width.
    expect(box.width).toBeGreaterThanOrEqual(200);
    expect(box.x + box.width).toBeLessThanOrEqual(viewport.width);
    const input = totp.getByLabel('Verify code');
    expect(await input.getAttribute('inputmode')).toBe('numeric');
    expect(await input.getAttribute('autocomplete')).toBe('one-time-code');
    await qr.scrollIntoViewIfNeeded();
    await arrive(page, b, '02-settings-scan-qr');

    const entry = await phone.scan(qr);
    expect(entry.issuer).toBe(E2E_BRAND.name);
    expect(entry.account).toBe(email);
    expect(entry.digits).toBe(6);
    // What the person sees below the QR code is the same key, in groups of four (checked against the scan, never read
    // to compute codes).
    const shown = (await totp.locator('code.secret').textContent())!;
    expect(shown.split(' ').every((group, i, all) => group.length === 4 || (i === all.length - 1 && group.length <= 4))).toBe(true);
    expect(shown.replaceAll(' ', '')).toBe(entry.secretBase32);
    expect(await totp.getByRole('button', { name: 'Copy the secret key' }).isVisible()).toBe(true);
  });

  it('2. enters the code, is shown recovery codes, downloads them, confirms, and sees TOTP enrolled', async () => {
    const totp = page.getByTestId('ui/group/totp');
    await totp.getByLabel('Verify code').fill(phone.code());
    await clickAndLoad(page, totp.getByRole('button', { name: 'Save' }));
    await page.waitForURL(/\/ui\/settings\?flow=/);
    // The code was right, but nothing is enrolled until the recovery codes are saved.
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('false');
    const group = page.getByTestId('ui/group/lookup_secret');
    expect(await group.getByRole('heading').textContent()).toBe('Save your backup codes');
    codes = await group.locator('[data-testid="node/text/lookup_secret_codes/text"] code').allTextContents();
    expect(codes.length).toBeGreaterThanOrEqual(10);
    expect(new Set(codes).size).toBe(codes.length);
    await arrive(page, b, '03-recovery-codes');

    const [download] = await Promise.all([page.waitForEvent('download'), group.getByRole('link', { name: 'Download codes (.txt)' }).click()]);
    expect(download.suggestedFilename()).toMatch(/\.txt$/);
    const file = readFileSync((await download.path())!, 'utf8');
    const fileCodes = [...file.matchAll(/^\s*\d+\.\s+(\S+)\s*$/gm)].map((m) => m[1]);
    expect(fileCodes).toEqual(codes);

    // "I have saved these codes" is required: the browser does not send the form without it.
    const confirm = group.getByRole('button', { name: 'Confirm backup recovery codes' });
    await confirm.click();
    expect(await group.getByRole('checkbox').evaluate((el) => (el as HTMLInputElement).validity.valueMissing)).toBe(true);
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('false');
    await group.getByRole('checkbox', { name: 'I have saved these backup recovery codes in a safe place' }).check();
    await clickAndLoad(page, confirm);
    await page.waitForURL(/\/ui\/settings\?flow=/);
    expect(await messageIds()).toContain(1050001);
    for (const factor of ['totp', 'lookup_secret']) expect(await page.getByTestId(`ui/factor/${factor}`).getAttribute('data-enrolled')).toBe('true');
    expect(await page.getByTestId('ui/factor/totp').textContent()).toMatch(/Added \d{1,2} \w{3} \d{4}/);
    expect(await page.getByTestId('ui/group/totp').getByRole('button', { name: 'Unlink TOTP Authenticator App' }).isVisible()).toBe(true);
    await arrive(page, b, '04-settings-totp-enrolled');
  });

  it('3. signs out, signs in with the password, gets the second-factor page and lands at aal2 with a fresh code', async () => {
    await page.goto(`${k.publicUrl}/ui/logout`);
    await page.waitForURL(/\/ui\/login\?flow=/);
    await page.getByLabel('ID').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: 'Sign in' }));
    await page.waitForURL(/\/ui\/login\?flow=/);
    expect(await heading()).toBe('Two-Factor Authentication');
    expect(await messageIds()).toContain(1010004);
    const code = page.getByTestId('ui/group/totp').getByLabel('Authentication code');
    expect(await code.getAttribute('inputmode')).toBe('numeric');
    expect(await code.getAttribute('autocomplete')).toBe('one-time-code');
    await arrive(page, b, '05-second-factor');

    nextStep();
    await code.fill(phone.code());
    await clickAndLoad(page, page.getByRole('button', { name: 'Use Authenticator' }));
    await page.waitForURL(/\/ui\/welcome/);
    expect(await page.getByTestId('ui/session/aal').textContent()).toBe('aal2');
    await arrive(page, b, '06-signed-in-aal2');
  });

  /** Signs out, then in with the password: the second-factor page. */
  async function passwordStep(): Promise<void> {
    await page.goto(`${k.publicUrl}/ui/logout`);
    await page.waitForURL(/\/ui\/login\?flow=/);
    await page.getByLabel('ID').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: 'Sign in' }));
    expect(await heading()).toBe('Two-Factor Authentication');
  }

  async function useBackupCode(code: string): Promise<void> {
    await page.getByRole('link', { name: 'Use a backup code' }).click();
    const group = page.getByTestId('ui/group/lookup_secret');
    await group.getByLabel('Backup recovery code').fill(code);
    await clickAndLoad(page, group.getByRole('button', { name: 'Use backup recovery code' }));
  }

  async function useAppCode(code: string): Promise<void> {
    const group = page.getByTestId('ui/group/totp');
    await group.getByLabel('Authentication code').fill(code);
    await clickAndLoad(page, group.getByRole('button', { name: 'Use Authenticator' }));
  }

  const aal = () => page.getByTestId('ui/session/aal').textContent();

  it('4. loses the phone: a backup code works once, shows what remains; regenerated codes replace the old ones', async () => {
    await passwordStep();
    // Without JavaScript the backup-code form sits behind a plain link; it is hidden until asked for.
    expect(await page.getByTestId('ui/group/lookup_secret').isVisible()).toBe(false);
    await page.getByRole('link', { name: 'Use a backup code' }).click();
    expect(await page.getByTestId('ui/group/lookup_secret').isVisible()).toBe(true);
    await arrive(page, b, '07-use-backup-code');
    await useBackupCode(codes[0]!);
    await page.waitForURL(/\/ui\/welcome/);
    expect(await aal()).toBe('aal2');
    const remaining = page.getByTestId('ui/message/1900200');
    expect(await remaining.textContent()).toContain(`${codes.length - 1} codes remain`);
    await arrive(page, b, '08-backup-code-remaining');

    await passwordStep();
    await useBackupCode(codes[0]!);
    expect(await messageIds()).toContain(4000012);
    expect(await page.getByTestId('ui/message/4000012').textContent()).toBe('This backup recovery code has already been used.');
    // After a rejected code every option is on the page.
    expect(await page.getByTestId('ui/group/lookup_secret').isVisible()).toBe(true);
    await arrive(page, b, '09-backup-code-reused');
    await useBackupCode(codes[1]!);
    await page.waitForURL(/\/ui\/welcome/);

    await page.goto(`${k.publicUrl}/ui/settings`);
    await page.waitForURL(/\/ui\/settings\?flow=/);
    let group = page.getByTestId('ui/group/lookup_secret');
    expect(await group.getByTestId('node/text/lookup_secret_status/text').textContent()).toContain(`${codes.length - 2} of ${codes.length}`);
    await clickAndLoad(page, group.getByRole('button', { name: 'Reveal backup recovery codes' }));
    group = page.getByTestId('ui/group/lookup_secret');
    expect(await group.locator('li.used').count()).toBe(2);
    await clickAndLoad(page, group.getByRole('button', { name: 'Generate new backup recovery codes' }));
    group = page.getByTestId('ui/group/lookup_secret');
    const fresh = await group.locator('[data-testid="node/text/lookup_secret_codes/text"] code').allTextContents();
    expect(fresh.length).toBe(codes.length);
    expect(fresh.some((c) => codes.includes(c))).toBe(false);
    await group.getByRole('checkbox').check();
    await clickAndLoad(page, group.getByRole('button', { name: 'Confirm backup recovery codes' }));
    expect(await messageIds()).toContain(1050001);

    await passwordStep();
    await useBackupCode(codes[2]!);
    expect(await messageIds()).toContain(4000016);
    await useBackupCode(fresh[0]!);
    await page.waitForURL(/\/ui\/welcome/);
    expect(await aal()).toBe('aal2');
    codes = fresh.slice(1);
  });

  it('5. with the phone clock 3 minutes ahead, sees the clock-skew hint with its size; with the right time it works', async () => {
    await passwordStep();
    nextStep();
    phone.clockOffsetSeconds = 180;
    await useAppCode(phone.code());
    const hint = page.getByTestId('ui/message/4900003');
    expect(await hint.getAttribute('data-message-type')).toBe('error');
    expect(await hint.textContent()).toContain('about 3 minutes ahead');
    expect(await hint.textContent()).toContain('Why this did not work');
    await arrive(page, b, '10-clock-skew-hint');
    phone.clockOffsetSeconds = 0;
    nextStep();
    await useAppCode(phone.code());
    await page.waitForURL(/\/ui\/welcome/);
    expect(await aal()).toBe('aal2');
  });

  it('6. re-enrolls, then types a code from the old entry in the app and sees the old-entry hint', async () => {
    await page.goto(`${k.publicUrl}/ui/settings`);
    await page.waitForURL(/\/ui\/settings\?flow=/);
    const old = phone.latest;
    nextStep();
    let totp = page.getByTestId('ui/group/totp');
    await totp.getByLabel('Code from your authenticator app, or one of your backup recovery codes').fill(phone.code(old));
    await clickAndLoad(page, totp.getByRole('button', { name: 'Unlink TOTP Authenticator App' }));
    expect(await messageIds()).toContain(1050001);
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('false');
    totp = page.getByTestId('ui/group/totp');
    const entry = await phone.scan(totp.locator('figure.qr img'));
    expect(entry.secretBase32).not.toBe(old.secretBase32);
    await totp.getByLabel('Verify code').fill(phone.code(entry));
    await clickAndLoad(page, totp.getByRole('button', { name: 'Save' }));
    // Unused backup codes remain, so the new app is enrolled at once.
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('true');

    await passwordStep();
    nextStep();
    await useAppCode(phone.code(old));
    const hint = page.getByTestId('ui/message/4900004');
    expect(await hint.textContent()).toContain('old entry');
    await arrive(page, b, '11-old-entry-hint');
    nextStep();
    await useAppCode(phone.code(entry));
    await page.waitForURL(/\/ui\/welcome/);
    expect(await aal()).toBe('aal2');
  });

  it('7. loses phone and codes: recovers through the verified address (code by mail) and is made to enroll again', async () => {
    // The address was verified with the link in the mail sent at registration.
    const verify = await mail('Please verify your email address');
    const link = /(http:\/\/\S+\/self-service\/verification\?\S+)/.exec(verify.text)![1]!;
    await page.goto(link);
    await page.waitForLoadState('load');
    expect(await messageIds()).toContain(1080002);
    await arrive(page, b, '12-address-verified');
    phone.lose();
    codes = [];

    await passwordStep();
    await clickAndLoad(page, page.getByRole('link', { name: 'Lost your authenticator and codes?' }));
    await page.waitForURL(/\/ui\/recovery\?flow=/);
    expect(await heading()).toBe('Recover your account');
    await arrive(page, b, '13-recovery-start');
    await page.getByLabel('Email').fill(email);
    await clickAndLoad(page, page.getByRole('button', { name: /Submit|Continue|Send/ }).first());
    expect(await messageIds()).toContain(1060003);
    const code = /\b(\d{6})\b/.exec((await mail('Recover access to your account')).text)![1]!;
    await page.getByLabel('Recovery code').fill(code);
    await clickAndLoad(page, page.getByRole('button', { name: /Submit|Continue/ }).first());
    // Email alone does not remove the second factor: the password completes the reset.
    expect(await messageIds()).toContain(1900400);
    await arrive(page, b, '14-recovery-mfa-reset');
    await page.getByLabel('Password').fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button').filter({ hasText: /Sign in|Continue|Submit|Reset/ }).first());
    await page.waitForURL(/\/ui\/settings\?flow=/);
    expect(await messageIds()).toEqual(expect.arrayContaining([1060001, 1900401]));
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('false');
    await arrive(page, b, '15-recovered-enroll-again');
    // Until a new app is set up, the session does not open the account.
    await page.goto(`${k.publicUrl}/ui/welcome`);
    expect(new URL(page.url()).pathname).not.toBe('/ui/welcome');

    await page.goto(`${k.publicUrl}/ui/settings`);
    await page.waitForURL(/\/ui\/settings\?flow=/);
    const totp = page.getByTestId('ui/group/totp');
    await phone.scan(totp.locator('figure.qr img'));
    nextStep();
    await totp.getByLabel('Verify code').fill(phone.code());
    await clickAndLoad(page, totp.getByRole('button', { name: 'Save' }));
    const group = page.getByTestId('ui/group/lookup_secret');
    codes = await group.locator('[data-testid="node/text/lookup_secret_codes/text"] code').allTextContents();
    await group.getByRole('checkbox').check();
    await clickAndLoad(page, group.getByRole('button', { name: 'Confirm backup recovery codes' }));
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('true');
    await page.goto(`${k.publicUrl}/ui/welcome`);
    expect(await aal()).toBe('aal2');
  });

  it('8. an admin resets the MFA through the admin API; the user signs in with the password and is guided to enroll again', async () => {
    const identityId = (await k.identityApi.listIdentities({ credentialsIdentifier: email }))[0]!.id;
    const remove = (type: string) =>
      fetch(`${k.adminUrl}/admin/identities/${identityId}/credentials/${type}`, {
        method: 'DELETE',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'e2e: helpdesk ticket, identity proven by video call' }),
      });
    expect((await remove('totp')).status).toBe(204);
    const credentialTypes = async () => Object.keys((await k.identityApi.getIdentity({ id: identityId })).credentials ?? {});
    // Recovery codes may go with the factor they back up; if not, the helpdesk removes them too.
    if ((await credentialTypes()).includes('lookup_secret')) expect((await remove('lookup_secret')).status).toBe(204);
    expect(await credentialTypes()).toEqual(['password']);
    phone.lose();
    await page.goto(`${k.publicUrl}/ui/logout`);
    await page.waitForURL(/\/ui\/login\?flow=/);
    await page.getByLabel('ID').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: 'Sign in' }));
    await page.waitForURL(/\/ui\/welcome/);
    const guide = page.getByTestId('ui/message/1900500');
    expect(await guide.isVisible()).toBe(true);
    await arrive(page, b, '16-after-admin-reset');
    await clickAndLoad(page, guide.getByRole('link', { name: 'Open account settings' }));
    await page.waitForURL(/\/ui\/settings\?flow=/);
    const totp = page.getByTestId('ui/group/totp');
    expect(await totp.getByRole('heading').textContent()).toBe('Set up an authenticator app');
    await phone.scan(totp.locator('figure.qr img'));
    nextStep();
    await totp.getByLabel('Verify code').fill(phone.code());
    await clickAndLoad(page, totp.getByRole('button', { name: 'Save' }));
    const group = page.getByTestId('ui/group/lookup_secret');
    await group.getByRole('checkbox').check();
    await clickAndLoad(page, group.getByRole('button', { name: 'Confirm backup recovery codes' }));
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('true');
  });
});
