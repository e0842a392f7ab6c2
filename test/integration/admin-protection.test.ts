import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Configuration, IdentityApi, ResponseError } from '@ory/client-fetch';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { runCli } from '../support/cli.js';
import { ConfigError, loadConfig } from '../../src/config/load.js';

const KEY = 'kairos-admin-key-for-tests-0123456789';
const OTHER_KEY = 'second-admin-key-for-tests-abcdef';
const sha256 = (s: string) => 'sha256:' + createHash('sha256').update(s).digest('hex');
const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';

describe('admin API binding', () => {
  it('the admin API refuses requests without a key when bound beyond loopback: no keys, no start', () => {
    expect(() => loadConfig({ overrides: { dsn: 'memory', secrets: { default: ['x'.repeat(32)] }, serve: { admin: { host: '0.0.0.0' } } }, env: {} })).toThrow(ConfigError);
    expect(() => loadConfig({ overrides: { dsn: 'memory', secrets: { default: ['x'.repeat(32)] }, serve: { admin: { host: '0.0.0.0' } } }, env: {} })).toThrow(/serve\.admin\.api_keys/);
    // Loopback needs no key; beyond loopback a key (hashed, or from the environment) is enough.
    expect(() => loadConfig({ overrides: { dsn: 'memory', secrets: { default: ['x'.repeat(32)] } }, env: {} })).not.toThrow();
    expect(() => loadConfig({ overrides: { dsn: 'memory', secrets: { default: ['x'.repeat(32)] }, serve: { admin: { host: '0.0.0.0' } } }, env: { SERVE_ADMIN_API_KEYS: sha256(KEY) } })).not.toThrow();
  });

  it('kairos serve exits with the reason when the admin host is public and no key is set', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kairos-admin-'));
    const file = join(dir, 'kairos.yml');
    writeFileSync(file, `dsn: memory\nsecrets:\n  default: ["${'s'.repeat(32)}"]\nserve:\n  admin:\n    host: 0.0.0.0\n`);
    const run = await runCli(['serve', '-c', file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('serve.admin.api_keys');
  });
});

describe.each(DIALECTS)('admin API keys and helpdesk actions (%s)', (dialect) => {
  let k: TestKairos;
  let admin: IdentityApi;
  beforeAll(async () => {
    k = await startKairos({
      dialect,
      config: {
        serve: { admin: { host: '0.0.0.0', api_keys: [sha256(KEY), OTHER_KEY] } },
        selfservice: { methods: { totp: { enabled: true } } },
      },
    });
    admin = new IdentityApi(new Configuration({ basePath: k.adminUrl, accessToken: KEY }));
  });
  afterAll(async () => k?.close());

  it('the admin API refuses requests without a key when bound beyond loopback (401 in Kratos shape)', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer wrong-key' }, { authorization: `Basic ${KEY}` }, { authorization: 'Bearer ' }]) {
      const res = await fetch(`${k.adminUrl}/admin/identities`, { headers });
      expect(res.status).toBe(401);
      const body = await res.json();
      expect(body).toEqual({ error: { code: 401, status: 'Unauthorized', reason: expect.any(String), message: 'The request could not be authorized' } });
      expect(JSON.stringify(body)).not.toContain(KEY);
    }
    const audit = await fetch(`${k.adminUrl}/admin/audit-events`);
    expect(audit.status).toBe(401);
    // Health stays open for probes; the client with a key works.
    expect((await fetch(`${k.adminUrl}/health/alive`)).status).toBe(200);
    expect(Array.isArray(await admin.listIdentities())).toBe(true);
    const other = new IdentityApi(new Configuration({ basePath: k.adminUrl, accessToken: OTHER_KEY }));
    expect(Array.isArray(await other.listIdentities())).toBe(true);
    await expect(new IdentityApi(new Configuration({ basePath: k.adminUrl })).listIdentities()).rejects.toBeInstanceOf(ResponseError);
  });

  async function identityWithTotp(email: string) {
    return admin.createIdentity({
      createIdentityBody: {
        schema_id: 'default',
        traits: { email },
        credentials: { password: { config: { password: 'a long enough passphrase' } }, totp: { config: { totp_url: `otpauth://totp/Kairos:${email}?secret=${SECRET}&issuer=Kairos` } } } as any,
      },
    });
  }

  const eventsOf = async (identityId: string, type: string) => {
    const res = await fetch(`${k.adminUrl}/admin/audit-events?identity_id=${identityId}&type=${type}`, { headers: { authorization: `Bearer ${KEY}` } });
    return (await res.json()) as any[];
  };

  it('helpdesk: deleting TOTP records the reason (JSON body or ?reason=) and which key acted', async () => {
    const a = await identityWithTotp(`helpdesk-a-${dialect}@example.com`);
    const res = await fetch(`${k.adminUrl}/admin/identities/${a.id}/credentials/totp`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'ticket 4711: lost phone, identity checked by video call' }),
    });
    expect(res.status).toBe(204);
    expect((await admin.getIdentity({ id: a.id })).credentials?.totp).toBeUndefined();
    const [event] = await eventsOf(a.id, 'credential.deleted');
    expect(event.details).toEqual({ credential_type: 'totp', reason: 'ticket 4711: lost phone, identity checked by video call' });
    expect(event.actor).toBe(`admin:key-1:${sha256(KEY).slice(7, 15)}`);

    const b = await identityWithTotp(`helpdesk-b-${dialect}@example.com`);
    const other = new IdentityApi(new Configuration({ basePath: k.adminUrl, accessToken: OTHER_KEY }));
    const viaQuery = await fetch(`${k.adminUrl}/admin/identities/${b.id}/credentials/totp?reason=${encodeURIComponent('ticket 4712')}`, { method: 'DELETE', headers: { authorization: `Bearer ${OTHER_KEY}` } });
    expect(viaQuery.status).toBe(204);
    const [second] = await eventsOf(b.id, 'credential.deleted');
    expect(second.details.reason).toBe('ticket 4712');
    expect(second.actor).toBe(`admin:key-2:${sha256(OTHER_KEY).slice(7, 15)}`);
    expect(other).toBeDefined();
  });

  it('helpdesk: admin recovery needs a key too, and records the acting key and the reason', async () => {
    const d = await identityWithTotp(`helpdesk-d-${dialect}@example.com`);
    const body = JSON.stringify({ identity_id: d.id, reason: 'ticket 4713' });
    const refused = await fetch(`${k.adminUrl}/admin/recovery/code`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(refused.status).toBe(401);
    const ok = await fetch(`${k.adminUrl}/admin/recovery/code`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${OTHER_KEY}` }, body });
    expect(ok.status).toBe(201);
    const [event] = await eventsOf(d.id, 'recovery.requested');
    expect(event.actor).toBe(`admin:key-2:${sha256(OTHER_KEY).slice(7, 15)}`);
    expect(event.details).toMatchObject({ method: 'admin_code', reason: 'ticket 4713' });
  });

  it('helpdesk: a Kratos-compatible deletion without a reason still works and is recorded as "no reason given"', async () => {
    const c = await identityWithTotp(`helpdesk-c-${dialect}@example.com`);
    await admin.deleteIdentityCredentials({ id: c.id, type: 'totp' });
    expect((await admin.getIdentity({ id: c.id })).credentials?.totp).toBeUndefined();
    const [event] = await eventsOf(c.id, 'credential.deleted');
    expect(event.details).toEqual({ credential_type: 'totp', reason: 'no reason given' });
    expect(event.actor).toMatch(/^admin:key-1:/);
  });
});
