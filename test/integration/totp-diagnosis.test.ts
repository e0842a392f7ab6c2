/**
 * The runbook "user insists the code is correct, the server says invalid" (seeds/000), driven over HTTP with codes
 * from oathtool at shifted device times: every rejected code is diagnosed (cause, offset, hint id), logged once
 * with the structured fields, counted on /metrics, audited per identity, and nothing of a code or secret reaches a
 * log line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResponseError } from '@ory/client-fetch';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { registerWithPassword } from '../support/users.js';
import { globalMessages, secretOf } from '../support/flows.js';
import { describeWithTool } from '../support/external-tool.js';
import { oathtoolCode } from '../support/oathtool.js';
import { confirmRecoveryCodes } from '../support/enroll.js';
import { decodeBase32, encodeBase32, type TotpParameters } from '../../src/otp/otp.js';
import { SecretCipher } from '../../src/crypto/secret-cipher.js';
import { cryptoRandom } from '../../src/support/random.js';
import { previousTotpSecretsSource, rotateAllSecrets } from '../../src/crypto/rotation.js';
import { LOG_MESSAGE } from '../../src/mfa/diagnosis/totp-diagnostics.js';

const PASSWORD = 'a long enough passphrase';
const SHA1: TotpParameters = { algorithm: 'SHA1', digits: 6, periodSeconds: 30 };
const TOTP_ON = { selfservice: { methods: { totp: { enabled: true, config: { issuer: 'Kairos Test' } } } } };

async function errorBody(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ResponseError) return { status: err.response.status, ...(await err.response.json()) };
    throw err;
  }
  throw new Error('expected the call to fail');
}

const hintOf = (flow: any) => globalMessages(flow).find((m) => m.id >= 4900000 && m.id <= 4900099);

/** Everything a test used that must never be logged. */
const usedCodes = new Set<string>();
const usedSecrets = new Set<string>();

function collectValues(value: unknown, out: string[]): void {
  if (typeof value === 'string' || typeof value === 'number') out.push(String(value));
  else if (Array.isArray(value)) for (const v of value) collectValues(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) collectValues(v, out);
}

class Users {
  counter = 0;
  constructor(readonly k: TestKairos) {}

  /** The code the user's authenticator shows, its clock `deviceOffsetMs` away from the server's. */
  device(secret: string, deviceOffsetMs = 0, parameters: TotpParameters = SHA1): string {
    const code = oathtoolCode(secret, parameters, this.k.clock.nowMs() + deviceOffsetMs);
    usedCodes.add(code);
    return code;
  }

  async register() {
    const email = `diag${++this.counter}-${Math.random().toString(36).slice(2, 8)}@example.com`;
    return registerWithPassword(this.k, email, PASSWORD);
  }

  async enroll(token: string): Promise<string> {
    const flow = await this.k.frontend.createNativeSettingsFlow({ xSessionToken: token });
    const secret = secretOf(flow);
    usedSecrets.add(secret);
    const saved = await this.k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: token, updateSettingsFlowBody: { method: 'totp', totp_code: this.device(secret) } });
    if (saved.state !== 'success') await confirmRecoveryCodes(this.k, flow.id, token);
    return secret;
  }

  async unlink(token: string, secret: string) {
    const flow = await this.k.frontend.createNativeSettingsFlow({ xSessionToken: token });
    await this.k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: token, updateSettingsFlowBody: { method: 'totp', totp_unlink: true, totp_code: this.device(secret) } });
  }

  async aal1(email: string): Promise<string> {
    const flow = await this.k.frontend.createNativeLoginFlow();
    const r = await this.k.frontend.updateLoginFlow({ flow: flow.id, updateLoginFlowBody: { method: 'password', identifier: email, password: PASSWORD } });
    return r.session_token!;
  }

  /** A new user with TOTP and a pending aal2 login; the clock is moved past the enrollment step. */
  async enrolledAndSignedIn() {
    const user = await this.register();
    const secret = await this.enroll(user.token);
    const token = await this.aal1(user.email);
    this.k.clock.advanceSeconds(30);
    return { ...user, secret, token };
  }

  async submit(token: string, code: string, flowId?: string) {
    const id = flowId ?? (await this.k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: token })).id;
    try {
      const ok = await this.k.frontend.updateLoginFlow({ flow: id, xSessionToken: token, updateLoginFlowBody: { method: 'totp', totp_code: code } });
      return { ok: true as const, flowId: id, session: ok.session };
    } catch (err) {
      if (!(err instanceof ResponseError)) throw err;
      return { ok: false as const, flowId: id, status: err.response.status, body: await err.response.json() };
    }
  }
}

async function rejectionCount(k: TestKairos, cause: string): Promise<number> {
  const text = await fetch(`${k.adminUrl}/metrics`).then((r) => r.text());
  const line = text.split('\n').find((l) => l.startsWith(`kairos_totp_rejections_total{cause="${cause}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

function diagnosisLogs(k: TestKairos, flowId: string) {
  return k.logs.records().filter((r) => r.msg === LOG_MESSAGE && r.flow_id === flowId);
}

describeWithTool('oathtool', 'oathtool', 'TOTP rejection diagnosis', () => {
  describe.each(DIALECTS)('%s', (dialect) => {
    let k: TestKairos;
    let users: Users;
    beforeAll(async () => {
      k = await startKairos({ dialect, config: { ...TOTP_ON, serve: { public: { rate_limit: { enabled: false } } } } });
      users = new Users(k);
    });
    afterAll(async () => {
      // Whatever the tests above did, no code or secret was written to a log line.
      if (k) {
        const values: string[] = [];
        for (const record of k.logs.records()) collectValues(record, values);
        for (const code of usedCodes) expect(values, `code in a log line`).not.toContain(code);
        const text = k.logs.text();
        for (const secret of usedSecrets) {
          expect(text.includes(secret)).toBe(false);
          expect(text.includes(Buffer.from(decodeBase32(secret)).toString('hex'))).toBe(false);
        }
        expect(text).not.toMatch(/"totp_code":"\d/);
      }
      await k?.close();
    });

    /** GET /admin/identities/{id}/mfa (the helpdesk view; the TOTP section carries drift and rejection causes). */
    async function mfaView(identityId: string): Promise<any> {
      const response = await fetch(`${k.adminUrl}/admin/identities/${identityId}/mfa`);
      expect(response.status).toBe(200);
      return response.json();
    }

    async function expectDiagnosed(
      user: { identityId: string },
      result: Awaited<ReturnType<Users['submit']>>,
      expected: { cause: string; offsetSteps: number | null; hintId: number },
    ) {
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.status).toBe(400);
      const hint = hintOf(result.body);
      expect(hint?.id).toBe(expected.hintId);
      expect(hint.context.cause).toBe(expected.cause);
      const logs = diagnosisLogs(k, result.flowId);
      expect(logs).toHaveLength(1);
      const row = await k.deps.db.selectFrom('totp_credentials').select('credential_id').where('identity_id', '=', user.identityId).executeTakeFirstOrThrow();
      expect(logs[0]).toMatchObject({
        cause: expected.cause,
        offset_steps: expected.offsetSteps,
        offset_seconds: expected.offsetSteps === null ? null : expected.offsetSteps * 30,
        identity_id: user.identityId,
        credential_id: row.credential_id,
        flow_id: result.flowId,
      });
      const events = await k.deps.audit.list({ identityId: user.identityId, types: ['second_factor.rejected'], pageSize: 50 });
      const event = events.find((e) => e.flow_id === result.flowId);
      expect(event?.details).toMatchObject({ method: 'totp', cause: expected.cause, offset_steps: expected.offsetSteps });
      return { hint, log: logs[0]! };
    }

    it('clock_skew: a phone 2 minutes 30 seconds behind gets the size of the skew and the automatic-time steps', async () => {
      const user = await users.enrolledAndSignedIn();
      const before = await rejectionCount(k, 'clock_skew');
      const result = await users.submit(user.token, users.device(user.secret, -150_000));
      const { hint } = (await expectDiagnosed(user, result, { cause: 'clock_skew', offsetSteps: -5, hintId: 4900003 }))!;
      expect(hint.text).toContain('about 2 minutes 30 seconds behind');
      expect(hint.text).toContain('Settings → General → Date & Time → Set automatically');
      expect(hint.text).toContain('Settings → System → Date & time → Automatic');
      expect(hint.context).toMatchObject({ offset_steps: -5, offset_seconds: -150, direction: 'behind' });
      expect(globalMessages(result.ok ? {} : result.body).map((m) => m.id)).toContain(4000008);
      expect(await rejectionCount(k, 'clock_skew')).toBe(before + 1);
    });

    it('a future code revealed by a skew hint is never accepted when its step arrives', async () => {
      const user = await users.enrolledAndSignedIn();
      const future = users.device(user.secret, 150_000);
      await expectDiagnosed(user, await users.submit(user.token, future), { cause: 'clock_skew', offsetSteps: 5, hintId: 4900003 });
      k.clock.advanceSeconds(150);
      expect((await users.submit(user.token, future)).ok).toBe(false);
      k.clock.advanceSeconds(30);
      expect((await users.submit(user.token, users.device(user.secret))).ok).toBe(true);
    });

    it('replayed: a code already used', async () => {
      const user = await users.enrolledAndSignedIn();
      const code = users.device(user.secret);
      expect((await users.submit(user.token, code)).ok).toBe(true);
      const again = await users.aal1(user.email);
      await expectDiagnosed(user, await users.submit(again, code), { cause: 'replayed', offsetSteps: 0, hintId: 4900002 });
    });

    it('malformed: a short code gets Kratos 4000003 on totp_code and the hint; letters get 4000008', async () => {
      const user = await users.enrolledAndSignedIn();
      const short = await users.submit(user.token, '12345');
      const { hint } = (await expectDiagnosed(user, short, { cause: 'malformed', offsetSteps: null, hintId: 4900001 }))!;
      expect(hint.context).toMatchObject({ expected_digits: 6, actual_length: 5, reason: 'too_short' });
      const node = (short as any).body.ui.nodes.find((n: any) => n.attributes.name === 'totp_code');
      expect(node.messages).toEqual([expect.objectContaining({ id: 4000003, text: 'length must be >= 6, but got 5' })]);
      const letters = await users.submit(user.token, '12a456');
      expect(globalMessages((letters as any).body).map((m: any) => m.id)).toEqual([4000008, 4900001]);
    });

    it('previous_secret: after unlink and re-enrollment, a code from the old entry says "delete the old entry"', async () => {
      const user = await users.register();
      const oldSecret = await users.enroll(user.token);
      k.clock.advanceSeconds(30);
      await users.unlink(user.token, oldSecret);
      const newSecret = await users.enroll(user.token);
      const token = await users.aal1(user.email);
      k.clock.advanceSeconds(30);
      const result = await users.submit(token, users.device(oldSecret));
      const { hint } = (await expectDiagnosed(user, result, { cause: 'previous_secret', offsetSteps: 0, hintId: 4900004 }))!;
      expect(hint.text).toContain('Delete the old entry');
      expect(hint.context).toMatchObject({ issuer: 'Kairos Test', account_name: user.email });
      // Never accepted, and the new one works.
      expect((await users.submit(token, users.device(newSecret))).ok).toBe(true);
      // Kept encrypted: the old secret is nowhere in clear.
      const rows = await k.deps.db.selectFrom('totp_previous_secrets').selectAll().where('identity_id', '=', user.identityId).execute();
      expect(rows).toHaveLength(1);
      expect(JSON.stringify(rows)).not.toContain(oldSecret);
      expect(JSON.stringify(rows)).not.toContain(Buffer.from(decodeBase32(oldSecret)).toString('hex'));
      // `kairos secrets rotate` re-encrypts kept secrets too, still bound to their row.
      const rotated = new SecretCipher(['a-new-primary-cipher-secret-0123456789', 'test-cipher-secret-0123456789abcdef0123'], cryptoRandom);
      const summary = await rotateAllSecrets({ db: k.deps.db, cipher: rotated, batchSize: 10, sources: [previousTotpSecretsSource] });
      expect(summary.rotated).toBeGreaterThanOrEqual(1);
      const after = await k.deps.db.selectFrom('totp_previous_secrets').selectAll().where('identity_id', '=', user.identityId).executeTakeFirstOrThrow();
      expect(rotated.isEncryptedWithPrimary(after.secret_ciphertext)).toBe(true);
      expect(encodeBase32(rotated.decrypt(after.secret_ciphertext, `totp_previous_secrets/${after.id}`))).toBe(oldSecret.replace(/=+$/, ''));
      expect(() => rotated.decrypt(after.secret_ciphertext, after.id)).toThrow();
    });

    it('the admin DELETE of the totp credential keeps the old secret for diagnosis, and the MFA report lists its dates', async () => {
      const user = await users.register();
      const oldSecret = await users.enroll(user.token);
      await k.identityApi.deleteIdentityCredentials({ id: user.identityId, type: 'totp' });
      await users.enroll(user.token);
      const token = await users.aal1(user.email);
      k.clock.advanceSeconds(30);
      await expectDiagnosed(user, await users.submit(token, users.device(oldSecret, -30_000)), { cause: 'previous_secret', offsetSteps: -1, hintId: 4900004 });
      const report = (await mfaView(user.identityId)).totp;
      expect(report.previous_secrets).toHaveLength(1);
      expect(Object.keys(report.previous_secrets[0]).sort()).toEqual(['enrolled_at', 'retired_at']);
      expect(report.recent_rejections[0]).toMatchObject({ cause: 'previous_secret', offset_steps: -1 });
      expect(JSON.stringify(report)).not.toContain(oldSecret);
    });

    it('previous secrets past the retention (90 days) are purged by the maintenance job, not on the rejection path', async () => {
      const old = await users.register();
      usedSecrets.add(await users.enroll(old.token));
      await k.identityApi.deleteIdentityCredentials({ id: old.identityId, type: 'totp' });
      const kept = () => k.deps.db.selectFrom('totp_previous_secrets').select('id').where('identity_id', '=', old.identityId).execute();
      expect(await kept()).toHaveLength(1);
      k.clock.advanceMs(89 * 24 * 3600 * 1000);
      await k.server.maintenance.runOnce();
      expect(await kept()).toHaveLength(1);
      k.clock.advanceMs(2 * 24 * 3600 * 1000);
      // A rejected code does no retention work any more (it is off the request path)…
      const user = await users.enrolledAndSignedIn();
      await users.submit(user.token, '000000');
      expect(await kept()).toHaveLength(1);
      // …and a secret past its retention is no longer offered to the diagnosis: reads filter by retention.
      expect((await k.server.maintenance.runOnce()).totp_previous_secrets).toBeGreaterThanOrEqual(1);
      expect(await kept()).toHaveLength(0);
    });

    it('parameter_mismatch: the app ignored the QR code\'s algorithm (SHA256) or digits (8)', async () => {
      const user = await users.enrolledAndSignedIn();
      const sha256 = await users.submit(user.token, users.device(user.secret, 0, { algorithm: 'SHA256', digits: 6, periodSeconds: 30 }));
      const { hint } = (await expectDiagnosed(user, sha256, { cause: 'parameter_mismatch', offsetSteps: 0, hintId: 4900005 }))!;
      expect(hint.context.detected).toEqual({ algorithm: 'SHA256', digits: 6, period: 30 });
      expect(hint.context.expected).toEqual({ algorithm: 'SHA1', digits: 6, period: 30 });
      const eight = await users.submit(user.token, users.device(user.secret, 0, { algorithm: 'SHA1', digits: 8, periodSeconds: 30 }));
      expect(hintOf((eight as any).body).context.detected).toEqual({ algorithm: 'SHA1', digits: 8, period: 30 });
    });

    it('no_match: the hint names the entry as enrolled and says that the issuer changed since', async () => {
      const user = await users.enrolledAndSignedIn();
      const other = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
      const result = await users.submit(user.token, users.device(other));
      const { hint } = (await expectDiagnosed(user, result, { cause: 'no_match', offsetSteps: null, hintId: 4900006 }))!;
      expect(hint.context).toMatchObject({ issuer: 'Kairos Test', account_name: user.email, issuer_changed: false });
      expect(hint.text).toContain(`"Kairos Test (${user.email})"`);
    });

    it('a diagnosis is rate-limited like any wrong code: the sixth submission on one flow is not diagnosed', async () => {
      const user = await users.enrolledAndSignedIn();
      const flow = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: user.token });
      const skewed = users.device(user.secret, -300_000);
      for (let i = 0; i < 6; i++) await users.submit(user.token, skewed, flow.id);
      expect(diagnosisLogs(k, flow.id)).toHaveLength(5);
    });

    it('drift: consistent successes one step ahead re-centre the window without widening it', async () => {
      const user = await users.enrolledAndSignedIn();
      for (let i = 0; i < 3; i++) {
        k.clock.advanceSeconds(60);
        const token = i === 0 ? user.token : await users.aal1(user.email);
        expect((await users.submit(token, users.device(user.secret, 30_000))).ok).toBe(true);
      }
      const report = (await mfaView(user.identityId)).totp;
      expect(report.drift).toMatchObject({ steps: 1, seconds: 30 });
      const row = await k.deps.db.selectFrom('totp_credentials').select(['drift_steps', 'recent_offsets']).where('identity_id', '=', user.identityId).executeTakeFirstOrThrow();
      expect(Number(row.drift_steps)).toBe(1);
      expect(row.recent_offsets).toBe('1,1,1');
      k.clock.advanceSeconds(90);
      // Window is now [0, +2]: +2 is accepted, −1 is outside (diagnosed as skew), so the tolerance is still 3 steps.
      expect((await users.submit(await users.aal1(user.email), users.device(user.secret, 60_000))).ok).toBe(true);
      k.clock.advanceSeconds(120);
      await expectDiagnosed(user, await users.submit(await users.aal1(user.email), users.device(user.secret, -30_000)), { cause: 'clock_skew', offsetSteps: -1, hintId: 4900003 });
    });
  });

  describe.each(DIALECTS)('hints off (%s)', (dialect) => {
    let k: TestKairos;
    beforeAll(async () => {
      k = await startKairos({ dialect, config: { selfservice: { methods: { totp: { enabled: true, config: { issuer: 'Kairos Test', diagnostics: { user_hints: false } } } } } } });
    });
    afterAll(async () => k?.close());

    it('diagnostics.user_hints=false hides the hint but never the log line, metric or audit event', async () => {
      const users = new Users(k);
      const user = await users.enrolledAndSignedIn();
      const result = await users.submit(user.token, users.device(user.secret, -150_000));
      expect(result.ok).toBe(false);
      expect(globalMessages((result as any).body).map((m: any) => m.id)).toEqual([4000008]);
      expect(diagnosisLogs(k, result.flowId)[0]).toMatchObject({ cause: 'clock_skew', offset_steps: -5, offset_seconds: -150 });
      expect(await rejectionCount(k, 'clock_skew')).toBe(1);
      const events = await k.deps.audit.list({ identityId: user.identityId, types: ['second_factor.rejected'], pageSize: 5 });
      expect(events[0]?.details.cause).toBe('clock_skew');
    });
  });

  describe.each(DIALECTS)('diagnosis off (%s)', (dialect) => {
    let k: TestKairos;
    beforeAll(async () => {
      k = await startKairos({ dialect, config: { selfservice: { methods: { totp: { enabled: true, config: { diagnostics: { enabled: false } } } } } } });
    });
    afterAll(async () => k?.close());

    it('diagnostics.enabled=false: Kratos\'s 4000008 only, and the rejection is still logged, counted and audited (cause not_diagnosed)', async () => {
      const users = new Users(k);
      const user = await users.enrolledAndSignedIn();
      const result = await users.submit(user.token, users.device(user.secret, -150_000));
      expect(globalMessages((result as any).body).map((m: any) => m.id)).toEqual([4000008]);
      expect(diagnosisLogs(k, result.flowId)[0]).toMatchObject({ cause: 'not_diagnosed', offset_steps: null, identity_id: user.identityId });
      expect(await rejectionCount(k, 'not_diagnosed')).toBe(1);
      const events = await k.deps.audit.list({ identityId: user.identityId, types: ['second_factor.rejected'], pageSize: 5 });
      expect(events[0]?.details).toMatchObject({ method: 'totp', cause: 'not_diagnosed' });
    });
  });

  /** Twenty-odd identities each register, enroll and sign in over HTTP: generous, so a loaded machine cannot fail it. */
  const POPULATION_TIMEOUT_MS = 240_000;

  describe.each(DIALECTS)('population drift (%s)', (dialect) => {
    let k: TestKairos;
    beforeAll(async () => {
      k = await startKairos({ dialect, config: { ...TOTP_ON, serve: { public: { rate_limit: { enabled: false } } } } });
    });
    afterAll(async () => k?.close());

    const warnings = () => k.logs.records().filter((r) => r.level === 40 && typeof r.estimated_server_offset_seconds === 'number');
    const ready = async () => (await fetch(`${k.adminUrl}/health/ready`)).json() as Promise<any>;

    it('many identities with scattered device skews raise no warning', async () => {
      const users = new Users(k);
      const offsetsSteps = [-6, -4, -3, -2, -1, 0, 0, 1, 2, 3, 4, 6, -5, 5, -1, 1, 0, -2, 2, 0, 3, -3];
      const enrolled = [];
      for (const _ of offsetsSteps) enrolled.push(await users.enrolledAndSignedIn());
      k.clock.advanceSeconds(300);
      for (const [i, user] of enrolled.entries()) await users.submit(user.token, users.device(user.secret, offsetsSteps[i]! * 30_000));
      expect(warnings()).toHaveLength(0);
      const health = await ready();
      expect(health.details.totp.population_drift).toMatchObject({ status: 'ok', estimated_server_offset_seconds: null });
      expect(health.details.totp.population_drift.identities).toBe(offsetsSteps.length);
    }, POPULATION_TIMEOUT_MS);

    it('many identities one step ahead: a warning names the estimated server offset; readiness does not fail', async () => {
      const users = new Users(k);
      k.clock.advanceSeconds(2 * 3600); // the scattered samples leave the window
      for (let i = 0; i < 20; i++) {
        const user = await users.enrolledAndSignedIn();
        expect((await users.submit(user.token, users.device(user.secret, 30_000))).ok).toBe(true);
      }
      const [warning] = warnings();
      expect(warning).toMatchObject({ estimated_server_offset_seconds: 30, identities: 20 });
      expect(warning!.msg).toContain('the server clock is probably about 30 s behind real time');
      const response = await fetch(`${k.adminUrl}/health/ready`);
      expect(response.status).toBe(200);
      const health = (await response.json()) as any;
      expect(health.details.totp.population_drift).toMatchObject({ status: 'suspect', estimated_server_offset_seconds: 30 });
      const metrics = await fetch(`${k.adminUrl}/metrics`).then((r) => r.text());
      expect(metrics).toMatch(/^kairos_totp_population_offset_seconds 30$/m);
    }, POPULATION_TIMEOUT_MS);

    it('another instance starting on the same database knows the population: accepted codes are stored by the statement that consumes them', async () => {
      const other = await startKairos({ dialect, clock: k.clock, database: { dsn: k.dsn, drop: async () => {} }, config: { ...TOTP_ON, serve: { public: { rate_limit: { enabled: false } } } } });
      try {
        const health = (await (await fetch(`${other.adminUrl}/health/ready`)).json()) as any;
        expect(health.details.totp.population_drift).toMatchObject({ status: 'suspect', estimated_server_offset_seconds: 30, identities: 20 });
      } finally {
        await other.close();
      }
    }, POPULATION_TIMEOUT_MS);
  });
});
