/**
 * The whole MFA lifecycle in a real browser, as a person with a phone lives it (issue 7). The phone reads the QR code
 * off the rendered page and computes codes with oathtool; nothing here reads a secret from the DOM or the database.
 * Each step is a browser action checked by an assertion, with a screenshot and an accessibility check of every page.
 *
 * Three runs: SQLite at desktop size in English; PostgreSQL at phone size in German (the browser asks for de-DE);
 * SQLite at desktop size in dark mode (prefers-color-scheme: dark), where axe also checks every colour contrast.
 * The words a run looks for come from the catalogue in its language, so a page in the wrong language fails.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { DIALECTS, type Dialect, type TestKairos } from '../support/harness.js';
import { arrive, clickAndLoad, DESKTOP, openBrowser, PHONE, type E2eBrowser, type Viewport } from './support/browser.js';
import { Phone } from './support/phone.js';
import { TestSmtpServer, eventually } from '../support/smtp.js';
import { E2E_BRAND, newEmail, PASSWORD, startE2eKairos } from './support/kairos.js';
import { translator, type Language } from '../../src/ui/i18n/catalogue.js';
import type { MessageKey } from '../../src/ui/i18n/en.js';
import { msg, type UiText } from '../../src/ui/messages.js';
import { lookupMsg } from '../../src/credentials/lookup-secret/messages.js';

/** One TOTP step (RFC 6238's default period, the one the server enrolls with). */
const STEP_SECONDS = 30;

interface Run {
  dialect: Dialect;
  viewport: Viewport;
  language: Language;
  locale: string;
  colorScheme: 'light' | 'dark';
  shotPrefix: string;
}

const RUNS: Run[] = (
  [
    { dialect: 'sqlite', viewport: DESKTOP, language: 'en', locale: 'en-GB', colorScheme: 'light', shotPrefix: 'desktop' },
    { dialect: 'postgres', viewport: PHONE, language: 'de', locale: 'de-DE', colorScheme: 'light', shotPrefix: 'phone-de' },
    { dialect: 'sqlite', viewport: DESKTOP, language: 'en', locale: 'en-US', colorScheme: 'dark', shotPrefix: 'dark' },
  ] as Run[]
).filter((run) => DIALECTS.includes(run.dialect));

/** Literal phrases of the diagnosis hints, per language (checked as written, not taken from the catalogue). */
const PHRASES = {
  en: { skew: 'about 3 minutes ahead', oldEntry: 'old entry' },
  de: { skew: 'etwa 3 Minuten vor', oldEntry: 'alten Eintrag' },
} as const;

describe.each(RUNS)('MFA lifecycle in Chromium ($dialect, $viewport.name, $language, $colorScheme)', ({ dialect, viewport, language, locale, colorScheme, shotPrefix }) => {
  const tr = translator(language);
  const L = (key: MessageKey, values?: Record<string, string | number | Date>) => tr.t(key, values);
  const M = (m: UiText) => tr.message(m);
  const phrases = PHRASES[language];
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
  /** Settings: "Set up an authenticator app" — only then is a QR code on the page. */
  const setUpApp = async () => {
    await clickAndLoad(page, page.getByTestId('ui/totp/setup'));
    await page.locator('figure.qr img').waitFor();
  };

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
    b = await openBrowser(viewport, { locale, colorScheme, shotPrefix });
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
    await page.getByLabel(L('label.email'), { exact: true }).fill(email);
    await page.getByLabel(M(msg.labelPassword()), { exact: true }).fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: M(msg.registrationSignUp()) }));
    // After sign-up: the verification step (when the registration hook sends the browser there) or the welcome
    // page with the prompt to verify; this run verifies later, from the mail (step 7).
    await page.waitForURL(/\/ui\/(welcome|verification)/);
    expect(await page.locator('html').getAttribute('lang')).toBe(language);
    if (new URL(page.url()).pathname === '/ui/verification') await clickAndLoad(page, page.getByTestId('ui/link/verify-later'));
    await page.waitForURL(/\/ui\/welcome/);
    await arrive(page, b, '01-welcome-after-registration');
    expect(await page.getByTestId('ui/verify-prompt').isVisible()).toBe(true);
    expect(await page.getByTestId('ui/message/1900500').isVisible()).toBe(true);

    await clickAndLoad(page, page.getByRole('link', { name: L('welcome.settings'), exact: true }));
    await page.waitForURL(/\/ui\/settings\?flow=/);
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('false');
    // Nothing is generated for the person to scan until they choose to set up an app.
    expect(await page.locator('figure.qr').count()).toBe(0);
    await setUpApp();
    const totp = page.getByTestId('ui/group/totp');
    expect(await totp.getByRole('heading').textContent()).toBe(L('group.totp.setup'));
    const qr = totp.locator('figure.qr img');
    const box = (await qr.boundingBox())!;
    // Large enough for a phone camera across a desk: at least 200 CSS pixels, and fully inside the viewport width.
    expect(box.width).toBeGreaterThanOrEqual(200);
    expect(box.x + box.width).toBeLessThanOrEqual(viewport.width);
    const input = totp.getByLabel(M(msg.labelVerifyCode()));
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
    expect(await totp.getByRole('button', { name: L('secret.copy.label') }).isVisible()).toBe(true);
  });

  it('2. enters the code, is shown recovery codes, downloads them, confirms, and sees TOTP enrolled', async () => {
    const totp = page.getByTestId('ui/group/totp');
    await totp.getByLabel(M(msg.labelVerifyCode())).fill(phone.code());
    await clickAndLoad(page, totp.getByRole('button', { name: M(msg.labelSave()) }));
    await page.waitForURL(/\/ui\/settings\?flow=/);
    // The code was right, but nothing is enrolled until the recovery codes are saved.
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('false');
    const group = page.getByTestId('ui/group/lookup_secret');
    expect(await group.getByRole('heading').textContent()).toBe(L('group.lookup_secret.save'));
    codes = await group.locator('[data-testid="node/text/lookup_secret_codes/text"] code').allTextContents();
    expect(codes.length).toBeGreaterThanOrEqual(10);
    expect(new Set(codes).size).toBe(codes.length);
    await arrive(page, b, '03-recovery-codes');

    const [download] = await Promise.all([page.waitForEvent('download'), group.getByRole('link', { name: M(lookupMsg.downloadLabel()) }).click()]);
    expect(download.suggestedFilename()).toMatch(/\.txt$/);
    const file = readFileSync((await download.path())!, 'utf8');
    const fileCodes = [...file.matchAll(/^\s*\d+\.\s+(\S+)\s*$/gm)].map((m) => m[1]);
    expect(fileCodes).toEqual(codes);

    // "I have saved these codes" is required: the browser does not send the form without it.
    const confirm = group.getByRole('button', { name: M(msg.settingsLookupConfirm()) });
    await confirm.click();
    expect(await group.getByRole('checkbox').evaluate((el) => (el as HTMLInputElement).validity.valueMissing)).toBe(true);
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('false');
    await group.getByRole('checkbox', { name: M(lookupMsg.acknowledgeLabel()) }).check();
    await clickAndLoad(page, confirm);
    await page.waitForURL(/\/ui\/settings\?flow=/);
    expect(await messageIds()).toContain(1050001);
    for (const factor of ['totp', 'lookup_secret']) expect(await page.getByTestId(`ui/factor/${factor}`).getAttribute('data-enrolled')).toBe('true');
    const today = new Intl.DateTimeFormat(language, { year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' }).format(k.clock.nowMs());
    const added = (await page.getByTestId('ui/factor/totp').textContent())!;
    expect(added).toContain(L('factor.added', { at: new Date(k.clock.nowMs()) }).split(' ')[0]!);
    expect(added).toContain(today);
    expect(await page.getByTestId('ui/group/totp').getByRole('button', { name: M(msg.settingsUnlinkTotp()) }).isVisible()).toBe(true);
    await arrive(page, b, '04-settings-totp-enrolled');
  });

  it('3. signs out, signs in with the password, gets the second-factor page and lands at aal2 with a fresh code', async () => {
    await page.goto(`${k.publicUrl}/ui/logout`);
    await page.waitForURL(/\/ui\/login\?flow=/);
    await page.getByLabel(L('label.email'), { exact: true }).fill(email);
    await page.getByLabel(M(msg.labelPassword()), { exact: true }).fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: M(msg.loginSignIn()) }));
    await page.waitForURL(/\/ui\/login\?flow=/);
    expect(await heading()).toBe(L('title.secondFactor'));
    expect(await messageIds()).toContain(1010004);
    const code = page.getByTestId('ui/group/totp').getByLabel(M(msg.loginTotpLabel()));
    expect(await code.getAttribute('inputmode')).toBe('numeric');
    expect(await code.getAttribute('autocomplete')).toBe('one-time-code');
    await arrive(page, b, '05-second-factor');

    nextStep();
    await code.fill(phone.code());
    await clickAndLoad(page, page.getByRole('button', { name: M(msg.loginUseTotp()) }));
    await page.waitForURL(/\/ui\/welcome/);
    expect(await page.getByTestId('ui/session/aal').getAttribute('data-aal')).toBe('aal2');
    await arrive(page, b, '06-signed-in-aal2');
  });

  /** Signs out, then in with the password: the second-factor page. */
  async function passwordStep(): Promise<void> {
    await page.goto(`${k.publicUrl}/ui/logout`);
    await page.waitForURL(/\/ui\/login\?flow=/);
    await page.getByLabel(L('label.email'), { exact: true }).fill(email);
    await page.getByLabel(M(msg.labelPassword()), { exact: true }).fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: M(msg.loginSignIn()) }));
    expect(await heading()).toBe(L('title.secondFactor'));
  }

  async function useBackupCode(code: string): Promise<void> {
    const group = page.getByTestId('ui/group/lookup_secret');
    // After a rejected code every form is on the page already, with no link to it.
    if (!(await group.isVisible())) await page.getByRole('link', { name: L('switch.lookup_secret') }).click();
    await group.getByLabel(M(msg.loginLookupLabel())).fill(code);
    await clickAndLoad(page, group.getByRole('button', { name: M(msg.loginUseLookup()) }));
  }

  async function useAppCode(code: string): Promise<void> {
    const group = page.getByTestId('ui/group/totp');
    await group.getByLabel(M(msg.loginTotpLabel())).fill(code);
    await clickAndLoad(page, group.getByRole('button', { name: M(msg.loginUseTotp()) }));
  }

  const aal = () => page.getByTestId('ui/session/aal').getAttribute('data-aal');

  it('4. loses the phone: a backup code works once, shows what remains; regenerated codes replace the old ones', async () => {
    await passwordStep();
    // Without JavaScript the backup-code form sits behind a plain link; it is hidden until asked for.
    expect(await page.getByTestId('ui/group/lookup_secret').isVisible()).toBe(false);
    await page.getByRole('link', { name: L('switch.lookup_secret') }).click();
    expect(await page.getByTestId('ui/group/lookup_secret').isVisible()).toBe(true);
    await arrive(page, b, '07-use-backup-code');
    await useBackupCode(codes[0]!);
    await page.waitForURL(/\/ui\/welcome/);
    expect(await aal()).toBe('aal2');
    const remaining = page.getByTestId('ui/message/1900200');
    expect(await remaining.textContent()).toContain(M(lookupMsg.codesRemaining(codes.length - 1)));
    await arrive(page, b, '08-backup-code-remaining');

    await passwordStep();
    await useBackupCode(codes[0]!);
    expect(await messageIds()).toContain(4000012);
    expect(await page.getByTestId('ui/message/4000012').textContent()).toBe(M(msg.lookupAlreadyUsed()));
    // After a rejected code every option is on the page.
    expect(await page.getByTestId('ui/group/lookup_secret').isVisible()).toBe(true);
    await arrive(page, b, '09-backup-code-reused');
    await useBackupCode(codes[1]!);
    await page.waitForURL(/\/ui\/welcome/);

    await page.goto(`${k.publicUrl}/ui/settings`);
    await page.waitForURL(/\/ui\/settings\?flow=/);
    let group = page.getByTestId('ui/group/lookup_secret');
    expect(await group.getByTestId('node/text/lookup_secret_status/text').textContent()).toContain(M(lookupMsg.codesStatus(codes.length - 2, codes.length)));
    await clickAndLoad(page, group.getByRole('button', { name: M(msg.settingsRevealLookup()) }));
    group = page.getByTestId('ui/group/lookup_secret');
    expect(await group.locator('li.used').count()).toBe(2);
    await clickAndLoad(page, group.getByRole('button', { name: M(msg.settingsRegenerateLookup()) }));
    group = page.getByTestId('ui/group/lookup_secret');
    const fresh = await group.locator('[data-testid="node/text/lookup_secret_codes/text"] code').allTextContents();
    expect(fresh.length).toBe(codes.length);
    expect(fresh.some((c) => codes.includes(c))).toBe(false);
    await group.getByRole('checkbox').check();
    await clickAndLoad(page, group.getByRole('button', { name: M(msg.settingsLookupConfirm()) }));
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
    expect(await hint.textContent()).toContain(phrases.skew);
    expect(await hint.textContent()).toContain(L('callout.error'));
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
    await totp.getByLabel(L('1900101')).fill(phone.code(old));
    await clickAndLoad(page, totp.getByRole('button', { name: M(msg.settingsUnlinkTotp()) }));
    expect(await messageIds()).toContain(1050001);
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('false');
    await setUpApp();
    totp = page.getByTestId('ui/group/totp');
    const entry = await phone.scan(totp.locator('figure.qr img'));
    expect(entry.secretBase32).not.toBe(old.secretBase32);
    await totp.getByLabel(M(msg.labelVerifyCode())).fill(phone.code(entry));
    await clickAndLoad(page, totp.getByRole('button', { name: M(msg.labelSave()) }));
    // Unused backup codes remain, so the new app is enrolled at once.
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('true');

    await passwordStep();
    nextStep();
    await useAppCode(phone.code(old));
    const hint = page.getByTestId('ui/message/4900004');
    expect(await hint.textContent()).toContain(phrases.oldEntry);
    await arrive(page, b, '11-old-entry-hint');
    nextStep();
    await useAppCode(phone.code(entry));
    await page.waitForURL(/\/ui\/welcome/);
    expect(await aal()).toBe('aal2');
  });

  it('7. loses phone and codes: recovers through the verified address (code by mail) and is made to enroll again', async () => {
    // The address was verified with the link in the mail sent at registration.
    const verify = await mail(L('email.verification_code_valid.subject'));
    const link = /(http:\/\/\S+\/self-service\/verification\?\S+)/.exec(verify.text)![1]!;
    await page.goto(link);
    await page.waitForLoadState('load');
    expect(await messageIds()).toContain(1080002);
    await arrive(page, b, '12-address-verified');
    phone.lose();
    codes = [];

    await passwordStep();
    await clickAndLoad(page, page.getByRole('link', { name: L('link.lostSecondFactor') }));
    await page.waitForURL(/\/ui\/recovery\?flow=/);
    expect(await heading()).toBe(L('title.recovery'));
    await arrive(page, b, '13-recovery-start');
    await page.getByLabel(M(msg.labelEmail()), { exact: true }).fill(email);
    await clickAndLoad(page, page.getByRole('button', { name: L('action.sendCode') }));
    expect(await messageIds()).toContain(1060003);
    const code = /\b(\d{6})\b/.exec((await mail(L('email.recovery_code_valid.subject'))).text)![1]!;
    await page.getByLabel(M(msg.labelRecoveryCode())).fill(code);
    await clickAndLoad(page, page.getByRole('button', { name: M(msg.labelSubmit()), exact: true }));
    // Email alone does not remove the second factor: the password completes the reset.
    expect(await messageIds()).toContain(1900400);
    await arrive(page, b, '14-recovery-mfa-reset');
    await page.getByLabel(M(msg.labelPassword()), { exact: true }).fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: M(msg.labelSubmit()), exact: true }));
    await page.waitForURL(/\/ui\/settings\?flow=/);
    expect(await messageIds()).toEqual(expect.arrayContaining([1060001, 1900401]));
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('false');
    await arrive(page, b, '15-recovered-enroll-again');
    // Until a new app is set up, the session does not open the account.
    await page.goto(`${k.publicUrl}/ui/welcome`);
    expect(new URL(page.url()).pathname).not.toBe('/ui/welcome');

    await page.goto(`${k.publicUrl}/ui/settings`);
    await page.waitForURL(/\/ui\/settings\?flow=/);
    await setUpApp();
    const totp = page.getByTestId('ui/group/totp');
    await phone.scan(totp.locator('figure.qr img'));
    nextStep();
    await totp.getByLabel(M(msg.labelVerifyCode())).fill(phone.code());
    await clickAndLoad(page, totp.getByRole('button', { name: M(msg.labelSave()) }));
    const group = page.getByTestId('ui/group/lookup_secret');
    codes = await group.locator('[data-testid="node/text/lookup_secret_codes/text"] code').allTextContents();
    await group.getByRole('checkbox').check();
    await clickAndLoad(page, group.getByRole('button', { name: M(msg.settingsLookupConfirm()) }));
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
    await page.getByLabel(L('label.email'), { exact: true }).fill(email);
    await page.getByLabel(M(msg.labelPassword()), { exact: true }).fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: M(msg.loginSignIn()) }));
    await page.waitForURL(/\/ui\/welcome/);
    const guide = page.getByTestId('ui/message/1900500');
    expect(await guide.isVisible()).toBe(true);
    await arrive(page, b, '16-after-admin-reset');
    await clickAndLoad(page, guide.getByRole('link', { name: L('link.openSettings') }));
    await page.waitForURL(/\/ui\/settings\?flow=/);
    await setUpApp();
    const totp = page.getByTestId('ui/group/totp');
    expect(await totp.getByRole('heading').textContent()).toBe(L('group.totp.setup'));
    await phone.scan(totp.locator('figure.qr img'));
    nextStep();
    await totp.getByLabel(M(msg.labelVerifyCode())).fill(phone.code());
    await clickAndLoad(page, totp.getByRole('button', { name: M(msg.labelSave()) }));
    const group = page.getByTestId('ui/group/lookup_secret');
    await group.getByRole('checkbox').check();
    await clickAndLoad(page, group.getByRole('button', { name: M(msg.settingsLookupConfirm()) }));
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('true');
  });
});
