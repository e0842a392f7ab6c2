/**
 * Issue 2's hosted-UI smoke test in a real browser: register, sign out, sign in, with nothing but the pages' forms
 * and links.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestKairos } from '../support/harness.js';
import { arrive, clickAndLoad, DESKTOP, openBrowser, type E2eBrowser } from './support/browser.js';
import { newEmail, PASSWORD, startE2eKairos } from './support/kairos.js';
import { Phone } from './support/phone.js';

describe('hosted UI smoke test (Chromium): register, sign out, sign in', () => {
  let k: TestKairos;
  let b: E2eBrowser;
  beforeAll(async () => {
    k = await startE2eKairos('sqlite', { selfservice: { methods: { totp: { enabled: false } } } });
    b = await openBrowser(DESKTOP);
  });
  afterAll(async () => {
    await b?.close();
    await k?.close();
  });

  it('registers, signs out and signs in again through the hosted pages', async () => {
    const { page } = b;
    const email = newEmail('smoke');
    await page.goto(`${k.publicUrl}/ui/registration`);
    expect(new URL(page.url()).pathname).toBe('/ui/registration');
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Create your account');
    await arrive(page, b, 'smoke-registration');
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: 'Create account' }));
    await page.waitForURL(/\/ui\/(welcome|verification)/);
    if (new URL(page.url()).pathname === '/ui/verification') await clickAndLoad(page, page.getByTestId('ui/link/verify-later'));
    expect(await page.getByTestId('ui/session').textContent()).toContain(email);

    await clickAndLoad(page, page.getByRole('link', { name: 'Sign out' }));
    await page.waitForURL(/\/ui\/login\?flow=/);
    await page.goto(`${k.publicUrl}/ui/welcome`);
    expect(await page.locator('main').textContent()).toContain('You are not signed in');

    await clickAndLoad(page, page.getByRole('link', { name: 'Sign in' }).first());
    await page.waitForURL(/\/ui\/login\?flow=/);
    await arrive(page, b, 'smoke-login');
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: 'Sign in' }));
    await page.waitForURL(/\/ui\/welcome/);
    expect(await page.getByTestId('ui/session').textContent()).toContain(email);
    expect(await page.getByTestId('ui/session/aal').getAttribute('data-aal')).toBe('aal1');
    expect(await page.getByTestId('ui/session/aal').textContent()).toBe('Signed in with one step: Password.');
  });

  it('a form sent without its security cookie ends on an error page that explains what to do', async () => {
    const { page } = b;
    await b.context.clearCookies();
    await page.goto(`${k.publicUrl}/ui/login`);
    await page.waitForURL(/\/ui\/login\?flow=/);
    // The cookie is lost between opening the form and sending it (blocked cookies, another browser).
    await b.context.clearCookies();
    await page.getByLabel('Email', { exact: true }).fill('someone@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: 'Sign in' }));
    await page.waitForURL(/\/ui\/error\?id=/);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('This form could not be verified');
    expect(await page.getByTestId('ui/error').textContent()).toContain('Allow cookies for this site');
    await arrive(page, b, 'smoke-error-csrf');
    await clickAndLoad(page, page.getByRole('link', { name: 'Sign in again' }));
    await page.waitForURL(/\/ui\/login\?flow=/);
  });
});

describe('hosted UI without JavaScript (Chromium, scripts disabled)', () => {
  let k: TestKairos;
  let b: E2eBrowser;
  beforeAll(async () => {
    k = await startE2eKairos('sqlite');
    b = await openBrowser(DESKTOP, { javaScript: false });
  });
  afterAll(async () => {
    await b?.close();
    await k?.close();
  });

  it('registers and sets up an authenticator app and its recovery codes with plain forms; the copy button (a script feature) is not shown', async () => {
    const { page } = b;
    const phone = new Phone(() => k.clock.nowMs());
    await page.goto(`${k.publicUrl}/ui/registration`);
    await page.getByLabel('Email', { exact: true }).fill(newEmail('nojs'));
    await page.getByLabel('Password').fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: 'Create account' }));
    await page.waitForURL(/\/ui\/(welcome|verification)/);
    await page.goto(`${k.publicUrl}/ui/settings`);
    await page.waitForURL(/\/ui\/settings\?flow=/);
    // "Set up an authenticator app" is a plain link to the same flow: no script needed.
    await clickAndLoad(page, page.getByRole('link', { name: 'Set up an authenticator app' }));
    const totp = page.getByTestId('ui/group/totp');
    expect(await totp.getByRole('button', { name: 'Copy the secret key' }).isVisible()).toBe(false);
    await phone.scan(totp.locator('figure.qr img'));
    await totp.getByLabel('Code from the app').fill(phone.code());
    await clickAndLoad(page, totp.getByRole('button', { name: 'Save' }));
    await page.waitForURL(/\/ui\/settings\?flow=/);
    const codes = page.getByTestId('ui/group/lookup_secret');
    await codes.getByRole('checkbox').check();
    await clickAndLoad(page, codes.getByRole('button', { name: 'Confirm backup codes' }));
    await page.waitForURL(/\/ui\/settings\?flow=/);
    expect(await page.getByTestId('ui/message/1050001').isVisible()).toBe(true);
  });
});
