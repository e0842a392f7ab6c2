/**
 * The console and the friction report under MFA policies by role (issue 16), on both dialects: the report groups by
 * the rule in force, the identity page names it, and a rule that accepts only phishing-resistant factors makes its
 * identities privileged, so their MFA reset needs a second operator (four eyes).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { deepMerge } from '../../src/config/load.js';
import { CONSOLE_CONFIG, PASSWORD, csrfOf, page, post, resultText, signedIn, totpUser } from './support.js';
import { loginWithPassword, registerWithPassword } from '../support/users.js';

const POLICY_CONFIG = deepMerge(CONSOLE_CONFIG as Record<string, unknown>, {
  selfservice: {
    methods: { webauthn: { enabled: true } },
    mfa: {
      policies: [
        { id: 'admins', match: { metadata_public: { tier: 'admin' } }, required: ['webauthn'], allowed_methods: ['webauthn', 'totp', 'lookup_secret'], enrollment_grace: '30d' },
        { id: 'staff', match: { metadata_public: { tier: 'staff' } }, required: 'any' },
        { id: 'keys-only', match: { metadata_public: { tier: 'keys-only' } }, required: ['webauthn'], allowed_methods: ['webauthn', 'lookup_secret'], enrollment_grace: '30d' },
      ],
    },
  },
});

describe.each(DIALECTS)('console and friction report under MFA policies (%s)', (dialect) => {
  let k: TestKairos;
  beforeAll(async () => {
    k = await startKairos({ dialect, config: POLICY_CONFIG });
  }, 60_000);
  afterAll(async () => k?.close());

  async function tier(identityId: string, value: string) {
    const r = await fetch(`${k.adminUrl}/admin/identities/${identityId}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ op: 'replace', path: '/metadata_public', value: { tier: value } }]) });
    expect(r.status).toBe(200);
  }

  it('groups the friction report by the rule in force, names it on the identity page, and four-eyes a privileged rule', async () => {
    const helpdesk = await signedIn(k, 'helpdesk');
    const staff = await totpUser(k);
    const admin = await totpUser(k);
    const plain = await totpUser(k);
    await tier(staff.identityId, 'staff');
    await tier(admin.identityId, 'admin');
    // The policy's decisions at real sign-ins: a staff member without a second factor is sent to enrollment (no
    // grace); an admin without a security key is reminded (30 days of grace).
    const newcomer = await registerWithPassword(k, `newcomer-${Date.now()}@example.com`, PASSWORD);
    await tier(newcomer.identityId, 'staff');
    await loginWithPassword(k, newcomer.email, PASSWORD).catch(() => undefined);
    await admin.aal2().catch(() => undefined);
    for (const who of [staff, admin, plain]) {
      await k.deps.audit.record(k.deps.db, { type: 'lockout.started', identityId: who.identityId, actor: 'system', details: { kind: 'delay', consecutive_failures: 5, method: 'totp' } });
    }
    k.clock.advanceSeconds(1);
    const report = await (await fetch(`${k.adminUrl}/admin/reports/friction?since=1w`)).json();
    expect(Object.keys(report.by_rule).sort()).toEqual(['admins', 'default', 'staff']);
    for (const rule of ['admins', 'default', 'staff']) expect(report.by_rule[rule].lockouts.delay, rule).toBe(1);
    expect(report.by_rule.staff.enrollments.started).toBeGreaterThanOrEqual(1);
    expect(report.rows.map((r: { rule: string }) => r.rule).sort()).toEqual(['admins', 'default', 'staff']);
    expect(report.by_rule.staff.policy).toEqual({ grace_reminders: 0, enrollments_enforced: 1, methods_refused: 0 });
    expect(report.by_rule.admins.policy).toEqual({ grace_reminders: 1, enrollments_enforced: 0, methods_refused: 0 });

    const staffPage = await page(helpdesk.client, `/console/identities/${staff.identityId}`);
    expect(staffPage.html).toMatch(/data-testid="console\/rule"[^>]*>staff</);
    expect(staffPage.html).toContain('any second factor required');
    const adminPage = await page(helpdesk.client, `/console/identities/${admin.identityId}`);
    expect(adminPage.html).toMatch(/data-testid="console\/rule"[^>]*>admins</);
    expect(adminPage.html).toContain('privileged');

    // Four eyes: the admins rule accepts only security keys, so its identities are privileged.
    const asked = await post(helpdesk.client, `/console/identities/${admin.identityId}/mfa-reset`, { delay: 'no', checklist: 'id_document', reason: 'lost key', csrf_token: csrfOf(adminPage.html) });
    expect(resultText(asked.html)).toContain('second operator');
    expect((await k.deps.identities.get(admin.identityId))!.credentials.totp).toBeDefined();
    const done = await post(helpdesk.client, `/console/identities/${staff.identityId}/mfa-reset`, { delay: 'no', checklist: 'callback', reason: 'lost phone', csrf_token: csrfOf(staffPage.html) });
    expect(resultText(done.html)).toContain('MFA reset done');

    const configuration = await page(helpdesk.client, '/console/configuration');
    expect(configuration.status).toBe(200);
    expect(configuration.html).toContain('MFA policy rule &quot;admins&quot; (1.)');
    expect(configuration.html).toContain('selfservice.mfa.policies[1]');
    expect(configuration.html).toContain('selfservice.mfa.default_policy');
  });

  it('threat: a console session stops at its next request once the operator\'s rule no longer counts the second factor it was signed in with', async () => {
    const operator = await signedIn(k, 'helpdesk');
    expect((await page(operator.client, '/console/configuration')).status).toBe(200);
    // The operator's rule now forbids TOTP (security keys only): the TOTP step of the Kairos session behind the
    // console session no longer makes it aal2 for this identity.
    await tier(operator.identityId, 'keys-only');
    const refused = await page(operator.client, '/console/configuration');
    expect(refused.status).toBe(401);
    expect(refused.html).toContain('Your console session has ended');
    // Counted per request, not revoked: under a rule that counts TOTP again, the same console session works.
    await tier(operator.identityId, 'none');
    expect((await page(operator.client, '/console/configuration')).status).toBe(200);
  });
});
