/**
 * An MFA rollout in a real browser (issue 16): a person signs up before MFA is required; the operator turns on a rule
 * with a 7-day enrollment grace (a restart with the new configuration, same database); the person is reminded at each
 * sign-in with the deadline, and once the server clock has moved past it, is sent to settings and cannot go on until
 * a second factor is set up (the phone scans the QR code; codes come from oathtool at the server's time). The
 * friction report (GET /admin/reports/friction) then shows exactly that person's rollout: two reminders, one sign-in
 * sent to enrollment, one finished enrollment, each in the ISO week it happened, under the rule.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { createTestDatabase, DIALECTS, type TestDatabase, type TestKairos } from '../support/harness.js';
import { arrive, clickAndLoad, DESKTOP, openBrowser, type E2eBrowser } from './support/browser.js';
import { Phone } from './support/phone.js';
import { newEmail, PASSWORD, startE2eKairos } from './support/kairos.js';
import { translator } from '../../src/ui/i18n/catalogue.js';
import type { MessageKey } from '../../src/ui/i18n/en.js';
import { msg, type UiText } from '../../src/ui/messages.js';
import { lookupMsg } from '../../src/credentials/lookup-secret/messages.js';
import { ManualClock } from '../../src/support/clock.js';
import { weekOf, type FrictionReport } from '../../src/reports/friction.js';

const DAY_MS = 86_400_000;
const ROLLOUT = { selfservice: { mfa: { policies: [{ id: 'everyone', required: 'any', enrollment_grace: '7d' }] } } };

describe.runIf(DIALECTS.includes('sqlite'))('MFA rollout in Chromium: a 7-day grace, a reminder, then enrollment', () => {
  const tr = translator('en');
  const L = (key: MessageKey, values?: Record<string, string | number | Date>) => tr.t(key, values);
  const M = (m: UiText) => tr.message(m);
  const email = newEmail('rollout');
  let database: TestDatabase;
  let clock: ManualClock;
  let k: TestKairos;
  let b: E2eBrowser;
  let page: Page;
  let phone: Phone;
  let ruleOnAtMs = 0;
  /** When each step the friction report counts happened (server clock): reminders, the enforcement, the enrollment. */
  const happened = { reminded: [] as number[], enforced: [] as number[], enrolled: [] as number[] };
  let identityId = '';

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
    k = await startE2eKairos('sqlite', {}, { database, clock });
    b = await openBrowser(DESKTOP, { shotPrefix: 'rollout' });
    page = b.page;
    phone = new Phone(() => clock.nowMs());
  });
  afterAll(async () => {
    await b?.close();
    await k?.close();
    await database?.drop();
  });

  async function signIn(): Promise<void> {
    await page.goto(`${k.publicUrl}/ui/logout`);
    await page.waitForURL(/\/ui\/login\?flow=/);
    await page.getByLabel(L('label.email'), { exact: true }).fill(email);
    await page.getByLabel(M(msg.labelPassword()), { exact: true }).fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: M(msg.loginSignIn()) }));
  }

  it('1. before the rollout: signs up and in with the password alone', async () => {
    await page.goto(`${k.publicUrl}/ui/registration`);
    await page.getByLabel(L('label.email'), { exact: true }).fill(email);
    await page.getByLabel(M(msg.labelPassword()), { exact: true }).fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: M(msg.registrationSignUp()) }));
    await page.waitForURL(/\/ui\/(welcome|verification)/);
    if (new URL(page.url()).pathname === '/ui/verification') await clickAndLoad(page, page.getByTestId('ui/link/verify-later'));
    await page.waitForURL(/\/ui\/welcome/);
    expect(await page.getByTestId('ui/session/aal').getAttribute('data-aal')).toBe('aal1');
    expect(await page.getByTestId('ui/message/1901000').count()).toBe(0);
  });

  it('2. the rule turns on (restart, same database): the next sign-in succeeds with a reminder naming the deadline', async () => {
    // A browser keeps its connections to the old instance open (keep-alive): a fresh browser, like a new day.
    await b.close();
    await k.close();
    clock.advanceMs(DAY_MS);
    k = await startE2eKairos('sqlite', ROLLOUT, { database, clock });
    ruleOnAtMs = clock.nowMs();
    b = await openBrowser(DESKTOP, { shotPrefix: 'rollout' });
    page = b.page;
    happened.reminded.push(clock.nowMs());
    await signIn();
    await page.waitForURL(/\/ui\/welcome/);
    const reminder = page.getByTestId('ui/message/1901000');
    expect(await reminder.isVisible()).toBe(true);
    const deadline = new Date(ruleOnAtMs + 7 * DAY_MS);
    expect(await reminder.textContent()).toContain(new Intl.DateTimeFormat('en', { year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' }).format(deadline));
    expect(await reminder.getByRole('link', { name: L('link.openSettings') }).isVisible()).toBe(true);
    expect(await page.getByTestId('ui/session/aal').getAttribute('data-aal')).toBe('aal1');
    await arrive(page, b, '01-reminded');
  });

  it('3. three days later: still in the grace period, reminded of the same deadline', async () => {
    clock.advanceMs(3 * DAY_MS);
    happened.reminded.push(clock.nowMs());
    await signIn();
    await page.waitForURL(/\/ui\/welcome/);
    const reminder = page.getByTestId('ui/message/1901000');
    const deadline = new Intl.DateTimeFormat('en', { year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' }).format(new Date(ruleOnAtMs + 7 * DAY_MS));
    expect(await reminder.textContent()).toContain(deadline);
  });

  it('4. past the deadline: sent to settings with the reason, and the account pages stay closed until a second factor is set up', async () => {
    clock.advanceMs(4 * DAY_MS + 60_000);
    happened.enforced.push(clock.nowMs());
    await signIn();
    await page.waitForURL(/\/ui\/settings\?flow=/);
    expect(await page.getByTestId('ui/message/4901000').isVisible()).toBe(true);
    await arrive(page, b, '02-must-enroll');
    await page.goto(`${k.publicUrl}/ui/welcome`);
    await page.waitForURL(/\/ui\/settings\?flow=/);
    expect(await page.getByTestId('ui/message/4901000').isVisible()).toBe(true);
  });

  it('5. sets up the authenticator app with the phone and backup codes; the account opens at aal2', async () => {
    happened.enrolled.push(clock.nowMs());
    await clickAndLoad(page, page.getByTestId('ui/totp/setup'));
    const totp = page.getByTestId('ui/group/totp');
    const qr = totp.locator('figure.qr img');
    await qr.waitFor();
    await qr.scrollIntoViewIfNeeded();
    await phone.scan(qr);
    await totp.getByLabel(M(msg.labelVerifyCode())).fill(phone.code());
    await clickAndLoad(page, totp.getByRole('button', { name: M(msg.labelSave()) }));
    const group = page.getByTestId('ui/group/lookup_secret');
    await group.getByRole('checkbox', { name: M(lookupMsg.acknowledgeLabel()) }).check();
    await clickAndLoad(page, group.getByRole('button', { name: M(msg.settingsLookupConfirm()) }));
    await page.waitForURL(/\/ui\/settings\?flow=/);
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('true');
    await page.goto(`${k.publicUrl}/ui/welcome`);
    await page.waitForURL(/\/ui\/welcome/);
    expect(await page.getByTestId('ui/session/aal').getAttribute('data-aal')).toBe('aal2');
    expect(await page.getByTestId('ui/message/4901000').count()).toBe(0);
    await arrive(page, b, '03-enrolled');

    // The next sign-in asks for the second factor like any enrolled account's.
    await signIn();
    await page.waitForURL(/\/ui\/login\?flow=/);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(L('title.secondFactor'));
    clock.advanceMs(30_000);
    await page.getByTestId('ui/group/totp').getByLabel(M(msg.loginTotpLabel())).fill(phone.code());
    await clickAndLoad(page, page.getByRole('button', { name: M(msg.loginUseTotp()) }));
    await page.waitForURL(/\/ui\/welcome/);
    expect(await page.getByTestId('ui/session/aal').getAttribute('data-aal')).toBe('aal2');
  });

  it('6. the friction report shows the rollout: two reminders, one sign-in sent to enrollment, one finished enrollment, by week, under the rule', async () => {
    const identities = (await (await fetch(`${k.adminUrl}/admin/identities?credentials_identifier=${encodeURIComponent(email)}`)).json()) as { id: string }[];
    expect(identities).toHaveLength(1);
    identityId = identities[0]!.id;
    const events = (await (await fetch(`${k.adminUrl}/admin/audit-events?identity_id=${identityId}`)).json()) as { type: string }[];
    const count = (type: string) => events.filter((e) => e.type === type).length;
    // The audit trail the report reads: one reminder per sign-in in the grace, one enforcement (whoami and the pages
    // record a decision once per change, so the redirects after the sign-in add none), one enrollment.
    expect([count('mfa_policy.grace_reminded'), count('mfa_policy.enrollment_enforced'), count('second_factor.enrolled')]).toEqual([2, 1, 1]);

    const response = await fetch(`${k.adminUrl}/admin/reports/friction?since=30d`);
    expect(response.status).toBe(200);
    const report = (await response.json()) as FrictionReport;
    // This database holds this one person, and the rule in force for them is "everyone": every number is theirs.
    expect(Object.keys(report.by_rule)).toEqual(['everyone']);
    const theirs = report.by_rule.everyone!;
    expect(theirs.policy).toEqual({ grace_reminders: 2, enrollments_enforced: 1, methods_refused: 0 });
    // Step 4 opened settings twice (the sign-in's redirect, then /ui/welcome's), each flow offering the set-up: both
    // count as started; one finished, the other is still open (not expired, so not abandoned).
    expect(theirs.enrollments).toEqual({
      started: 2,
      finished: 1,
      finished_by_method: { totp: 1 },
      failed: 0,
      in_progress: 1,
      abandoned: { before_code: 0, after_wrong_code: 0, at_recovery_codes: 0 },
      // Per method: TOTP's own (no key method is enabled here).
      by_method: {
        totp: { started: 2, finished: 1, in_progress: 1, abandoned: { before_code: 0, after_wrong_code: 0, at_recovery_codes: 0 } },
        webauthn: { started: 0, finished: 0, in_progress: 0, abandoned: { before_answer: 0, after_browser_error: 0, after_refused_key: 0, at_recovery_codes: 0 } },
        passkey: { started: 0, finished: 0, in_progress: 0, abandoned: { before_answer: 0, after_browser_error: 0, after_refused_key: 0 } },
      },
    });
    expect(theirs.lockouts).toEqual({ delay: 0, locked: 0, identities: 0 });
    expect(theirs.rejected_codes).toEqual({});
    expect(report.identities.abandoned_enrollment).toEqual([]);

    // Each in the ISO week it happened.
    const expected = new Map<string, { reminders: number; enforced: number; finished: number }>();
    const at = (ms: number) => {
      const week = weekOf(ms);
      if (!expected.has(week)) expected.set(week, { reminders: 0, enforced: 0, finished: 0 });
      return expected.get(week)!;
    };
    happened.reminded.forEach((ms) => at(ms).reminders++);
    happened.enforced.forEach((ms) => at(ms).enforced++);
    happened.enrolled.forEach((ms) => at(ms).finished++);
    const rows = report.rows.filter((r) => r.policy.grace_reminders + r.policy.enrollments_enforced + r.enrollments.finished > 0);
    expect(Object.fromEntries(rows.map((r) => [r.week, { rule: r.rule, reminders: r.policy.grace_reminders, enforced: r.policy.enrollments_enforced, finished: r.enrollments.finished }]))).toEqual(
      Object.fromEntries([...expected].map(([week, c]) => [week, { rule: 'everyone', ...c }])),
    );
  });
});
