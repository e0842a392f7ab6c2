/**
 * Threat: an attacker (or a flaky client) submits one intercepted TOTP code to several instances at once, hoping each
 * instance checks replay only in its own memory. Two real `kairos serve` processes share one PostgreSQL schema; the
 * conditional UPDATE on `last_used_step` must let exactly one submission through.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Configuration, FrontendApi } from '@ory/client-fetch';
import { createTestDatabase, DIALECTS, freePort, TEST_HASHERS } from '../support/harness.js';
import { spawnKairos, writeConfig, type KairosProcess } from '../support/process.js';
import { openStorage } from '../../src/storage/db.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { decodeBase32, timeStep, totpCodeAt, type TotpParameters } from '../../src/otp/otp.js';

const PASSWORD = 'a long enough passphrase';
const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const SHA1: TotpParameters = { algorithm: 'SHA1', digits: 6, periodSeconds: 30 };

describe.skipIf(!DIALECTS.includes('postgres'))('two server processes sharing PostgreSQL (skipped only when KAIROS_TEST_DIALECTS leaves PostgreSQL out)', () => {
  it('a TOTP code is accepted once across two server instances sharing PostgreSQL', async () => {
    const database = await createTestDatabase('postgres');
    const dir = mkdtempSync(join(tmpdir(), 'kairos-two-'));
    const processes: KairosProcess[] = [];
    try {
      const storage = openStorage(database.dsn);
      await migrateToLatest(storage);
      await storage.close();
      // Both processes start at once (each takes seconds to boot on a busy machine).
      const ports = new Set<number>();
      while (ports.size < 4) ports.add(await freePort());
      const [aPublic, aAdmin, bPublic, bAdmin] = [...ports] as [number, number, number, number];
      const instances = await Promise.all(
        [['a', aPublic, aAdmin], ['b', bPublic, bAdmin]].map(async ([name, publicPort, adminPort]) => {
          const file = writeConfig(dir, `${name}.yml`, {
            dsn: database.dsn,
            serve: { public: { port: publicPort, base_url: `http://127.0.0.1:${publicPort}/`, rate_limit: { enabled: false } }, admin: { port: adminPort } },
            secrets: { default: ['test-secret-default-0123456789'], cipher: ['test-cipher-secret-0123456789abcdef0123'] },
            selfservice: { methods: { totp: { enabled: true } } },
            hashers: TEST_HASHERS,
          });
          const child = spawnKairos(['serve', '-c', file]);
          processes.push(child);
          await child.waitFor(/kairos is listening/);
          const publicUrl = `http://127.0.0.1:${publicPort}`;
          return { publicUrl, adminUrl: `http://127.0.0.1:${adminPort}`, frontend: new FrontendApi(new Configuration({ basePath: publicUrl })) };
        }),
      );
      const [a, b] = instances as [(typeof instances)[0], (typeof instances)[0]];

      const email = 'two-instances@example.com';
      const created = await fetch(`${a.adminUrl}/admin/identities`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          schema_id: 'default',
          traits: { email },
          credentials: { password: { config: { password: PASSWORD } }, totp: { config: { totp_url: `otpauth://totp/Acme:${email}?secret=${SECRET}&issuer=Acme` } } },
        }),
      });
      expect(created.status).toBe(201);

      // Three pending aal2 logins on each instance.
      const pending: { instance: typeof a; token: string; flowId: string }[] = [];
      for (const instance of [a, a, a, b, b, b]) {
        const login = await instance.frontend.createNativeLoginFlow();
        const first = await instance.frontend.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'password', identifier: email, password: PASSWORD } });
        const flow = await instance.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: first.session_token! });
        pending.push({ instance, token: first.session_token!, flowId: flow.id });
      }

      // Real processes run on real time; the ±1 step window covers a step boundary between here and the check.
      const code = totpCodeAt(decodeBase32(SECRET), SHA1, timeStep(Date.now(), SHA1.periodSeconds));
      const statuses = await Promise.all(
        pending.map(async (p) => {
          const response = await fetch(`${p.instance.publicUrl}/self-service/login?flow=${p.flowId}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-session-token': p.token },
            body: JSON.stringify({ method: 'totp', totp_code: code }),
          });
          return response.status;
        }),
      );
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 400)).toHaveLength(5);
      // Exactly one session became aal2, whichever instance served it.
      const levels = await Promise.all(
        pending.map(async (p) => (await fetch(`${p.instance.publicUrl}/sessions/whoami`, { headers: { 'x-session-token': p.token } })).status),
      );
      expect(levels.filter((s) => s === 200)).toHaveLength(1);
      // Both shut down cleanly.
      expect(await Promise.all(processes.map((child) => child.stop()))).toEqual([0, 0]);
    } catch (err) {
      for (const child of processes) console.error(`kairos process output:\n${child.output()}`);
      throw err;
    } finally {
      await Promise.all(processes.map((child) => child.stop()));
      await database.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
