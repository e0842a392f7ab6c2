/**
 * The account experience around the MFA screens (issue 19), in a real browser: no stale hint after a rejected and
 * then accepted code; verifying the address after sign-up, with a resent code; recovery that tells the truth about
 * unverified addresses without telling strangers whether an address exists; the language switcher.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { TestKairos } from '../support/harness.js';
import { arrive, clickAndLoad, DESKTOP, openBrowser, type E2eBrowser } from './support/browser.js';
import { Phone } from './support/phone.js';
import { TestSmtpServer, eventually } from '../support/smtp.js';
import { newEmail, PASSWORD, startE2eKairos } from './support/kairos.js';

const STEP_SECONDS = 30;

describe('account experience in Chromium (sqlite, desktop)', () => {
  let k: TestKairos;
  let b: E2eBrowser;
  let page: Page;
  let smtp: TestSmtpServer;

  /** The next mail with this subject to `to` (taken off the test SMTP server's list). */
  const mail = (to: string, subject: string) =>
    eventually(async () => {
      const found = smtp.received.find((m) => m.to.includes(to) && m.subject === subject);
      if (found) smtp.received.splice(smtp.received.indexOf(found), 1);
      return found;
    }, 20_000);
  const codeIn = (text: string) => /\b(\d{6})\b/.exec(text)![1]!;
  const messageIds = async () =>
    page.locator('[data-testid^="ui/message/"]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-testid')!.split('/')[2])));

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    k = await startE2eKairos('sqlite', { courier: { smtp: { connection_uri: smtp.uri, from_address: 'accounts@acme.example' }, worker: { poll_interval: '50ms' } } });
    b = await openBrowser(DESKTOP);
    page = b.page;
  });
  afterAll(async () => {
    await b?.close();
    await k?.close();
    await smtp?.stop();
  });

  async function register(email: string): Promise<void> {
    await b.context.clearCookies();
    await page.goto(`${k.publicUrl}/ui/registration`);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: 'Create account' }));
    await page.waitForURL(/\/ui\/(welcome|verification)/);
  }

  async function signOut(): Promise<void> {
    await page.goto(`${k.publicUrl}/ui/logout`);
    await page.waitForURL(/\/ui\/login\?flow=/);
  }

  it('a rejected code followed by the right one: the page after sign-in shows no hint about the rejected code', async () => {
    const email = newEmail('stale');
    const phone = new Phone(() => k.clock.nowMs());
    await register(email);
    await page.goto(`${k.publicUrl}/ui/settings`);
    await clickAndLoad(page, page.getByTestId('ui/totp/setup'));
    const totp = page.getByTestId('ui/group/totp');
    await phone.scan(totp.locator('figure.qr img'));
    await totp.getByLabel('Code from the app').fill(phone.code());
    await clickAndLoad(page, totp.getByRole('button', { name: 'Save' }));
    const codes = page.getByTestId('ui/group/lookup_secret');
    await codes.getByRole('checkbox').check();
    await clickAndLoad(page, codes.getByRole('button', { name: 'Confirm backup codes' }));
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('true');

    await signOut();
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: 'Sign in' }));
    const group = page.getByTestId('ui/group/totp');
    k.clock.advanceSeconds(STEP_SECONDS);
    phone.clockOffsetSeconds = 180;
    await group.getByLabel('Authentication code').fill(phone.code());
    await clickAndLoad(page, group.getByRole('button', { name: 'Verify' }));
    expect(await messageIds()).toContain(4900003);
    phone.clockOffsetSeconds = 0;
    k.clock.advanceSeconds(STEP_SECONDS);
    await page.getByTestId('ui/group/totp').getByLabel('Authentication code').fill(phone.code());
    await clickAndLoad(page, page.getByTestId('ui/group/totp').getByRole('button', { name: 'Verify' }));
    await page.waitForURL(/\/ui\/welcome/);
    expect(await page.getByTestId('ui/session/aal').getAttribute('data-aal')).toBe('aal2');
    // The sign-in succeeded: nothing about the rejected attempt, and no error callout at all.
    expect(await messageIds()).not.toContain(4900003);
    expect(await page.locator('[data-message-type="error"][data-testid^="ui/message/"]').count()).toBe(0);
    expect(await page.locator('main').textContent()).not.toContain('Why this did not work');
    await arrive(page, b, '20-signed-in-no-stale-hint');
  });

  it('after sign-up the address is verified with an emailed code; a resent code replaces the first; settings then show it verified', async () => {
    const email = newEmail('verify');
    await register(email);
    // The code sent at registration arrives; the person asks for one from the page, then for a new one.
    const atRegistration = codeIn((await mail(email, 'Please verify your email address')).text);
    if (new URL(page.url()).pathname === '/ui/welcome') {
      const prompt = page.getByTestId('ui/verify-prompt');
      expect(await prompt.textContent()).toContain(email);
      expect(await prompt.textContent()).toContain('recovery codes are sent only to verified addresses');
      await arrive(page, b, '21-verify-prompt-after-signup');
      await clickAndLoad(page, prompt.getByRole('link', { name: 'Verify my email address' }));
      await page.waitForURL(/\/ui\/verification\?flow=/);
      // Pre-filled with the person's own address.
      expect(await page.getByLabel('Email', { exact: true }).inputValue()).toBe(email);
      await clickAndLoad(page, page.getByRole('button', { name: 'Send code' }));
    }
    expect(await page.locator('p.lead').textContent()).toContain(email);
    expect(await page.getByTestId('ui/link/verify-later').isVisible()).toBe(true);
    await arrive(page, b, '22-verify-enter-code');
    const first = codeIn((await mail(email, 'Please verify your email address')).text);

    await clickAndLoad(page, page.getByRole('button', { name: 'Send a new code' }));
    const second = codeIn((await mail(email, 'Please verify your email address')).text);
    expect(second).not.toBe(first);
    // The earlier codes of this page stopped working when the new one was sent.
    await page.getByLabel('Verification code').fill(first === second ? atRegistration : first);
    await clickAndLoad(page, page.getByRole('button', { name: 'Continue', exact: true }));
    expect(await messageIds()).toContain(4070006);
    await page.getByLabel('Verification code').fill(second);
    await clickAndLoad(page, page.getByRole('button', { name: 'Continue', exact: true }));
    expect(await messageIds()).toContain(1080002);
    await arrive(page, b, '23-address-verified');

    await page.goto(`${k.publicUrl}/ui/settings`);
    await page.waitForURL(/\/ui\/settings\?flow=/);
    expect(await page.getByTestId('ui/address').getAttribute('data-verified')).toBe('true');
    expect(await page.getByTestId('ui/address/unverified-warning').count()).toBe(0);
    await page.getByRole('navigation', { name: 'Settings sections' }).getByRole('link', { name: 'Email and recovery' }).click();
    expect(new URL(page.url()).hash).toBe('#email');
    await arrive(page, b, '24-settings-sections');
    await page.goto(`${k.publicUrl}/ui/welcome`);
    expect(await page.getByTestId('ui/verify-prompt').count()).toBe(0);
  });

  it('recovery to an unverified address sends nothing and says codes go only to verified addresses, exactly as for an unknown address', async () => {
    const email = newEmail('unverified');
    await register(email);
    await mail(email, 'Please verify your email address');
    await signOut();

    const recover = async (address: string): Promise<string> => {
      await page.goto(`${k.publicUrl}/ui/recovery`);
      await page.waitForURL(/\/ui\/recovery\?flow=/);
      expect(await page.locator('p.lead').textContent()).toContain('only to an address you have verified');
      await page.getByLabel('Email', { exact: true }).fill(address);
      await clickAndLoad(page, page.getByRole('button', { name: 'Send code' }));
      return (await page.getByTestId('ui/message/1060003').textContent())!;
    };
    const forUnverified = await recover(email);
    expect(forUnverified).toContain('Codes are sent only to verified addresses');
    await arrive(page, b, '25-recovery-unverified-address');
    const forUnknown = await recover(newEmail('nobody'));
    expect(forUnknown).toBe(forUnverified);

    // The answer is committed with the outbox: nothing for recovery was queued for the unverified address.
    const queued = (await (await fetch(`${k.adminUrl}/admin/courier/messages?recipient=${encodeURIComponent(email)}`)).json()) as { template_type: string }[];
    expect(queued.map((m) => m.template_type)).not.toContain('recovery_code_valid');
    expect(queued.map((m) => m.template_type)).toContain('verification_code_valid');
  });

  it('the language can be switched on any page and the choice is kept', async () => {
    await b.context.clearCookies();
    await page.goto(`${k.publicUrl}/ui/login`);
    await page.waitForURL(/\/ui\/login\?flow=/);
    const flowUrl = page.url();
    await clickAndLoad(page, page.getByRole('link', { name: 'Deutsch' }));
    expect(page.url()).toBe(flowUrl);
    expect(await page.locator('html').getAttribute('lang')).toBe('de');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Anmelden');
    await page.goto(`${k.publicUrl}/ui/recovery`);
    await page.waitForURL(/\/ui\/recovery\?flow=/);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Konto wiederherstellen');
    await arrive(page, b, '26-language-switched');
    await clickAndLoad(page, page.getByRole('link', { name: 'English' }));
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Recover your account');
  });
});
