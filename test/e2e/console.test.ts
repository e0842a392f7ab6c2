/**
 * The operator console in a real browser (Chromium), on SQLite and PostgreSQL: a helpdesk operator signs in through
 * Kairos's own login with password and TOTP, finds a locked-out user, diagnoses the skewed code the user reads out
 * (oathtool at a shifted time), unlocks, and the user then signs in; an MFA reset with the verification checklist; a
 * four-eyes reset approved by a second operator; an auditor sees but cannot act; an identity without a role gets
 * 403; the dashboard's numbers are the friction report's. axe-core on every console page, screenshots of each.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { DIALECTS, type TestKairos } from '../support/harness.js';
import { clickAndLoad, DESKTOP, expectNoHorizontalScroll, openBrowser, PHONE, screenshot, type E2eBrowser } from './support/browser.js';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Phone, type AuthenticatorEntry } from './support/phone.js';
import { E2E_BRAND, newEmail, PASSWORD, startE2eKairos } from './support/kairos.js';
import { translator } from '../../src/ui/i18n/catalogue.js';
import { msg } from '../../src/ui/messages.js';
import { encodeBase32 } from '../../src/otp/base32.js';
import { randomBytes } from 'node:crypto';

const tr = translator('en');
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * axe-core on a console page. The console's CSP refuses inline scripts, so axe is evaluated through the DevTools
 * protocol (not a <script> tag, which the CSP would block, as it should).
 */
async function expectAccessibleUnderCsp(page: Page, where: string): Promise<void> {
  await page.evaluate(AXE_SOURCE);
  const violations = (await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: unknown[] }> } }).axe;
    return (await axe.run(document, { resultTypes: ['violations'] })).violations;
  })) as { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[];
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad.map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`), `accessibility of ${where} (${page.url()})`).toEqual([]);
}

/** Checks a page; `keep` screenshots go to docs/screenshots/ when updating (one dialect's are enough), others to the run's tmp. */
async function arrive(page: Page, b: E2eBrowser, step: string, keep: boolean): Promise<void> {
  await page.waitForLoadState('load');
  if (new URL(page.url()).pathname.startsWith('/console')) await expectAccessibleUnderCsp(page, step);
  await expectNoHorizontalScroll(page, step);
  if (keep) await screenshot(page, `${b.shotPrefix}-${step}`);
  else await page.screenshot({ path: join(tmpdir(), 'kairos-e2e-screenshots', `${b.shotPrefix}-${step}.png`), fullPage: true });
}
const M = tr.message.bind(tr);

interface Person {
  email: string;
  id: string;
  entry: AuthenticatorEntry;
}

describe.each(DIALECTS)('operator console in Chromium (%s)', (dialect) => {
  let k: TestKairos;
  let phone: Phone;
  const browsers: E2eBrowser[] = [];
  const people: Record<string, Person> = {};
  const shots = dialect === 'sqlite';
  const shot = async (page: Page, b: E2eBrowser, step: string) => arrive(page, b, shots ? `console-${step}` : `console-${dialect}-${step}`, shots);

  /** An identity created by the admin API, with a password and an authenticator entry the phone knows. */
  async function person(name: string, role: string | null): Promise<Person> {
    const email = newEmail(name);
    const entry: AuthenticatorEntry = { issuer: E2E_BRAND.name, account: email, secretBase32: encodeBase32(randomBytes(20)), algorithm: 'SHA1', digits: 6, periodSeconds: 30 };
    const response = await fetch(`${k.adminUrl}/admin/identities`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        schema_id: 'default',
        traits: { email },
        ...(role ? { metadata_admin: { role } } : {}),
        credentials: { password: { config: { password: PASSWORD } }, totp: { config: { totp_url: `otpauth://totp/${encodeURIComponent(`${E2E_BRAND.name}:${email}`)}?secret=${entry.secretBase32}&issuer=${encodeURIComponent(E2E_BRAND.name)}` } } },
      }),
    });
    expect(response.status, await response.clone().text()).toBe(201);
    return (people[name] = { email, id: (await response.json()).id, entry });
  }

  beforeAll(async () => {
    k = await startE2eKairos(dialect, { selfservice: { methods: { lookup_secret: { enabled: true }, totp: { config: { lockout: { base_delay: '15m', max_delay: '1h' } } } } } });
    phone = new Phone(() => k.clock.nowMs());
    for (const [name, role] of [['helpdesk', 'helpdesk'], ['second', 'helpdesk'], ['auditor', 'auditor'], ['ops', 'admin'], ['locked', null], ['lostphone', null], ['norole', null]] as const) await person(name, role);
  }, 120_000);
  afterAll(async () => {
    // The console's own pages never break their CSP (charts, styles and scripts are files of the console).
    expect(cspViolations).toEqual([]);
    for (const b of browsers) await b.close();
    await k?.close();
  });

  const cspViolations: string[] = [];
  async function browser(viewport = DESKTOP): Promise<E2eBrowser> {
    const b = await openBrowser(viewport, { shotPrefix: viewport.name });
    b.page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(`${b.page.url()}: ${m.text()}`);
    });
    browsers.push(b);
    return b;
  }

  /** A step of 30 s: each code is typed in a new time step. */
  const nextStep = () => k.clock.advanceMs(30_000);

  /** Kairos's hosted login: email and password, then the code from the phone on the second-factor page. */
  async function hostedLogin(page: Page, who: Person, offsetSeconds = 0) {
    await page.waitForURL(/\/ui\/login\?flow=/);
    await page.getByLabel(tr.t('label.email'), { exact: true }).fill(who.email);
    await page.getByLabel(M(msg.labelPassword()), { exact: true }).fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: M(msg.loginSignIn()) }));
    await page.waitForURL(/\/ui\/login\?flow=/);
    nextStep();
    phone.clockOffsetSeconds = offsetSeconds;
    await page.getByTestId('ui/group/totp').locator('input[name="totp_code"]').fill(phone.code(who.entry));
    phone.clockOffsetSeconds = 0;
    await clickAndLoad(page, page.getByRole('button', { name: M(msg.loginUseTotp()) }));
  }

  /** Signs an operator in to the console: the console sends the browser through Kairos's login and back. */
  async function consoleSignIn(b: E2eBrowser, who: Person): Promise<Page> {
    const { page } = b;
    await page.goto(`${k.adminUrl}/console/search`);
    await clickAndLoad(page, page.getByTestId('console/sign-in'));
    await hostedLogin(page, who);
    await page.waitForURL(/\/console\/search$/);
    expect(await page.getByTestId('console/operator').textContent()).toContain(who.email);
    return page;
  }

  async function act(page: Page, testid: string, fill: (form: import('playwright-core').Locator) => Promise<void>, reason: string) {
    const box = page.getByTestId(testid);
    await box.locator('summary').click();
    await fill(box);
    await box.getByLabel('Reason (recorded in the audit trail)').fill(reason);
    await clickAndLoad(page, box.getByRole('button').last());
  }

  it('a helpdesk operator signs in with password and TOTP, finds a locked-out user, diagnoses a skewed code, unlocks, and the user signs in', async () => {
    // The user's phone runs 3 minutes ahead: five refused codes, then a 15-minute delay.
    const locked = people.locked!;
    for (let i = 0; i < 5; i++) {
      const login = await (await fetch(`${k.publicUrl}/self-service/login/api`)).json();
      const first = await (await fetch(`${k.publicUrl}/self-service/login?flow=${login.id}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: 'password', identifier: locked.email, password: PASSWORD }) })).json();
      const aal2 = await (await fetch(`${k.publicUrl}/self-service/login/api?aal=aal2`, { headers: { 'x-session-token': first.session_token } })).json();
      phone.clockOffsetSeconds = 180;
      await fetch(`${k.publicUrl}/self-service/login?flow=${aal2.id}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-session-token': first.session_token }, body: JSON.stringify({ method: 'totp', totp_code: phone.code(locked.entry) }) });
      phone.clockOffsetSeconds = 0;
      nextStep();
    }

    const b = await browser();
    const { page } = b;
    await page.goto(`${k.adminUrl}/console/search`);
    await shot(page, b, '01-sign-in');
    await clickAndLoad(page, page.getByTestId('console/sign-in'));
    await hostedLogin(page, people.helpdesk!);
    await page.waitForURL(/\/console\/search$/);
    await shot(page, b, '02-search');

    await page.getByLabel('Email, identifier, address, id or trait').fill(locked.email.slice(0, 12));
    await clickAndLoad(page, page.getByRole('button', { name: 'Search' }));
    await shot(page, b, '03-search-results');
    await clickAndLoad(page, page.getByTestId('console/search-results').getByRole('link', { name: locked.email }));
    expect(await page.getByTestId('console/lockout').getAttribute('data-state')).toBe('delayed');
    await shot(page, b, '04-identity-locked');

    // The user reads out the code their phone shows (3 minutes ahead).
    nextStep();
    phone.clockOffsetSeconds = 180;
    const readOut = phone.code(locked.entry);
    phone.clockOffsetSeconds = 0;
    await act(page, 'console/action/diagnose', (f) => f.getByLabel('Code the user reads').fill(readOut), 'Ticket 1001: user says codes fail');
    const result = (await page.getByTestId('console/result').textContent())!;
    expect(result).toContain('Clock skew: the device clock is about 3 minutes ahead');
    expect(await page.getByTestId('console/say').textContent()).toContain('Set the time automatically');
    expect(await page.content()).not.toContain(readOut);
    expect(await page.getByTestId('console/lockout').getAttribute('data-state')).toBe('delayed');
    await shot(page, b, '05-diagnosis');

    await act(page, 'console/action/unlock', async () => {}, 'Ticket 1001: clock fixed on the phone');
    expect(await page.getByTestId('console/lockout').getAttribute('data-state')).toBe('none');
    await shot(page, b, '06-unlocked');

    // The user, clock fixed, signs in: after the steps their skewed phone revealed (never accepted) have passed.
    k.clock.advanceMs(4 * 60_000);
    const user = await browser();
    await user.page.goto(`${k.publicUrl}/ui/login`);
    await hostedLogin(user.page, locked);
    await user.page.waitForURL(/\/ui\/welcome/);
    expect(await user.page.getByTestId('ui/session/aal').getAttribute('data-aal')).toBe('aal2');
  });

  it('an MFA reset with the verification checklist', async () => {
    const page = browsers[0]!.page;
    const target = people.lostphone!;
    await page.goto(`${k.adminUrl}/console/search?q=${encodeURIComponent(target.email)}`);
    await clickAndLoad(page, page.getByTestId('console/search-results').getByRole('link', { name: target.email }));
    const form = page.getByTestId('console/action/mfa-reset');
    await form.locator('summary').click();
    await form.getByLabel('Now', { exact: true }).check();
    await form.getByLabel('Called the person back on the phone number on file').check();
    await form.getByLabel('The request is logged in a support ticket').check();
    await form.getByLabel('Reason (recorded in the audit trail)').fill('Ticket 1002: phone lost, verified by call-back');
    await shot(page, browsers[0]!, '07-mfa-reset-checklist');
    await clickAndLoad(page, form.getByRole('button', { name: 'Start MFA reset' }));
    expect(await page.getByTestId('console/result').textContent()).toContain('MFA reset done');
    expect(await page.locator('table').first().textContent()).not.toContain('totp');
    const action = await k.deps.db.selectFrom('audit_events').select(['details', 'actor']).where('identity_id', '=', target.id).where('type', '=', 'admin.action_performed').executeTakeFirstOrThrow();
    expect(JSON.parse(action.details)).toMatchObject({ action: 'mfa_reset.now', checklist: ['callback', 'ticket'], reason: 'Ticket 1002: phone lost, verified by call-back' });
    expect(action.actor).toBe(`console:${people.helpdesk!.id}`);
  });

  it('a four-eyes reset of a privileged identity, approved by a second operator', async () => {
    const page = browsers[0]!.page;
    const target = people.ops!;
    await page.goto(`${k.adminUrl}/console/identities/${target.id}`);
    await act(
      page,
      'console/action/mfa-reset',
      async (f) => {
        await f.getByLabel('Now', { exact: true }).check();
        await f.getByLabel('Checked a photo ID on a video call').check();
      },
      'Ticket 1003: admin lost their phone',
    );
    expect(await page.getByTestId('console/result').textContent()).toContain('second operator');
    await page.goto(`${k.adminUrl}/console/approvals`);
    expect(await page.getByTestId('console/approval').textContent()).toContain('You asked for this');

    const second = await browser();
    const p2 = await consoleSignIn(second, people.second!);
    await clickAndLoad(p2, p2.getByRole('link', { name: 'Approvals' }));
    await shot(p2, second, '08-approvals');
    const item = p2.getByTestId('console/approval');
    await item.getByLabel('Reason (recorded in the audit trail)').fill('Confirmed with their manager');
    await clickAndLoad(p2, item.getByRole('button', { name: 'Approve and reset' }));
    expect(await p2.getByTestId('console/result').textContent()).toContain('Approved');
    expect((await k.deps.identities.get(target.id))!.credentials.totp).toBeUndefined();
  });

  it('an auditor sees but cannot act; an identity without a role gets 403', async () => {
    const b = await browser();
    const page = await consoleSignIn(b, people.auditor!);
    await page.goto(`${k.adminUrl}/console/identities/${people.locked!.id}`);
    expect(await page.getByTestId('console/read-only').isVisible()).toBe(true);
    expect(await page.getByTestId('console/action/unlock').count()).toBe(0);
    await shot(page, b, '09-auditor-read-only');
    const csrf = await page.locator('input[name="csrf_token"]').first().getAttribute('value');
    const forged = await page.request.post(`${k.adminUrl}/console/identities/${people.locked!.id}/sessions/revoke`, { form: { reason: 'auditor tries', csrf_token: csrf! }, headers: { origin: k.adminUrl } });
    expect(forged.status()).toBe(403);

    const nobody = await browser();
    await nobody.page.goto(`${k.adminUrl}/console/search`);
    await clickAndLoad(nobody.page, nobody.page.getByTestId('console/sign-in'));
    await hostedLogin(nobody.page, people.norole!);
    await nobody.page.waitForURL(/\/console\/auth\/callback/);
    expect(await nobody.page.getByTestId('console/sign-in-error').textContent()).toContain('no console role');
    await shot(nobody.page, nobody, '10-no-role');
    // Signed in to Kairos without a console role: every page and action is refused by the server (403).
    for (const path of ['/console/search', `/console/identities/${people.locked!.id}`, '/console/dashboard', '/console/approvals', '/console/configuration']) {
      expect((await nobody.page.request.get(`${k.adminUrl}${path}`)).status(), path).toBe(403);
    }
    for (const path of ['unlock', 'sessions/revoke', 'mfa-reset', 'recovery', 'diagnose', 'resync', 'deactivate']) {
      const refused = await nobody.page.request.post(`${k.adminUrl}/console/identities/${people.locked!.id}/${path}`, { form: { reason: 'no role', checklist: 'callback', code: '123456' }, headers: { origin: k.adminUrl } });
      expect(refused.status(), path).toBe(403);
    }
    await nobody.page.goto(`${k.adminUrl}/console/dashboard`);
    expect(await nobody.page.getByTestId('console/error').textContent()).toContain('no console role');
  });

  it('the dashboard charts the friction report, with the same numbers; the configuration page shows what is in force', async () => {
    const b = browsers[0]!;
    const { page } = b;
    k.clock.advanceMs(1000);
    await page.goto(`${k.adminUrl}/console/dashboard?period=4w`);
    await page.locator('.chart canvas').first().waitFor();
    expect(await page.locator('.chart canvas').count()).toBeGreaterThanOrEqual(4);
    const report = await (await fetch(`${k.adminUrl}/admin/reports/friction?since=4w`)).json();
    const metric = async (key: string) => Number(await page.getByTestId(`console/metric/${key}`).textContent());
    expect(await metric('lockouts.delay')).toBe(report.totals.lockouts.delay);
    expect(await metric('lockouts.delay')).toBe(1);
    expect(await metric('recoveries.helpdesk')).toBe(report.totals.recoveries.helpdesk);
    expect(await metric('recoveries.helpdesk')).toBe(2);
    expect(await metric('rejected_codes.total')).toBe(Object.values(report.totals.rejected_codes as Record<string, number>).reduce((a, c) => a + c, 0));
    await shot(page, b, '11-dashboard');
    await clickAndLoad(page, page.getByRole('link', { name: 'Configuration' }));
    expect(await page.getByTestId('console/configuration').textContent()).toContain('selfservice.methods.totp.config.algorithm');
    await shot(page, b, '12-configuration');
  });

  it('works at phone width', async () => {
    const b = await browser(PHONE);
    const page = await consoleSignIn(b, people.second!);
    await shot(page, b, '13-search');
    await page.goto(`${k.adminUrl}/console/identities/${people.locked!.id}`);
    await shot(page, b, '14-identity');
  });
});
