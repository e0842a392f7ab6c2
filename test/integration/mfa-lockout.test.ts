/**
 * Per-identity second-factor limits (mfa/attempts): increasing delay after consecutive wrong codes, hard lock at 100
 * (NIST SP 800-63B §5.2.2), admin view and unlock. Time moves only through the injected clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { totpCodeNow } from '../support/totp.js';
import { loginWithPassword, registerWithPassword } from '../support/users.js';
import { errorBody, globalMessages, messageIds, secretOf } from '../support/flows.js';
import { ManualClock } from '../../src/support/clock.js';
import { submitTotpEnrollment } from '../support/enroll.js';

const PASSWORD = 'a long enough passphrase';

/** The wall clock, for the one test whose delays must pass on their own (milliseconds, never a TOTP window). */
class RealClock extends ManualClock {
  override nowMs(): number {
    return Date.now();
  }
}

/** A machine's wall clock, `offsetMs` off (as `systemClock` on a host whose clock is wrong). */
class SkewedWallClock extends ManualClock {
  readonly wall = true;
  constructor(private readonly offsetMs: number) {
    super();
  }
  override nowMs(): number {
    return Date.now() + this.offsetMs;
  }
}
// The per-IP limit is tested elsewhere (it runs on real time); sessions must outlive the ~22 h of the 100-code test.
const TOTP_ON = {
  selfservice: { methods: { totp: { enabled: true, config: { issuer: 'Kairos Test' } } } },
  serve: { public: { rate_limit: { enabled: false } } },
  session: { lifespan: '200h' },
};

describe.each(DIALECTS)('second-factor lockout (%s)', (dialect) => {
  let k: TestKairos;
  let counter = 0;
  beforeAll(async () => {
    k = await startKairos({ dialect, config: TOTP_ON });
  });
  afterAll(async () => k?.close());

  const codeNow = (server: TestKairos, secret: string) => totpCodeNow(server, secret);
  const wrongNow = (server: TestKairos, secret: string) => String((Number(codeNow(server, secret)) + 1) % 1_000_000).padStart(6, '0');

  /** A registered identity with TOTP and an aal1 session waiting for the second factor. */
  async function enrolledUser(server: TestKairos = k) {
    const email = `lock${++counter}-${Math.random().toString(36).slice(2, 8)}@example.com`;
    const registered = await registerWithPassword(server, email, PASSWORD);
    const settings = await server.frontend.createNativeSettingsFlow({ xSessionToken: registered.token });
    const secret = secretOf(settings);
    await submitTotpEnrollment(server, { flowId: settings.id, token: registered.token, code: codeNow(server, secret) });
    server.clock.advanceSeconds(30);
    const first = await loginWithPassword(server, email, PASSWORD);
    return { email, secret, identityId: registered.identityId, token: first.session_token! };
  }

  /** Submits a code on a fresh aal2 login flow (the per-flow budget never interferes). */
  async function submit(server: TestKairos, token: string, code: string) {
    const flow = await server.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: token });
    return server.frontend.updateLoginFlow({ flow: flow.id, xSessionToken: token, updateLoginFlowBody: { method: 'totp', totp_code: code } });
  }

  async function mfaReport(server: TestKairos, identityId: string) {
    const response = await fetch(`${server.adminUrl}/admin/identities/${identityId}/mfa`);
    expect(response.status).toBe(200);
    return response.json();
  }

  it('after five wrong codes the next attempt is refused before it is checked, says when to retry, and does not reveal the code', async () => {
    const user = await enrolledUser();
    for (let i = 0; i < 5; i++) expect(messageIds((await errorBody(submit(k, user.token, wrongNow(k, user.secret)))).body).filter((id: number) => id < 4900000)).toEqual([4000008]);
    const right = await errorBody(submit(k, user.token, codeNow(k, user.secret)));
    const wrong = await errorBody(submit(k, user.token, wrongNow(k, user.secret)));
    for (const refused of [right, wrong]) {
      expect(refused.status).toBe(400);
      const [message] = globalMessages(refused.body);
      expect(message.id).toBe(4900100);
      expect(message.context.retry_after_seconds).toBe(2);
      expect(message.context.retry_at).toBe(new Date(k.clock.nowMs() + 2000).toISOString());
    }
    // The right and the wrong code get the very same answer.
    expect(globalMessages(right.body)).toEqual(globalMessages(wrong.body));
    expect((await mfaReport(k, user.identityId)).lockout).toMatchObject({ state: 'delayed', consecutive_failures: 5 });

    k.clock.advanceSeconds(2);
    const ok = await submit(k, user.token, codeNow(k, user.secret));
    expect(ok.session.authenticator_assurance_level).toBe('aal2');
    // A success resets the counter.
    expect((await mfaReport(k, user.identityId)).lockout).toMatchObject({ state: 'none', consecutive_failures: 0 });
    const events = await k.deps.db.selectFrom('audit_events').selectAll().where('identity_id', '=', user.identityId).where('type', 'like', 'lockout.%').orderBy('created_at').orderBy('id').execute();
    expect(events.map((e) => [e.type, JSON.parse(e.details).kind ?? JSON.parse(e.details).by])).toEqual([
      ['lockout.started', 'delay'],
      ['lockout.cleared', 'success'],
    ]);
  });

  it('the delay doubles with each further wrong code', async () => {
    const user = await enrolledUser();
    for (let i = 0; i < 5; i++) await errorBody(submit(k, user.token, wrongNow(k, user.secret)));
    k.clock.advanceSeconds(2);
    expect(messageIds((await errorBody(submit(k, user.token, wrongNow(k, user.secret)))).body).filter((id: number) => id < 4900000)).toEqual([4000008]);
    k.clock.advanceSeconds(3);
    const early = await errorBody(submit(k, user.token, codeNow(k, user.secret)));
    expect(globalMessages(early.body)[0].context.retry_after_seconds).toBe(1);
    k.clock.advanceSeconds(1);
    expect((await submit(k, user.token, codeNow(k, user.secret))).session.authenticator_assurance_level).toBe('aal2');
  });

  it('consecutive wrong codes count across flows and across two instances sharing the database', async () => {
    const database = await createTestDatabase(dialect);
    const clock = new ManualClock();
    const a = await startKairos({ dialect, database, clock, config: TOTP_ON });
    const b = await startKairos({ dialect, database, clock, config: TOTP_ON });
    try {
      const user = await enrolledUser(a);
      for (let i = 0; i < 3; i++) await errorBody(submit(a, user.token, wrongNow(a, user.secret)));
      for (let i = 0; i < 2; i++) await errorBody(submit(b, user.token, wrongNow(b, user.secret)));
      const refused = await errorBody(submit(a, user.token, codeNow(a, user.secret)));
      expect(globalMessages(refused.body)[0].id).toBe(4900100);
      expect((await mfaReport(b, user.identityId)).lockout.consecutive_failures).toBe(5);
    } finally {
      await b.close();
      await a.close();
      await database.drop();
    }
  });

  it('a concurrent burst of wrong guesses cannot exceed the per-identity delay', async () => {
    const user = await enrolledUser();
    for (let i = 0; i < 4; i++) await errorBody(submit(k, user.token, wrongNow(k, user.secret)));
    const flows = await Promise.all(Array.from({ length: 8 }, () => k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: user.token })));
    const results = await Promise.all(
      flows.map((flow, i) =>
        errorBody(k.frontend.updateLoginFlow({ flow: flow.id, xSessionToken: user.token, updateLoginFlowBody: { method: 'totp', totp_code: String(100000 + i) } })),
      ),
    );
    const checked = results.filter((r) => messageIds(r.body).includes(4000008));
    const refused = results.filter((r) => globalMessages(r.body)[0]?.id === 4900100);
    expect(checked).toHaveLength(1);
    expect(refused).toHaveLength(7);
    expect((await mfaReport(k, user.identityId)).lockout.consecutive_failures).toBe(5);
  });

  it('a concurrent burst of wrong guesses on two instances with millisecond delays gets exactly the hard limit checked, not one more', async () => {
    // Delays of 1–2 ms on the real clock (no TOTP window is waited for: every guess is wrong), and the lowest hard
    // limit the config allows, so the bursts reach the lock within a few rounds; the guesses race past every delay.
    const max = 10;
    const config = { ...TOTP_ON, selfservice: { methods: { totp: { enabled: true, config: { issuer: 'Kairos Test', lockout: { free_failures: 1, base_delay: '1ms', max_delay: '2ms', max_consecutive_failures: max } } } } } };
    const database = await createTestDatabase(dialect);
    const a = await startKairos({ dialect, database, clock: new RealClock(), config });
    const b = await startKairos({ dialect, database, clock: new RealClock(), config });
    try {
      expect(a.deps.secondFactorGuard.schedule).toMatchObject({ baseDelayMs: 1, maxDelayMs: 2, maxConsecutiveFailures: max });
      const user = await enrolledUser(a);
      const verdicts: number[] = [];
      // Bursts until the lock shows, then three more: nothing after the lock may be checked either.
      let afterLock = 0;
      for (let round = 0; round < 40 && afterLock < 3; round++) {
        if (verdicts.includes(4900101)) afterLock++;
        const servers = Array.from({ length: 12 }, (_, i) => (i % 2 ? b : a));
        const flows = await Promise.all(servers.map((s) => s.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: user.token })));
        const answers = await Promise.all(
          flows.map(async (flow, i) => {
            const server = servers[i]!;
            const sent = server.frontend.updateLoginFlow({ flow: flow.id, xSessionToken: user.token, updateLoginFlowBody: { method: 'totp', totp_code: wrongNow(server, user.secret) } });
            return globalMessages((await errorBody(sent)).body).map((m: { id: number }) => m.id).filter((id: number) => id === 4000008 || id >= 4900100);
          }),
        );
        verdicts.push(...answers.flat());
      }
      // Checked codes are the ones whose verdict (4000008) was given and whose rejection the audit trail recorded.
      expect(verdicts.filter((id) => id === 4000008)).toHaveLength(max);
      const events = await a.deps.db.selectFrom('audit_events').select(['type', 'details']).where('identity_id', '=', user.identityId).execute();
      expect(events.filter((e) => e.type === 'second_factor.rejected')).toHaveLength(max);
      expect(events.filter((e) => e.type === 'lockout.started').map((e) => JSON.parse(e.details).kind).sort()).toEqual(['delay', 'locked']);
      expect((await mfaReport(b, user.identityId)).lockout).toMatchObject({ state: 'locked', consecutive_failures: max });
      // Locked: even the right code is refused unchecked, on either instance.
      for (const server of [a, b]) expect(globalMessages((await errorBody(submit(server, user.token, codeNow(server, user.secret)))).body)[0].id).toBe(4900101);
    } finally {
      await b.close();
      await a.close();
      await database.drop();
    }
  }, 120_000);

  it('an instance whose clock runs an hour ahead cannot skip a lockout delay: delays are measured with the database’s clock', async () => {
    // A one-minute delay after 5 wrong codes, so the test never races it on a slow machine.
    const config = { ...TOTP_ON, selfservice: { methods: { totp: { enabled: true, config: { issuer: 'Kairos Test', lockout: { base_delay: '1m' } } } } } };
    const database = await createTestDatabase(dialect);
    const a = await startKairos({ dialect, database, clock: new SkewedWallClock(0), config });
    const ahead = await startKairos({ dialect, database, clock: new SkewedWallClock(3_600_000), config });
    try {
      const user = await enrolledUser(a);
      for (let i = 0; i < 5; i++) expect(messageIds((await errorBody(submit(a, user.token, wrongNow(a, user.secret)))).body).filter((id: number) => id < 4900000)).toEqual([4000008]);
      // The instance an hour ahead thinks the minute is long over; the database says it is not.
      for (const code of [wrongNow(ahead, user.secret), codeNow(ahead, user.secret)]) {
        const refused = await errorBody(submit(ahead, user.token, code));
        expect(globalMessages(refused.body)[0].id).toBe(4900100);
        expect(messageIds(refused.body)).not.toContain(4000008);
      }
      expect((await mfaReport(a, user.identityId)).lockout).toMatchObject({ state: 'delayed', consecutive_failures: 5 });
      const rejected = await a.deps.db.selectFrom('audit_events').select('id').where('identity_id', '=', user.identityId).where('type', '=', 'second_factor.rejected').execute();
      expect(rejected).toHaveLength(5);
    } finally {
      await ahead.close();
      await a.close();
      await database.drop();
    }
  });

  it('100 consecutive wrong codes lock second factors until an admin unlocks them', async () => {
    const user = await enrolledUser();
    const guard = k.deps.secondFactorGuard;
    for (let n = 1; n <= 100; n++) {
      const r = await errorBody(submit(k, user.token, wrongNow(k, user.secret)));
      expect(messageIds(r.body).filter((id: number) => id < 4900000)).toEqual([4000008]);
      k.clock.advanceMs(guard.schedule.maxDelayMs);
    }
    // Locked: a day later even the right code is refused, unchecked.
    k.clock.advanceSeconds(86_400);
    const locked = await errorBody(submit(k, user.token, codeNow(k, user.secret)));
    expect(globalMessages(locked.body)[0].id).toBe(4900101);
    const report = await mfaReport(k, user.identityId);
    expect(report.lockout).toMatchObject({ state: 'locked', consecutive_failures: 100, max_consecutive_failures: 100, retry_at: null });
    expect(report.lockout.locked_at).toEqual(expect.any(String));
    const metrics = await (await fetch(`${k.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/kairos_mfa_lockouts_total\{kind="locked",method="totp"\} 1/);
    expect(metrics).toMatch(/kairos_mfa_attempts_refused_total\{reason="locked",method="totp"\} 1/);

    const unlock = await fetch(`${k.adminUrl}/admin/identities/${user.identityId}/mfa/unlock`, { method: 'POST' });
    expect(unlock.status).toBe(200);
    expect(await unlock.json()).toMatchObject({ cleared: true, lockout: { state: 'none', consecutive_failures: 0 } });
    expect((await submit(k, user.token, codeNow(k, user.secret))).session.authenticator_assurance_level).toBe('aal2');

    const events = await k.deps.db.selectFrom('audit_events').selectAll().where('identity_id', '=', user.identityId).orderBy('created_at').orderBy('id').execute();
    const lockEvents = events.filter((e) => e.type.startsWith('lockout.')).map((e) => ({ type: e.type, actor: e.actor, details: JSON.parse(e.details) }));
    expect(lockEvents).toEqual([
      { type: 'lockout.started', actor: 'system', details: expect.objectContaining({ kind: 'delay', consecutive_failures: 5 }) },
      { type: 'lockout.started', actor: 'system', details: expect.objectContaining({ kind: 'locked', consecutive_failures: 100 }) },
      { type: 'lockout.cleared', actor: 'admin', details: { by: 'admin', reason: 'no reason given', previous_failures: 100, was_locked: true } },
    ]);
    const admin = events.find((e) => e.type === 'admin.action_performed')!;
    expect(admin.actor).toBe('admin');
    expect(JSON.parse(admin.details)).toEqual({ action: 'mfa.unlock', reason: 'no reason given', cleared: true });
  }, 180_000); // ~120 requests: slow on a loaded machine, never timed by the TOTP clock

  it('the admin MFA view lists TOTP parameters without the secret; unlock records the reason; unknown ids get 404', async () => {
    const user = await enrolledUser();
    const report = await mfaReport(k, user.identityId);
    expect(report.identity_id).toBe(user.identityId);
    expect(report.second_factors).toEqual(['lookup_secret', 'totp']);
    // Other modules' sections arrive through the same hook (recovery codes: counts only).
    expect(report.recovery_codes).toMatchObject({ total: expect.any(Number), remaining: expect.any(Number) });
    expect(report.totp).toMatchObject({ algorithm: 'SHA1', digits: 6, period_seconds: 30, issuer: 'Kairos Test', account_name: user.email });
    expect(report.totp.enrolled_at).toBe(new Date(k.clock.nowMs() - 30_000).toISOString());
    expect(JSON.stringify(report)).not.toContain(user.secret);
    expect(report.lockout).toEqual({ state: 'none', consecutive_failures: 0, max_consecutive_failures: 100, last_failure_at: null, retry_at: null, locked_at: null });

    for (let i = 0; i < 6; i++) await errorBody(submit(k, user.token, wrongNow(k, user.secret)));
    const unlock = await fetch(`${k.adminUrl}/admin/identities/${user.identityId}/mfa/unlock`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'ticket 4711: verified by phone' }),
    });
    expect(unlock.status).toBe(200);
    const cleared = await k.deps.db.selectFrom('audit_events').selectAll().where('identity_id', '=', user.identityId).where('type', '=', 'lockout.cleared').executeTakeFirstOrThrow();
    expect(JSON.parse(cleared.details)).toMatchObject({ by: 'admin', reason: 'ticket 4711: verified by phone', previous_failures: 5 });
    expect((await submit(k, user.token, codeNow(k, user.secret))).session.authenticator_assurance_level).toBe('aal2');

    const badReason = await fetch(`${k.adminUrl}/admin/identities/${user.identityId}/mfa/unlock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: 42 }) });
    expect(badReason.status).toBe(400);
    expect((await badReason.json()).error.code).toBe(400);

    const unknown = '00000000-0000-4000-8000-000000000000';
    for (const [method, path] of [['GET', 'mfa'], ['POST', 'mfa/unlock']] as const) {
      const response = await fetch(`${k.adminUrl}/admin/identities/${unknown}/${path}`, { method });
      expect(response.status).toBe(404);
      expect((await response.json()).error).toMatchObject({ code: 404, status: 'Not Found' });
    }
  });

  it('the guard is method-agnostic: recovery-code failures count toward the same identity lock', async () => {
    const user = await enrolledUser();
    const identity = (await k.deps.identities.get(user.identityId))!;
    const flow = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: user.token });
    const stored = (await k.deps.flows.get(flow.id))!;
    const attempt = () => ({ flowId: stored.id, flowFailedAttempts: 0, identityId: identity.id, method: 'lookup_secret', request: { ip: '127.0.0.1', userAgent: null } });
    for (let n = 0; n < 3; n++) {
      const a = attempt();
      await k.deps.storage.transaction(async (trx) => {
        expect(await k.deps.secondFactorGuard.check(trx, a)).toBeNull();
        expect(await k.deps.secondFactorGuard.recordFailure(trx, a)).toBeNull();
      });
    }
    for (let i = 0; i < 2; i++) await errorBody(submit(k, user.token, wrongNow(k, user.secret)));
    expect(globalMessages((await errorBody(submit(k, user.token, codeNow(k, user.secret)))).body)[0].id).toBe(4900100);
    expect(await k.deps.secondFactorGuard.clearLockout({ identityId: user.identityId, by: 'recovery', actor: 'self' })).toBe(true);
    expect((await submit(k, user.token, codeNow(k, user.secret))).session.authenticator_assurance_level).toBe('aal2');
  });
});
