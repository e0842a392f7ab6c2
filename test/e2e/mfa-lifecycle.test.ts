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

  beforeAll(async () => {
    k = await startE2eKairos(dialect);
    b = await openBrowser(viewport);
    page = b.page;
    phone = new Phone(() => k.clock.nowMs());
  });
  afterAll(async () => {
    await b?.close();
    await k?.close();
  });

  it('1. registers, opens settings and scans the QR code with the phone', async () => {
    await page.goto(`${k.publicUrl}/ui/registration`);
    await page.getByLabel('E-Mail').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: 'Sign up' }));
    await page.waitForURL(/\/ui\/welcome/);
    await arrive(page, b, '01-welcome-after-registration');
    expect(await page.getByTestId('ui/message/1900500').isVisible()).toBe(true);

    await clickAndLoad(page, page.getByRole('link', { name: 'Account settings' }));
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
});
