/**
 * `kairos doctor totp` and `kairos doctor clock` run as the real CLI (its `main`, in-process: support/cli.ts) against the database a running
 * Kairos uses, reading only; human-readable and --json output.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { SettingsFlow } from '@ory/client-fetch';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { runCli } from '../support/cli.js';
import { describeWithTool } from '../support/external-tool.js';
import { oathtoolCode } from '../support/oathtool.js';
import { confirmRecoveryCodes } from '../support/enroll.js';
import { startNtpResponder, type NtpResponder } from '../support/ntp-responder.js';
import { systemClock } from '../../src/support/clock.js';
import type { TotpParameters } from '../../src/otp/otp.js';

/** Generous so a loaded machine cannot fail it (argon2 and enrollments before the CLI runs). */
const CLI_TIMEOUT_MS = 120_000;
const PASSWORD = 'a long enough passphrase';
const SHA1: TotpParameters = { algorithm: 'SHA1', digits: 6, periodSeconds: 30 };
const SECRETS = { default: ['test-secret-default-0123456789'], cookie: ['test-secret-cookie-0123456789'], cipher: ['test-cipher-secret-0123456789abcdef0123'] };

function secretOf(flow: SettingsFlow): string {
  return (flow.ui.nodes.find((n: any) => n.attributes.id === 'totp_secret_key') as any).attributes.text.context.secret;
}

/** `kairos …` in-process (support/cli.ts): the real command tree and code, without a Node start per command. */
function kairos(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return runCli(args, { CI: '' });
}

describeWithTool('oathtool', 'oathtool', 'kairos doctor', () => {
  describe.each(DIALECTS)('%s', (dialect) => {
    let k: TestKairos;
    let dir: string;
    let configFile: string;
    let ntp: NtpResponder;
    let user: { email: string; identityId: string; oldSecret: string; secret: string };
    const atMs = () => k.clock.nowMs();

    beforeAll(async () => {
      k = await startKairos({ dialect, config: { selfservice: { methods: { totp: { enabled: true, config: { issuer: 'Old Brand' } } } } } });
      ntp = await startNtpResponder({ offsetMs: 60_000, clock: systemClock });
      dir = mkdtempSync(join(tmpdir(), 'kairos-doctor-'));
      configFile = join(dir, 'kairos.yml');
      // The operator's config: same database and keys, and the issuer renamed since the user enrolled.
      writeFileSync(
        configFile,
        stringify({
          dsn: k.dsn,
          secrets: SECRETS,
          serve: { public: { base_url: k.publicUrl + '/' } },
          selfservice: { methods: { totp: { enabled: true, config: { issuer: 'New Brand', diagnostics: { previous_secret_retention: '87600h' } } } } },
          clock: { ntp: { servers: [`127.0.0.1:${ntp.port}`], timeout: '2s' } },
        }),
      );
      // A user who re-enrolled and then typed a code with a phone 2 minutes 30 seconds behind.
      const email = `doctor-${Math.random().toString(36).slice(2, 8)}@example.com`;
      const reg = await k.frontend.createNativeRegistrationFlow();
      const registered = await k.frontend.updateRegistrationFlow({ flow: reg.id, updateRegistrationFlowBody: { method: 'password', traits: { email }, password: PASSWORD } });
      const token = registered.session_token!;
      const enroll = async () => {
        const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: token });
        const secret = secretOf(flow);
        const saved = await k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: token, updateSettingsFlowBody: { method: 'totp', totp_code: oathtoolCode(secret, SHA1, atMs()) } });
        if (saved.state !== 'success') await confirmRecoveryCodes(k, flow.id, token);
        return secret;
      };
      const oldSecret = await enroll();
      await k.identityApi.deleteIdentityCredentials({ id: registered.identity.id, type: 'totp' });
      const secret = await enroll();
      const login = await k.frontend.createNativeLoginFlow();
      const aal1 = await k.frontend.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'password', identifier: email, password: PASSWORD } });
      k.clock.advanceSeconds(30);
      const aal2 = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: aal1.session_token! });
      await k.frontend.updateLoginFlow({ flow: aal2.id, xSessionToken: aal1.session_token!, updateLoginFlowBody: { method: 'totp', totp_code: oathtoolCode(secret, SHA1, atMs() - 150_000) } }).catch(() => undefined);
      user = { email, identityId: registered.identity.id, oldSecret, secret };
    });
    afterAll(async () => {
      await ntp?.close();
      await k?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }, CLI_TIMEOUT_MS);

    it('doctor totp --json: entry, parameters, issuer change, previous secrets (dates only), lockout, rejections, and a code diagnosis', async () => {
      const code = oathtoolCode(user.secret, SHA1, atMs() - 150_000);
      const { stdout, code: exit } = await kairos(['doctor', 'totp', user.email, '-c', configFile, '--code', code, '--at', new Date(atMs()).toISOString(), '--json']);
      expect(exit).toBe(0);
      const report = JSON.parse(stdout);
      expect(report.identity.id).toBe(user.identityId);
      expect(report.totp).toMatchObject({ issuer: 'Old Brand', account_name: user.email, algorithm: 'SHA1', digits: 6, period_seconds: 30, issuer_changed: true, current_issuer: 'New Brand', drift: { steps: 0 } });
      expect(report.totp.previous_secrets).toHaveLength(1);
      expect(Object.keys(report.totp.previous_secrets[0]).sort()).toEqual(['enrolled_at', 'retired_at']);
      expect(report.totp.recent_rejections[0]).toMatchObject({ cause: 'clock_skew', offset_steps: -5, offset_seconds: -150 });
      expect(report.lockout).toMatchObject({ state: 'none', consecutive_failures: 1, max_consecutive_failures: 100 });
      expect(report.diagnosis).toMatchObject({ cause: 'clock_skew', offsetSteps: -5, offsetSeconds: -150 });
      expect(report.diagnosis.summary).toContain('about 2 minutes 30 seconds behind');
      expect(stdout).not.toContain(user.secret);
      expect(stdout).not.toContain(user.oldSecret);
      expect(stdout).not.toContain(`"${code}"`);
    }, CLI_TIMEOUT_MS);

    it('doctor totp (human): by identity id, with a code from the old entry', async () => {
      const old = oathtoolCode(user.oldSecret, SHA1, atMs());
      const { stdout, code: exit } = await kairos(['doctor', 'totp', user.identityId, '-c', configFile, '--code', old, '--at', String(atMs() / 1000)]);
      expect(exit).toBe(0);
      expect(stdout).toContain(`"Old Brand (${user.email})"`);
      expect(stdout).toMatch(/issuer changed yes: enrolled as "Old Brand", now "New Brand"/);
      expect(stdout).toContain('SHA1, 6 digits, 30 s period');
      expect(stdout).toMatch(/previous\s+enrolled \d{4}-/);
      expect(stdout).toMatch(/lockout\s+none, 1 consecutive failures \(hard lock at 100\)/);
      expect(stdout).toMatch(/rejections\s+.*clock_skew \(-5 steps, -150 s\)/);
      expect(stdout).toMatch(/code\s+at .*previous_secret: .*delete the old entry/);
      expect(stdout).not.toContain(old);
    }, CLI_TIMEOUT_MS);

    it('doctor totp: an unknown identity exits 1', async () => {
      const { stderr, code } = await kairos(['doctor', 'totp', 'nobody@example.com', '-c', configFile]);
      expect(code).toBe(1);
      expect(stderr).toContain('no identity matches');
    }, CLI_TIMEOUT_MS);

    it('doctor clock: server time, the NTP offset from a responder 60 s ahead, and the population estimate', async () => {
      const json = await kairos(['doctor', 'clock', '-c', configFile, '--json']);
      expect(json.code).toBe(0);
      const report = JSON.parse(json.stdout);
      expect(Date.parse(report.server_time)).toBeGreaterThan(0);
      expect(report.ntp.status).toBe('skewed');
      expect(report.ntp.lastOffsetMs).toBeGreaterThan(59_000);
      expect(report.ntp.lastOffsetMs).toBeLessThan(61_000);
      expect(report.population).toMatchObject({ min_identities: 20, estimated_server_offset_seconds: null });
      const human = await kairos(['doctor', 'clock', '-c', configFile]);
      expect(human.stdout).toMatch(/server time\s+\d{4}-/);
      expect(human.stdout).toMatch(/ntp offset\s+(59|60)\.\d+ s \(server behind\)/);
      expect(human.stdout).toMatch(/population\s+\d+ identities \(need 20\)/);
    }, CLI_TIMEOUT_MS);
  });
});
