/**
 * What console actions do, on both dialects: unlock a real lockout, diagnose a code read out over the phone (never
 * accepted, never logged), resync a drifting device from two consecutive codes (and the CLI's --resync), revoke
 * sessions, MFA reset now / after the delay / with four eyes, a one-time recovery code that works, and the
 * dashboard's numbers equal to the friction report's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { errorBody } from '../support/flows.js';
import { loginWithPassword } from '../support/users.js';
import { decodeBase32, timeStep, totpCodeAt } from '../../src/otp/otp.js';
import { runCli } from '../support/cli.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CONSOLE_CONFIG, PASSWORD, csrfOf, page, post, resultText, signedIn, totpUser } from './support.js';

const SHA1 = { algorithm: 'SHA1' as const, digits: 6 as const, periodSeconds: 30 };
const codeAt = (secret: string, ms: number) => totpCodeAt(decodeBase32(secret), SHA1, timeStep(ms, 30));

describe.each(DIALECTS)('console actions (%s)', (dialect) => {
  let k: TestKairos;
  let helpdesk: Awaited<ReturnType<typeof signedIn>>;
  beforeAll(async () => {
    k = await startKairos({ dialect, config: CONSOLE_CONFIG });
    helpdesk = await signedIn(k, 'helpdesk');
  }, 60_000);
  afterAll(async () => k?.close());

  const csrf = async (path = '/console/search') => csrfOf((await page(helpdesk.client, path)).html);

  async function submitTotp(token: string, code: string) {
    const flow = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: token });
    return k.frontend.updateLoginFlow({ flow: flow.id, xSessionToken: token, updateLoginFlowBody: { method: 'totp', totp_code: code } });
  }

  it('finds a locked-out user, diagnoses the skewed code they read out without accepting or logging it, unlocks, and the user signs in', async () => {
    const user = await totpUser(k);
    const token = await user.aal1();
    // The phone is 3 minutes ahead: five codes refused, then the delay.
    for (let i = 0; i < 5; i++) await errorBody(submitTotp(token, codeAt(user.secret, k.clock.nowMs() + 180_000)));
    // The user reads out the code their phone shows now (a new time step).
    k.clock.advanceSeconds(30);
    const search = await page(helpdesk.client, `/console/search?q=${encodeURIComponent(user.email.slice(0, 8))}`);
    expect(search.html).toContain(`/console/identities/${user.identityId}`);
    const before = await page(helpdesk.client, `/console/identities/${user.identityId}`);
    expect(before.html).toMatch(/data-state="delayed"/);
    const skewed = codeAt(user.secret, k.clock.nowMs() + 180_000);
    const logsBefore = k.logs.text().length;
    const diagnosed = await post(helpdesk.client, `/console/identities/${user.identityId}/diagnose`, { code: skewed, reason: 'ticket 42', csrf_token: csrfOf(before.html) });
    expect(diagnosed.status).toBe(200);
    expect(resultText(diagnosed.html)).toContain('Clock skew: the device clock is about 3 minutes ahead');
    expect(resultText(diagnosed.html)).toContain('Say to the user: Your device\'s clock is about 3 minutes ahead');
    expect(diagnosed.html).not.toContain(skewed);
    expect(k.logs.text().slice(logsBefore)).not.toContain(skewed);
    const audit = await k.deps.db.selectFrom('audit_events').select('details').where('identity_id', '=', user.identityId).execute();
    expect(audit.map((a) => a.details).join('\n')).not.toContain(skewed);
    // Diagnosing never signs in: the lockout still stands.
    expect((await k.deps.secondFactorGuard.report(user.identityId)).state).toBe('delayed');

    const unlocked = await post(helpdesk.client, `/console/identities/${user.identityId}/unlock`, { reason: 'ticket 42', csrf_token: csrfOf(before.html) });
    expect(resultText(unlocked.html)).toContain('Unlocked');
    expect(unlocked.html).toMatch(/data-state="none"/);
    const ok = await submitTotp(token, codeAt(user.secret, k.clock.nowMs()));
    expect(ok.session.authenticator_assurance_level).toBe('aal2');

    // Code interception over the phone: a right code read out to the console is used up, so whoever heard it
    // cannot sign in with it; the skewed code's future step is refused for good.
    k.clock.advanceSeconds(30);
    const heard = codeAt(user.secret, k.clock.nowMs());
    const burned = await post(helpdesk.client, `/console/identities/${user.identityId}/diagnose`, { code: heard, reason: 'ticket 43', csrf_token: csrfOf(before.html) });
    expect(resultText(burned.html)).toContain('The code was used up');
    expect((await errorBody(submitTotp(await user.aal1(), heard))).status).toBe(400);
    k.clock.advanceMs(180_000 - 60_000);
    expect((await errorBody(submitTotp(await user.aal1(), skewed))).status).toBe(400);

    // The audit timeline, newest first, filtered by event type.
    const timeline = await page(helpdesk.client, `/console/identities/${user.identityId}?types=lockout.cleared&types=admin.action_performed`);
    const rows = [...timeline.html.split('data-testid="console/timeline"')[1]!.matchAll(/<td class="time">[^<]*<\/td><td>([a-z_.]+)<\/td>/g)].map((m) => m[1]);
    expect(rows).toEqual(['admin.action_performed', 'admin.action_performed', 'lockout.cleared', 'admin.action_performed']);
  });

  it('resync: two consecutive codes from a drifting token record its offset (within the bound), burn both codes, and the token works again', async () => {
    const user = await totpUser(k);
    const drift = 8 * 30_000; // 4 minutes behind: outside the ±1 window
    const now = k.clock.nowMs();
    const c1 = codeAt(user.secret, now - drift - 30_000);
    const c2 = codeAt(user.secret, now - drift);
    const form = { code1: c1, code2: c2, reason: 'hardware token drift', csrf_token: await csrf() };
    const done = await post(helpdesk.client, `/console/identities/${user.identityId}/resync`, form);
    expect(resultText(done.html)).toContain('resynchronised: the device runs 240 s behind (-8 steps, was 0)');
    expect(resultText(done.html)).toContain('its codes are accepted from');
    const row = await k.deps.db.selectFrom('totp_credentials').select(['drift_steps', 'last_used_step']).where('identity_id', '=', user.identityId).executeTakeFirstOrThrow();
    expect(Number(row.drift_steps)).toBe(-8);
    const token = await user.aal1();
    // Both codes are burned: neither signs in.
    for (const code of [c1, c2]) expect((await errorBody(submitTotp(token, code))).status).toBe(400);
    // The device's codes are accepted once its steps pass the last used step (the enrollment's, 30 s ago): its
    // clock is 4 minutes behind, so from 4.5 minutes on.
    k.clock.advanceSeconds(5 * 60);
    expect((await submitTotp(token, codeAt(user.secret, k.clock.nowMs() - drift))).session.authenticator_assurance_level).toBe('aal2');
    // Beyond the bound (max_skew 10 min, window 1: 19 steps): refused.
    const far = k.clock.nowMs() - 20 * 30_000;
    const refused = await post(helpdesk.client, `/console/identities/${user.identityId}/resync`, { code1: codeAt(user.secret, far - 30_000), code2: codeAt(user.secret, far), reason: 'x', csrf_token: await csrf() });
    expect(resultText(refused.html)).toContain('not resynchronised');
    // The CLI does the same (kairos doctor totp --resync), audited as the CLI.
    k.clock.advanceSeconds(60);
    const other = await totpUser(k);
    const t = k.clock.nowMs();
    const dir = mkdtempSync(join(tmpdir(), 'kairos-resync-'));
    const configFile = join(dir, 'kairos.yml');
    writeFileSync(configFile, stringify({ dsn: k.dsn, secrets: k.deps.config.secrets, serve: { public: { base_url: k.publicUrl + '/' } }, selfservice: { methods: { totp: { enabled: true } } } }));
    const cli = await runCli(['doctor', 'totp', other.email, '-c', configFile, '--resync', `${codeAt(other.secret, t + 90_000)},${codeAt(other.secret, t + 120_000)}`, '--reason', 'token ahead', '--at', String(t / 1000)], { CI: '' });
    rmSync(dir, { recursive: true, force: true });
    expect(cli.stderr).toBe('');
    expect(cli.stdout).toContain('resynchronised: the device runs 120 s ahead (4 steps, was 0)');
    const cliRow = await k.deps.db.selectFrom('totp_credentials').select('drift_steps').where('identity_id', '=', other.identityId).executeTakeFirstOrThrow();
    expect(Number(cliRow.drift_steps)).toBe(4);
    const events = await k.deps.db.selectFrom('audit_events').select(['actor', 'details']).where('identity_id', '=', other.identityId).where('type', '=', 'admin.action_performed').execute();
    expect(events.map((e) => [e.actor, JSON.parse(e.details).action, JSON.parse(e.details).reason])).toEqual([['cli', 'totp.resync', 'token ahead']]);
  });

  it('MFA reset now removes the second factors; after the delay it waits; a privileged identity needs a second operator', async () => {
    const now = await totpUser(k);
    const reset = await post(helpdesk.client, `/console/identities/${now.identityId}/mfa-reset`, { delay: 'no', checklist: ['callback', 'ticket'], reason: 'lost phone', csrf_token: await csrf() });
    expect(resultText(reset.html)).toContain('MFA reset done');
    expect((await k.deps.identities.get(now.identityId))!.credentials.totp).toBeUndefined();
    const action = await k.deps.db.selectFrom('audit_events').select(['details', 'actor']).where('identity_id', '=', now.identityId).where('type', '=', 'admin.action_performed').executeTakeFirstOrThrow();
    expect(JSON.parse(action.details)).toMatchObject({ action: 'mfa_reset.now', reason: 'lost phone', checklist: ['callback', 'ticket'], completed: true });
    const completed = await k.deps.db.selectFrom('audit_events').select(['details', 'actor']).where('identity_id', '=', now.identityId).where('type', '=', 'mfa_reset.completed').executeTakeFirstOrThrow();
    expect(completed.actor).toBe(`console:${helpdesk.identityId}`);

    const later = await totpUser(k);
    const delayed = await post(helpdesk.client, `/console/identities/${later.identityId}/mfa-reset`, { delay: 'yes', checklist: 'callback', reason: 'lost phone', csrf_token: await csrf() });
    expect(resultText(delayed.html)).toContain('MFA reset started');
    expect(delayed.html).toContain('completes when the user recovers after');
    expect((await k.deps.identities.get(later.identityId))!.credentials.totp).toBeDefined();

    // Another operator (privileged): the request waits; the requester cannot approve it; a second operator can.
    const target = await signedIn(k, 'auditor');
    const asked = await post(helpdesk.client, `/console/identities/${target.identityId}/mfa-reset`, { delay: 'no', checklist: ['id_document', 'manager'], reason: 'operator lost phone', csrf_token: await csrf() });
    expect(resultText(asked.html)).toContain('second operator');
    expect((await k.deps.identities.get(target.identityId))!.credentials.totp).toBeDefined();
    const approval = await k.deps.db.selectFrom('console_approvals').select('id').where('identity_id', '=', target.identityId).executeTakeFirstOrThrow();
    const own = await post(helpdesk.client, `/console/approvals/${approval.id}`, { decision: 'approve', reason: 'me', csrf_token: await csrf() });
    expect(own.status).toBe(403);
    const second = await signedIn(k, 'helpdesk');
    const approvals = await page(second.client, '/console/approvals');
    expect(approvals.html).toContain('operator lost phone');
    const approved = await post(second.client, `/console/approvals/${approval.id}`, { decision: 'approve', reason: 'confirmed with manager', csrf_token: csrfOf(approvals.html) });
    expect(approved.status).toBe(200);
    expect((await k.deps.identities.get(target.identityId))!.credentials.totp).toBeUndefined();
    const recorded = await k.deps.db.selectFrom('audit_events').select(['actor', 'details']).where('identity_id', '=', target.identityId).where('type', '=', 'admin.action_performed').orderBy('created_at').orderBy('id').execute();
    const actions = recorded.map((r) => [r.actor, JSON.parse(r.details)]).filter(([, d]) => String(d.action).startsWith('mfa_reset'));
    expect(actions).toEqual([
      [`console:${helpdesk.identityId}`, expect.objectContaining({ action: 'mfa_reset.approval_requested', reason: 'operator lost phone', checklist: ['id_document', 'manager'] })],
      [`console:${second.identityId}`, expect.objectContaining({ action: 'mfa_reset.approved', reason: 'confirmed with manager', requested_by: helpdesk.identityId, request_reason: 'operator lost phone' })],
    ]);
    expect((await post(second.client, `/console/approvals/${approval.id}`, { decision: 'approve', reason: 'again', csrf_token: csrfOf(approvals.html) })).status).toBe(409);
  });

  it('a one-time recovery code issued in the console is shown once and recovers the account; sessions can be revoked', async () => {
    const user = await totpUser(k);
    const issued = await post(helpdesk.client, `/console/identities/${user.identityId}/recovery`, { kind: 'code', checklist: 'callback', reason: 'locked out', csrf_token: await csrf() });
    const code = /data-testid="console\/secret">([^<]+)</.exec(issued.html)?.[1];
    expect(code).toMatch(/^\d{6}$/);
    const flowId = /flow=([0-9a-f-]{36})/.exec(issued.html)?.[1];
    // The same admin recovery flow as POST /admin/recovery/code (whose tests complete it): waiting for this code.
    const flow = await k.frontend.getRecoveryFlow({ id: flowId! });
    expect(flow.state).toBe('sent_email');
    const stored = await k.deps.db.selectFrom('recovery_codes').select(['identity_id', 'issued_by', 'used_at']).where('flow_id', '=', flowId!).executeTakeFirstOrThrow();
    expect(stored).toEqual({ identity_id: user.identityId, issued_by: `console:${helpdesk.identityId}`, used_at: null });
    const requested = await k.deps.db.selectFrom('audit_events').select(['actor', 'details']).where('identity_id', '=', user.identityId).where('type', '=', 'recovery.requested').executeTakeFirstOrThrow();
    expect(requested.actor).toBe(`console:${helpdesk.identityId}`);
    expect(requested.details).not.toContain(code!);
    expect(k.logs.text()).not.toContain(`"${code}"`);

    await loginWithPassword(k, user.email, PASSWORD);
    const revoked = await post(helpdesk.client, `/console/identities/${user.identityId}/sessions/revoke`, { reason: 'suspicious', csrf_token: await csrf() });
    expect(resultText(revoked.html)).toMatch(/Revoked [1-9]\d* sessions?/);
    expect(await k.deps.sessions.listForIdentity(user.identityId, { activeOnly: true })).toHaveLength(0);
  });

  it('search finds by identifier prefix, address, id and trait, and pages by keyset', async () => {
    const tag = `srch${Date.now().toString(36)}`;
    const made: string[] = [];
    for (let i = 0; i < 27; i++) {
      const response = await fetch(`${k.adminUrl}/admin/identities`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ schema_id: 'default', traits: { email: `${tag}-${String(i).padStart(2, '0')}@example.com` }, credentials: { password: { config: { password: PASSWORD } } } }) });
      expect(response.status).toBe(201);
      made.push((await response.json()).id);
    }
    const ids = (html: string) => [...html.matchAll(/href="\/console\/identities\/([0-9a-f-]{36})"/g)].map((m) => m[1]);
    const first = await page(helpdesk.client, `/console/search?q=${tag}`);
    expect(ids(first.html)).toEqual(made.slice(0, 25));
    const next = /href="(\/console\/search\?[^"]*after=[^"]*)"/.exec(first.html)![1]!.replaceAll('&amp;', '&');
    expect(ids((await page(helpdesk.client, next)).html)).toEqual(made.slice(25));
    expect(ids((await page(helpdesk.client, `/console/search?q=${tag}-07@example.com&mode=address`)).html)).toEqual([made[7]]);
    expect(ids((await page(helpdesk.client, `/console/search?q=${made[3]}&mode=id`)).html)).toEqual([made[3]]);
    expect(ids((await page(helpdesk.client, `/console/search?q=${encodeURIComponent(`email=${tag}-11@example.com`)}&mode=trait`)).html)).toEqual([made[11]]);
    expect((await page(helpdesk.client, `/console/search?q=nobody-${tag}`)).html).toContain('data-testid="console/search-empty"');
  });

  it('the dashboard shows the friction report\'s numbers', async () => {
    k.clock.advanceSeconds(1);
    const dashboard = await page(helpdesk.client, '/console/dashboard?period=12w');
    expect(dashboard.status).toBe(200);
    const report = await (await fetch(`${k.adminUrl}/admin/reports/friction?since=12w`)).json();
    const metric = (key: string) => Number(new RegExp(`data-testid="console/metric/${key.replace(/\./g, '\\.')}">(\\d+)<`).exec(dashboard.html)?.[1]);
    const t = report.totals;
    expect(metric('lockouts.delay')).toBe(t.lockouts.delay);
    expect(metric('lockouts.delay')).toBeGreaterThan(0);
    expect(metric('enrollments.started')).toBe(t.enrollments.started);
    expect(metric('enrollments.finished')).toBe(t.enrollments.finished);
    expect(metric('enrollments.failed')).toBe(t.enrollments.failed);
    expect(metric('recoveries.helpdesk')).toBe(t.recoveries.helpdesk);
    expect(metric('rejected_codes.total')).toBe(Object.values(t.rejected_codes as Record<string, number>).reduce((a, b) => a + b, 0));
    expect(metric('helpdesk_actions.total')).toBe(Object.values(t.helpdesk_actions as Record<string, number>).reduce((a, b) => a + b, 0));
    expect(Object.keys(t.helpdesk_actions).filter((key) => key.startsWith('console.'))).toEqual([]);
    expect(t.helpdesk_actions['mfa.unlock']).toBeGreaterThan(0);
    expect(dashboard.html).toContain('src="/console/assets/uplot.js"');
    const asset = await helpdesk.client.get('/console/assets/uplot.js');
    expect(asset.status).toBe(200);
    expect((await asset.text()).length).toBeGreaterThan(10_000);
  });
});
