/**
 * The friction report (issue 16 point 4) against a seeded history with known counts, on both dialects: enrollments
 * abandoned at each step, failed and finished (real settings flows), lockouts (real wrong codes), recovery codes used and
 * rejected (real logins), and the recorded outcomes of recoveries, MFA resets and helpdesk actions (audit events as
 * their modules record them). The endpoint, the CLI (JSON and CSV) and the weeks are checked number by number.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { totpCodeNow } from '../support/totp.js';
import { loginWithPassword, registerWithPassword } from '../support/users.js';
import { errorBody, messageIds, secretOf } from '../support/flows.js';
import { SoftwareAuthenticator } from '../support/software-authenticator.js';
import { BrowserClient, csrfTokenOf } from '../support/browser-client.js';
import { dashboardMetrics, dashboardPage } from '../../src/console/views.js';

import { runCli } from '../support/cli.js';
import { ManualClock } from '../../src/support/clock.js';
import { weekOf, parseSince, frictionReport } from '../../src/reports/friction.js';

const PASSWORD = 'a long enough passphrase';
const CONFIG = {
  selfservice: { methods: { totp: { enabled: true, config: { issuer: 'Kairos Test' } }, lookup_secret: { enabled: true } } },
  serve: { public: { rate_limit: { enabled: false } } },
  session: { lifespan: '2000h' },
};
/** Monday 2026-09-07 10:00 UTC: three seeded weeks, all before the wall clock (the CLI reads at wall time). */
const START = Date.UTC(2026, 8, 7, 10, 0, 0);
const SINCE = '2026-09-01T00:00:00.000Z';
const UNTIL = '2026-10-01T00:00:00.000Z';

describe('friction helpers', () => {
  it('weeks start on Monday (UTC) and --since takes days, weeks, hours', () => {
    expect(weekOf(Date.UTC(2026, 8, 7))).toBe('2026-09-07');
    expect(weekOf(Date.UTC(2026, 8, 13, 23, 59))).toBe('2026-09-07');
    expect(weekOf(Date.UTC(2026, 8, 14))).toBe('2026-09-14');
    expect(weekOf(Date.UTC(1970, 0, 1))).toBe('1969-12-29');
    expect(parseSince('90d')).toBe(90 * 86_400_000);
    expect(parseSince('2w')).toBe(14 * 86_400_000);
    expect(() => parseSince('0d')).toThrow();
    expect(() => parseSince('soon')).toThrow();
  });
});

describe.each(DIALECTS)('friction report from a seeded history (%s)', (dialect) => {
  let k: TestKairos;
  let n = 0;
  beforeAll(async () => {
    k = await startKairos({ dialect, config: CONFIG, clock: new ManualClock(START) });
    await seed();
    // Every settings flow of the seed has expired (1h lifespan): nothing is "in progress".
    k.clock.set(Date.UTC(2026, 8, 30, 12));
  }, 120_000);
  afterAll(async () => k?.close());

  const email = () => `friction${++n}-${dialect}@example.com`;
  const codeNow = (secret: string) => totpCodeNow(k, secret);
  const wrong = (secret: string) => String((Number(codeNow(secret)) + 1) % 1_000_000).padStart(6, '0');

  async function settingsFlow() {
    const user = await registerWithPassword(k, email(), PASSWORD);
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    return { ...user, flow, secret: secretOf(flow) };
  }

  async function enrolled() {
    const s = await settingsFlow();
    const shown = await k.frontend.updateSettingsFlow({ flow: s.flow.id, xSessionToken: s.token, updateSettingsFlowBody: { method: 'totp', totp_code: codeNow(s.secret) } });
    const node = shown.ui.nodes.find((x: any) => x.attributes.id === 'lookup_secret_codes') as any;
    const codes: string[] = node.attributes.text.context.secrets.map((x: any) => x.context.secret);
    await k.frontend.updateSettingsFlow({ flow: s.flow.id, xSessionToken: s.token, updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_confirm: true, transient_payload: { lookup_secret_acknowledged: true } } as never });
    k.clock.advanceSeconds(30);
    return { ...s, codes };
  }

  async function submitTotp(token: string, code: string) {
    const flow = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: token });
    return k.frontend.updateLoginFlow({ flow: flow.id, xSessionToken: token, updateLoginFlowBody: { method: 'totp', totp_code: code } });
  }

  const recovered: string[] = [];

  async function seed() {
    // Week 1 (2026-09-07): two abandoned before a code, one after a wrong code, one at the recovery codes, two
    // finished; one identity delayed after 5 wrong codes (lockout.started kind=delay).
    await settingsFlow();
    await settingsFlow();
    const wrongOne = await settingsFlow();
    await errorBody(k.frontend.updateSettingsFlow({ flow: wrongOne.flow.id, xSessionToken: wrongOne.token, updateSettingsFlowBody: { method: 'totp', totp_code: wrong(wrongOne.secret) } }));
    const atCodes = await settingsFlow();
    const shown = await k.frontend.updateSettingsFlow({ flow: atCodes.flow.id, xSessionToken: atCodes.token, updateSettingsFlowBody: { method: 'totp', totp_code: codeNow(atCodes.secret) } });
    expect(shown.ui.nodes.some((node: any) => node.attributes.name === 'lookup_secret_confirm')).toBe(true);
    const a = await enrolled();
    const b = await enrolled();
    const aLogin = await loginWithPassword(k, a.email, PASSWORD);
    for (let i = 0; i < 5; i++) await errorBody(submitTotp(aLogin.session_token!, wrong(a.secret)));

    // Week 2 (2026-09-14): b signs in with a recovery code, then reuses it and tries an invalid one; b and a get
    // the clock-skew and no-match diagnoses; a helpdesk unlock of a, an email recovery and a helpdesk recovery.
    k.clock.set(Date.UTC(2026, 8, 15, 9));
    const bLogin = await loginWithPassword(k, b.email, PASSWORD);
    // b has already used all but three of its codes (marked used as a login would), then uses one: two left.
    const rows = await k.deps.db.selectFrom('lookup_secret_codes').select('id').where('identity_id', '=', b.identityId).orderBy('position').execute();
    const spent = rows.slice(1, rows.length - 2).map((r) => r.id);
    await k.deps.db.updateTable('lookup_secret_codes').set({ used_at: k.clock.nowMs() }).where('id', 'in', spent).execute();
    const known = b.codes[0]!;
    const used = await submitLookup(bLogin.session_token!, known);
    expect(used.session.authenticator_assurance_level).toBe('aal2');
    const bLogin2 = await loginWithPassword(k, b.email, PASSWORD);
    await errorBody(submitLookup(bLogin2.session_token!, known));
    await errorBody(submitLookup(bLogin2.session_token!, 'aaaa-bbbb-cccc-dddd'));
    k.clock.advanceSeconds(60);
    await errorBody(submitTotp(bLogin2.session_token!, totpCodeAt(b.secret, k.clock.nowMs() + 180_000)));
    k.clock.advanceSeconds(60);
    await errorBody(submitTotp(bLogin2.session_token!, '000000' === codeNow(b.secret) ? '000001' : '000000'));
    const unlocked = await fetch(`${k.adminUrl}/admin/identities/${a.identityId}/mfa/unlock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'ticket 1' }) });
    expect(unlocked.status).toBe(200);
    await k.deps.audit.record(k.deps.db, { type: 'recovery.completed', identityId: a.identityId, actor: 'self', details: { method: 'code', issued_by: 'self', mfa: 'reset_with_password' } });
    await k.deps.audit.record(k.deps.db, { type: 'mfa_reset.requested', identityId: a.identityId, actor: 'self', details: {} });
    await k.deps.audit.record(k.deps.db, { type: 'mfa_reset.completed', identityId: a.identityId, actor: 'self', details: { via: 'password', removed: ['totp'] } });
    recovered.push(b.identityId);

    // Week 3 (2026-09-21): a helpdesk recovery and an operator's reset of b, one cancelled reset.
    k.clock.set(Date.UTC(2026, 8, 22, 9));
    await k.deps.audit.record(k.deps.db, { type: 'recovery.completed', identityId: b.identityId, actor: 'self', details: { method: 'code', issued_by: 'admin:key-1', mfa: 'none' } });
    await k.deps.audit.record(k.deps.db, { type: 'mfa_reset.completed', identityId: b.identityId, actor: 'console:op', details: { via: 'admin', removed: ['totp'] } });
    await k.deps.audit.record(k.deps.db, { type: 'admin.action_performed', identityId: b.identityId, actor: 'console:op', details: { action: 'mfa.reset', reason: 'lost phone' } });
    await k.deps.audit.record(k.deps.db, { type: 'mfa_reset.cancelled', identityId: a.identityId, actor: 'self', details: { via: 'notification_link' } });
    // Refused settings submissions as the settings flow records them: a refused security key is a failed
    // enrollment; a wrong code when removing TOTP, and a refused password change, are not.
    await k.deps.audit.record(k.deps.db, { type: 'settings.failed', identityId: a.identityId, actor: 'self', details: { method: 'webauthn', removal: false, message_ids: [4000033] } });
    await k.deps.audit.record(k.deps.db, { type: 'settings.failed', identityId: b.identityId, actor: 'self', details: { method: 'totp', removal: true, message_ids: [4000008] } });
    await k.deps.audit.record(k.deps.db, { type: 'settings.failed', identityId: b.identityId, actor: 'self', details: { method: 'password', removal: false, message_ids: [4000005] } });
  }

  async function submitLookup(token: string, code: string) {
    const flow = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: token });
    return k.frontend.updateLoginFlow({ flow: flow.id, xSessionToken: token, updateLoginFlowBody: { method: 'lookup_secret', lookup_secret: code } });
  }

  it('counts every kind of friction exactly, per week and in total', async () => {
    const response = await fetch(`${k.adminUrl}/admin/reports/friction?since=${SINCE}&until=${UNTIL}`);
    expect(response.status).toBe(200);
    const report = await response.json();
    expect(report.totals.enrollments).toEqual({
      started: 6,
      finished: 2,
      finished_by_method: { totp: 2 },
      failed: 2,
      in_progress: 0,
      abandoned: { before_code: 2, after_wrong_code: 1, at_recovery_codes: 1 },
      // Per method: TOTP's own numbers (the same abandoned steps); no key method is enabled here.
      by_method: {
        totp: { started: 6, finished: 2, in_progress: 0, abandoned: { before_code: 2, after_wrong_code: 1, at_recovery_codes: 1 } },
        webauthn: { started: 0, finished: 0, in_progress: 0, abandoned: { before_answer: 0, after_browser_error: 0, after_refused_key: 0, at_recovery_codes: 0 } },
        passkey: { started: 0, finished: 0, in_progress: 0, abandoned: { before_answer: 0, after_browser_error: 0, after_refused_key: 0 } },
      },
    });
    expect(report.totals.lockouts).toEqual({ delay: 1, locked: 0, identities: 1 });
    expect(report.totals.recovery_codes).toEqual({ used: 1, rejected: { already_used: 1, invalid: 1 }, left_low: 1 });
    expect(report.totals.recoveries).toEqual({ backup_code: 1, recovery_address: 1, helpdesk: 2 });
    expect(report.totals.mfa_resets).toEqual({ requested: 1, completed: { password: 1, delay: 0, admin: 1 }, cancelled: 1 });
    expect(report.totals.helpdesk_actions).toEqual({ 'mfa.unlock': 1, 'mfa.reset': 1 });
    expect(report.totals.rejected_codes).toEqual({ no_match: 6, clock_skew: 1 });
    expect(report.rows.map((r: any) => [r.week, r.rule])).toEqual([
      ['2026-09-07', 'default'],
      ['2026-09-14', 'default'],
      ['2026-09-21', 'default'],
    ]);
    const [w1, w2, w3] = report.rows;
    expect(w1.enrollments.started).toBe(6);
    // The wrong code at a real TOTP enrollment (settings.failed recorded by the flow), and the refused key.
    expect(w1.enrollments.failed).toBe(1);
    expect(w3.enrollments.failed).toBe(1);
    expect(w1.lockouts.delay).toBe(1);
    expect(w1.rejected_codes).toEqual({ no_match: 5 });
    expect(w2.recovery_codes.used).toBe(1);
    expect(w2.helpdesk_actions).toEqual({ 'mfa.unlock': 1 });
    expect(w2.rejected_codes).toEqual({ clock_skew: 1, no_match: 1 });
    expect(w3.recoveries).toEqual({ backup_code: 0, recovery_address: 0, helpdesk: 2 });
    expect(report.by_rule.default).toEqual(report.totals);
    expect(report.identities.locked_out).toHaveLength(1);
    expect(report.identities.abandoned_enrollment).toHaveLength(4);
    expect(report.identities.recovered_by_helpdesk).toEqual(recovered);
    // Now: b has 3 unused codes left (of 4): low on codes; a was unlocked.
    expect(report.current.low_on_codes).toEqual([{ identity_id: recovered[0], remaining: 2, rule: 'default' }]);
    expect(report.current.locked).toEqual([]);
  });

  it('the CLI prints the same numbers as JSON and CSV; bad periods are refused', async () => {
    const api = await (await fetch(`${k.adminUrl}/admin/reports/friction?since=${SINCE}&until=${UNTIL}`)).json();
    const json = await runCli(['report', 'friction', '--dsn', k.dsn, '--since', SINCE, '--until', UNTIL, '--json']);
    expect(json.code).toBe(0);
    const cli = JSON.parse(json.stdout);
    expect(cli.rows).toEqual(api.rows);
    expect(cli.totals).toEqual(api.totals);
    const csv = await runCli(['report', 'friction', '--dsn', k.dsn, '--since', SINCE, '--until', UNTIL, '--csv']);
    const [header, ...lines] = csv.stdout.trim().split('\n');
    const columns = header!.split(',');
    expect(lines).toHaveLength(3);
    const first = Object.fromEntries(columns.map((c, i) => [c, lines[0]!.split(',')[i]]));
    expect(first).toMatchObject({ week: '2026-09-07', rule: 'default', 'enrollments.started': '6', 'enrollments.abandoned.after_wrong_code': '1', 'lockouts.delay': '1' });
    const text = await runCli(['report', 'friction', '--dsn', k.dsn, '--since', SINCE, '--until', UNTIL]);
    expect(text.stdout).toContain('6 started, 2 finished, 2 failed submissions');
    expect(first['enrollments.failed']).toBe('1');
    const bad = await runCli(['report', 'friction', '--dsn', k.dsn, '--since', 'yesterday']);
    expect(bad.code).toBe(2);
    for (const query of ['since=soon', `since=${UNTIL}&until=${SINCE}`, 'format=xml', 'since=9999d']) {
      const r = await fetch(`${k.adminUrl}/admin/reports/friction?${query}`);
      expect(r.status, query).toBe(400);
      expect((await r.json()).error.code).toBe(400);
    }
    const asCsv = await fetch(`${k.adminUrl}/admin/reports/friction?since=${SINCE}&until=${UNTIL}`, { headers: { accept: 'text/csv' } });
    expect(asCsv.headers.get('content-type')).toMatch(/^text\/csv/);
  });

  it('groups by the rule in force (one function decides)', async () => {
    const report = await frictionReport(k.deps.db, { sinceMs: Date.parse(SINCE), untilMs: Date.parse(UNTIL), nowMs: k.clock.nowMs(), ruleOf: (identity) => (identity.id === recovered[0] ? 'staff' : 'default') });
    expect(Object.keys(report.by_rule).sort()).toEqual(['default', 'staff']);
    expect(report.by_rule.staff!.recovery_codes.used).toBe(1);
    expect(report.by_rule.default!.recovery_codes.used).toBe(0);
  });
});

function totpCodeAt(secret: string, atMs: number): string {
  return totpCodeNow({ clock: { nowMs: () => atMs } as never }, secret);
}

/**
 * Key enrollments (security keys as a second factor, and passkeys) in the friction report, on both dialects: real
 * settings flows answered by the honest software authenticator (test/support/software-authenticator.ts) through the
 * HTTP API. A settings flow offers both methods to an identity without a key, so a flow that stopped one method also
 * counts as the other's offer left unanswered, unless something was enrolled in it: the expected numbers say which
 * flow gives which.
 */
describe.each(DIALECTS)('friction report: key enrollments (%s)', (dialect) => {
  const ORIGIN = 'https://app.example.test';
  const rp = { id: 'example.test', display_name: 'Kairos Test', origins: [ORIGIN] };
  const KEYS = {
    selfservice: {
      methods: { lookup_secret: { enabled: true }, webauthn: { enabled: true, config: { rp } }, passkey: { enabled: true, config: { rp } } },
      // Identities marked `passkeys: off` are never shown the passkey set-up (the seeded identities are not marked).
      mfa: { policies: [{ id: 'no-passkeys', match: { metadata_admin: { passkeys: 'off' } }, allowed_methods: ['webauthn', 'lookup_secret'] }] },
    },
    serve: { public: { rate_limit: { enabled: false } } },
    session: { lifespan: '2000h' },
  };
  let k: TestKairos;
  let n = 0;
  const abandoned: string[] = [];
  const node = (flow: any, name: string) => flow.ui.nodes.find((x: any) => x.attributes.name === name || x.attributes.id === name);
  const webauthnOptions = (flow: any) => JSON.parse(node(flow, 'webauthn_register_trigger').attributes.value);
  const passkeyOptions = (flow: any) => JSON.parse(node(flow, 'passkey_create_data').attributes.value);
  const report = async (since = SINCE, until = UNTIL) => {
    const response = await fetch(`${k.adminUrl}/admin/reports/friction?since=${since}&until=${until}`);
    expect(response.status).toBe(200);
    return response.json();
  };

  beforeAll(async () => {
    k = await startKairos({ dialect, config: KEYS, clock: new ManualClock(START) });
    await seed();
  }, 120_000);
  afterAll(async () => k?.close());

  async function settingsFlow() {
    const user = await registerWithPassword(k, `keys${++n}-${dialect}@example.com`, PASSWORD);
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    return { ...user, flow };
  }
  const submit = (s: { flow: any; token: string }, body: Record<string, unknown>) => k.frontend.updateSettingsFlow({ flow: s.flow.id, xSessionToken: s.token, updateSettingsFlowBody: body as never });

  async function seed() {
    const authenticator = new SoftwareAuthenticator(ORIGIN);
    // 1. Nothing answered: both methods' offers left (webauthn before_answer, passkey before_answer).
    abandoned.push((await settingsFlow()).identityId);
    // 2. The browser refused the key prompt (webauthn after_browser_error; passkey before_answer).
    const cancelled = await settingsFlow();
    await errorBody(submit(cancelled, { method: 'webauthn', webauthn_register: JSON.stringify({ client_error: 'NotAllowedError' }) }));
    abandoned.push(cancelled.identityId);
    // 3. A refused attestation: made for another origin (webauthn after_refused_key; passkey before_answer).
    const refused = await settingsFlow();
    const wrongOrigin = await errorBody(submit(refused, { method: 'webauthn', webauthn_register: authenticator.create(webauthnOptions(refused.flow), { origin: 'https://evil.example' }) }));
    expect(messageIds(wrongOrigin.body)).toContain(4000043);
    abandoned.push(refused.identityId);
    // 4. A verified key, recovery codes never confirmed (webauthn at_recovery_codes; passkey before_answer).
    const atCodes = await settingsFlow();
    const shown = await submit(atCodes, { method: 'webauthn', webauthn_register: authenticator.create(webauthnOptions(atCodes.flow)) });
    expect(shown.state).not.toBe('success');
    expect(node(shown, 'lookup_secret_confirm')).toBeDefined();
    abandoned.push(atCodes.identityId);
    // 5. A key added, codes confirmed (webauthn finished; the passkey offer is not counted: something was enrolled).
    const keyDone = await settingsFlow();
    await submit(keyDone, { method: 'webauthn', webauthn_register: authenticator.create(webauthnOptions(keyDone.flow)) });
    const confirmed = await submit(keyDone, { method: 'lookup_secret', lookup_secret_confirm: true, transient_payload: { lookup_secret_acknowledged: true } });
    expect(confirmed.state).toBe('success');
    // 6. The browser refused the passkey prompt (passkey after_browser_error; webauthn before_answer).
    const pkCancelled = await settingsFlow();
    await errorBody(submit(pkCancelled, { method: 'passkey', passkey_settings_register: JSON.stringify({ client_error: 'NotAllowedError' }) }));
    abandoned.push(pkCancelled.identityId);
    // 7. A refused passkey: no user verification, which a passkey needs (passkey after_refused_key; webauthn before_answer).
    const pkRefused = await settingsFlow();
    await errorBody(submit(pkRefused, { method: 'passkey', passkey_settings_register: authenticator.create(passkeyOptions(pkRefused.flow), { userVerified: false }) }));
    abandoned.push(pkRefused.identityId);
    // 8. A passkey added (passkey finished; the webauthn offer is not counted).
    const pkDone = await settingsFlow();
    expect((await submit(pkDone, { method: 'passkey', passkey_settings_register: authenticator.create(passkeyOptions(pkDone.flow)) })).state).toBe('success');
    // 9. The same identity, which now has a passkey, opens settings again: no passkey offer (it has one), but a
    // security key is still offered (webauthn before_answer).
    await k.frontend.createNativeSettingsFlow({ xSessionToken: pkDone.token });
    abandoned.push(pkDone.identityId);
    // A passkey made at sign-up is not a settings enrollment: not counted.
    const signup = await k.frontend.createNativeRegistrationFlow();
    const data = JSON.parse(node(signup, 'passkey_create_data').attributes.value);
    const signedUp = await k.frontend.updateRegistrationFlow({ flow: signup.id, updateRegistrationFlowBody: { method: 'passkey', traits: { email: `keys-signup-${dialect}@example.com` }, passkey_register: authenticator.create(data.credentialOptions) } as never });
    const signupEvent = await k.deps.db.selectFrom('audit_events').select('details').where('identity_id', '=', signedUp.identity.id).where('type', '=', 'identity.updated').executeTakeFirstOrThrow();
    expect(JSON.parse(signupEvent.details ?? '{}')).toMatchObject({ method: 'passkey', change: 'passkey_added', via: 'registration' });
    // 10. Still open when the report is made (both in progress).
    k.clock.set(Date.UTC(2026, 8, 30, 12));
    await settingsFlow();
  }

  it('counts key enrollments by method and by where people stopped, leaving the TOTP fields as they were', async () => {
    const r = await report();
    expect(r.totals.enrollments.by_method).toEqual({
      totp: { started: 0, finished: 0, in_progress: 0, abandoned: { before_code: 0, after_wrong_code: 0, at_recovery_codes: 0 } },
      webauthn: { started: 9, finished: 1, in_progress: 1, abandoned: { before_answer: 4, after_browser_error: 1, after_refused_key: 1, at_recovery_codes: 1 } },
      passkey: { started: 8, finished: 1, in_progress: 1, abandoned: { before_answer: 4, after_browser_error: 1, after_refused_key: 1 } },
    });
    // The existing fields: TOTP set-ups and second factors finished (a second-factor key is one), as before.
    expect(r.totals.enrollments).toMatchObject({
      started: 1,
      finished: 1,
      finished_by_method: { webauthn: 1 },
      // Each refused key (2, 3, 6, 7) is a refused settings submission.
      failed: 4,
      in_progress: 0,
      abandoned: { before_code: 0, after_wrong_code: 0, at_recovery_codes: 0 },
    });
    expect([...r.identities.abandoned_enrollment].sort()).toEqual([...abandoned].sort());
    expect(r.rows.map((row: any) => [row.week, row.enrollments.by_method.webauthn.started, row.enrollments.by_method.passkey.started])).toEqual([
      ['2026-09-07', 8, 7],
      ['2026-09-28', 1, 1],
    ]);
  });

  it('the CSV, the text and the console carry the per-method numbers', async () => {
    const csv = await (await fetch(`${k.adminUrl}/admin/reports/friction?since=${SINCE}&until=${UNTIL}&format=csv`)).text();
    const [header, first] = csv.trim().split('\n');
    const cells = Object.fromEntries(header!.split(',').map((c, i) => [c, first!.split(',')[i]]));
    expect(cells).toMatchObject({
      'enrollments.by_method.webauthn.abandoned.before_answer': '4',
      'enrollments.by_method.webauthn.abandoned.after_browser_error': '1',
      'enrollments.by_method.webauthn.abandoned.after_refused_key': '1',
      'enrollments.by_method.webauthn.abandoned.at_recovery_codes': '1',
      'enrollments.by_method.passkey.abandoned.after_refused_key': '1',
      'enrollments.by_method.passkey.finished': '1',
    });
    const text = await runCli(['report', 'friction', '--dsn', k.dsn, '--since', SINCE, '--until', UNTIL]);
    expect(text.code).toBe(0);
    // The CLI reads at wall time, when flow 10 has expired too: abandoned before an answer, no longer in progress.
    expect(text.stdout).toContain("security keys   9 started, 1 finished, 0 in progress; abandoned: 5 before the browser answered, 1 after the browser's refusal, 1 after a refused key, 1 at the recovery codes");
    expect(text.stdout).toContain("passkeys        8 started, 1 finished, 0 in progress; abandoned: 5 before the browser answered, 1 after the browser's refusal, 1 after a refused key");
    const metrics = new Map(dashboardMetrics((await report()).totals).map(([key, , value]) => [key, value]));
    expect(metrics.get('enrollments.by_method.webauthn.abandoned.after_refused_key')).toBe(1);
    expect(metrics.get('enrollments.by_method.passkey.abandoned.before_answer')).toBe(4);
    // The enrollments chart sums every method: week of 2026-09-07, started 8 + 7, finished 1 + 1, abandoned 7 + 6.
    const page = dashboardPage({ report: await report(), period: '4w', population: {}, names: new Map() });
    const chart = JSON.parse(/id="chart-enrollments" data-chart="([^"]*)"/.exec(page)![1]!.replaceAll('&quot;', '"'));
    expect(chart.series.map((x: any) => [x.label, x.values[1]])).toEqual([
      ['Started', 15],
      ['Finished', 2],
      ['Abandoned', 13],
    ]);
  });

  it('a security key enrollment started and abandoned in a browser (SPA) settings flow is counted where it stopped', async () => {
    // Its own week, after the seeded ones.
    k.clock.set(Date.UTC(2026, 9, 5, 9));
    const email = `keys-browser-${dialect}@example.com`;
    await registerWithPassword(k, email, PASSWORD);
    const browser = new BrowserClient(k.publicUrl);
    const login = await browser.startFlow('login');
    const signedIn = await browser.request(`/self-service/login?flow=${login.id}`, { method: 'POST', json: { method: 'password', identifier: email, password: PASSWORD, csrf_token: csrfTokenOf(login.flow) } });
    expect(signedIn.status).toBe(200);
    const settings = await browser.startFlow('settings');
    const answer = new SoftwareAuthenticator(ORIGIN).create(webauthnOptions(settings.flow), { rpId: 'other.test' });
    const refused = await browser.request(`/self-service/settings?flow=${settings.id}`, { method: 'POST', json: { method: 'webauthn', webauthn_register: answer, csrf_token: csrfTokenOf(settings.flow) } });
    expect(refused.status).toBe(400);
    expect(messageIds(await refused.json())).toContain(4000043);
    const [weekStart, weekEnd] = ['2026-10-05T00:00:00.000Z', '2026-10-12T00:00:00.000Z'];
    // Within the flow's lifespan it is in progress; once it expired, abandoned after a refused key.
    const open = await report(weekStart, weekEnd);
    expect(open.totals.enrollments.by_method.webauthn).toMatchObject({ started: 1, in_progress: 1 });
    k.clock.advanceSeconds(2 * 3600);
    const closed = await report(weekStart, weekEnd);
    expect(closed.totals.enrollments.by_method.webauthn).toEqual({ started: 1, finished: 0, in_progress: 0, abandoned: { before_answer: 0, after_browser_error: 0, after_refused_key: 1, at_recovery_codes: 0 } });
    expect(closed.totals.enrollments.by_method.passkey.abandoned.before_answer).toBe(1);
    expect(closed.identities.abandoned_enrollment).toHaveLength(1);
  });

  it('a method the identity\'s MFA rule hides is not counted as offered', async () => {
    k.clock.set(Date.UTC(2026, 9, 12, 9));
    const user = await registerWithPassword(k, `keys-nopasskey-${dialect}@example.com`, PASSWORD);
    const patched = await fetch(`${k.adminUrl}/admin/identities/${user.identityId}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ op: 'add', path: '/metadata_admin', value: { passkeys: 'off' } }]) });
    expect(patched.status).toBe(200);
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    expect(node(flow, 'passkey_register_trigger')).toBeUndefined();
    expect(node(flow, 'webauthn_register_trigger')).toBeDefined();
    k.clock.advanceSeconds(2 * 3600);
    const r = await report('2026-10-12T00:00:00.000Z', '2026-10-19T00:00:00.000Z');
    expect(Object.keys(r.by_rule)).toEqual(['no-passkeys']);
    expect(r.totals.enrollments.by_method.webauthn).toMatchObject({ started: 1, abandoned: { before_answer: 1 } });
    expect(r.totals.enrollments.by_method.passkey.started).toBe(0);
  });
});
