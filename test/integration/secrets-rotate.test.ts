/**
 * `kairos secrets rotate` end to end: prepend a new `secrets.cipher` key, run the real CLI, drop the old key, and every
 * user still logs in with TOTP (and a pending enrollment still completes).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SettingsFlow } from '@ory/client-fetch';
import { createTestDatabase, DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { runCli } from '../support/cli.js';
import { totpCodeNow } from '../support/totp.js';
import { ManualClock } from '../../src/support/clock.js';
import { SecretCipher } from '../../src/crypto/secret-cipher.js';
import { cryptoRandom } from '../../src/support/random.js';
import { confirmRecoveryCodes, submitTotpEnrollment } from '../support/enroll.js';

const PASSWORD = 'a long enough passphrase';
const OLD_KEY = 'old-cipher-key-0123456789abcdef0123456789';
const NEW_KEY = 'new-cipher-key-fedcba9876543210fedcba9876';
const secretsWith = (cipher: string[]) => ({ default: ['test-secret-default-0123456789'], cookie: ['test-secret-cookie-0123456789'], cipher });
const configWith = (cipher: string[]) => ({ selfservice: { methods: { totp: { enabled: true } } }, secrets: secretsWith(cipher) });

const secretOf = (flow: SettingsFlow): string => (flow.ui.nodes.find((n: any) => n.attributes.id === 'totp_secret_key') as any).attributes.text.context.secret;
const codeNow = (k: TestKairos, secret: string) => totpCodeNow(k, secret);

describe.each(DIALECTS)('kairos secrets rotate (%s)', (dialect) => {
  it('re-encrypts every TOTP secret with the first key in batches, is idempotent, and users log in after the old key is removed', async () => {
    const database = await createTestDatabase(dialect);
    const clock = new ManualClock();
    const dir = mkdtempSync(join(tmpdir(), 'kairos-rotate-'));
    let server: TestKairos | null = await startKairos({ dialect, database, clock, config: configWith([OLD_KEY]) });
    try {
      const users: { email: string; secret: string }[] = [];
      for (let i = 0; i < 5; i++) {
        const email = `rotate${i}-${Math.random().toString(36).slice(2, 8)}@example.com`;
        const reg = await server.frontend.createNativeRegistrationFlow();
        const done = await server.frontend.updateRegistrationFlow({ flow: reg.id, updateRegistrationFlowBody: { method: 'password', traits: { email }, password: PASSWORD } });
        const settings = await server.frontend.createNativeSettingsFlow({ xSessionToken: done.session_token! });
        const secret = secretOf(settings);
        expect((await submitTotpEnrollment(server, { flowId: settings.id, token: done.session_token!, code: codeNow(server, secret) })).state).toBe('success');
        users.push({ email, secret });
      }
      // Enrollments in progress: one flow showing the QR code (it stores no secret, only an offer: nothing to
      // re-encrypt), one whose code was right and whose secret and recovery codes wait, encrypted, for confirmation.
      const pendingUsers = [];
      for (const name of ['scanning', 'confirming']) {
        const reg = await server.frontend.createNativeRegistrationFlow();
        const email = `${name}-${Math.random().toString(36).slice(2, 8)}@example.com`;
        const registered = await server.frontend.updateRegistrationFlow({ flow: reg.id, updateRegistrationFlowBody: { method: 'password', traits: { email }, password: PASSWORD } });
        const flow = await server.frontend.createNativeSettingsFlow({ xSessionToken: registered.session_token! });
        pendingUsers.push({ email, token: registered.session_token!, flowId: flow.id, secret: secretOf(flow) });
      }
      const confirming = pendingUsers[1]!;
      const shown = await server.frontend.updateSettingsFlow({ flow: confirming.flowId, xSessionToken: confirming.token, updateSettingsFlowBody: { method: 'totp', totp_code: codeNow(server, confirming.secret) } });
      // Recovery codes follow TOTP by default, so the right code shows them and the enrollment waits.
      expect(shown.state).not.toBe('success');
      await server.close();
      server = null;

      const file = join(dir, 'kairos.yml');
      writeFileSync(file, JSON.stringify({ dsn: database.dsn, ...configWith([NEW_KEY, OLD_KEY]), log: { level: 'error' } }));
      const cli = async (args: string[]) => {
        const result = await runCli(['secrets', 'rotate', '-c', file, ...args]);
        expect(result.code, result.stderr).toBe(0);
        return result;
      };
      const first = await cli(['--batch-size', '2']);
      expect(first.stdout).toContain('totp_credentials.secret_ciphertext: 5 re-encrypted, 0 undecryptable (5 rows scanned)');
      // The confirming flow's secret and recovery codes (the scanning flow has none stored).
      expect(first.stdout).toMatch(/selfservice_flows\.internal \(pending enrollments\): 2 re-encrypted, 0 undecryptable/);
      const newOnly = new SecretCipher([NEW_KEY], cryptoRandom);
      expect(first.stdout).toContain(`rotated 7 secret(s) to key ${newOnly.primaryKeyId}`);
      const again = await cli(['--batch-size', '2']);
      expect(again.stdout).toContain('totp_credentials.secret_ciphertext: 0 re-encrypted, 0 undecryptable (5 rows scanned)');
      expect(again.stdout).toMatch(/selfservice_flows\.internal \(pending enrollments\): 0 re-encrypted, 0 undecryptable/);
      expect(again.stdout).toContain('rotated 0 secret(s)');

      // The old key is gone from the config: the new server can only read what was re-encrypted.
      server = await startKairos({ dialect, database, clock, config: configWith([NEW_KEY]) });
      const rows = await server.deps.db.selectFrom('totp_credentials').selectAll().execute();
      for (const flow of await server.deps.db.selectFrom('selfservice_flows').select(['id', 'internal']).execute()) {
        const internal = JSON.parse(flow.internal);
        for (const token of [internal.totp_pending?.secret_ciphertext, internal.lookup_secret_pending?.ciphertext]) if (token) expect(newOnly.isEncryptedWithPrimary(token)).toBe(true);
      }
      expect(rows).toHaveLength(5);
      for (const row of rows) expect(newOnly.isEncryptedWithPrimary(row.secret_ciphertext)).toBe(true);
      clock.advanceSeconds(30);
      for (const user of users) {
        const login = await server.frontend.createNativeLoginFlow();
        const first = await server.frontend.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'password', identifier: user.email, password: PASSWORD } });
        const aal2 = await server.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: first.session_token! });
        const ok = await server.frontend.updateLoginFlow({ flow: aal2.id, xSessionToken: first.session_token!, updateLoginFlowBody: { method: 'totp', totp_code: codeNow(server, user.secret) } });
        expect(ok.session.authenticator_assurance_level).toBe('aal2');
      }
      // The scanning flow's offer was computed with the old key, which is gone: the flow now shows the secret the new
      // key computes (a secret shown before the rotation is confirmed only while the old key is still listed, see
      // test/integration/totp-enrollment-offer.test.ts), and that one enrolls.
      const scanning = pendingUsers[0]!;
      const flowAfter = await server.frontend.getSettingsFlow({ id: scanning.flowId, xSessionToken: scanning.token });
      expect(secretOf(flowAfter)).not.toBe(scanning.secret);
      expect((await submitTotpEnrollment(server, { flowId: flowAfter.id, token: scanning.token, code: codeNow(server, secretOf(flowAfter)) })).state).toBe('success');
      await confirmRecoveryCodes(server, confirming.flowId, confirming.token);
      const enrolledIdentities = await server.deps.db.selectFrom('totp_credentials').select('identity_id').execute();
      expect(enrolledIdentities).toHaveLength(7);
    } finally {
      await server?.close();
      await database.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it('leaves a secret no configured key decrypts unchanged and exits 1', async () => {
    const database = await createTestDatabase(dialect);
    const dir = mkdtempSync(join(tmpdir(), 'kairos-rotate-'));
    const server = await startKairos({ dialect, database, config: configWith([OLD_KEY]) });
    try {
      const reg = await server.frontend.createNativeRegistrationFlow();
      const done = await server.frontend.updateRegistrationFlow({ flow: reg.id, updateRegistrationFlowBody: { method: 'password', traits: { email: `lost-${Math.random().toString(36).slice(2, 8)}@example.com` }, password: PASSWORD } });
      const settings = await server.frontend.createNativeSettingsFlow({ xSessionToken: done.session_token! });
      expect((await submitTotpEnrollment(server, { flowId: settings.id, token: done.session_token!, code: codeNow(server, secretOf(settings)) })).state).toBe('success');
      const before = await server.deps.db.selectFrom('totp_credentials').selectAll().executeTakeFirstOrThrow();
      const file = join(dir, 'kairos.yml');
      // The old key was dropped before rotating: nothing can be decrypted.
      writeFileSync(file, JSON.stringify({ dsn: database.dsn, ...configWith([NEW_KEY]) }));
      const failure = await runCli(['secrets', 'rotate', '-c', file]);
      expect(failure.code).toBe(1);
      expect(failure.stdout).toContain('totp_credentials.secret_ciphertext: 0 re-encrypted, 1 undecryptable (1 rows scanned)');
      const after = await server.deps.db.selectFrom('totp_credentials').selectAll().executeTakeFirstOrThrow();
      expect(after.secret_ciphertext).toBe(before.secret_ciphertext);
    } finally {
      await server.close();
      await database.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
