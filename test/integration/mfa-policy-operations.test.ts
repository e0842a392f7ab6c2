/**
 * MFA policy by role, for operators: an invalid rule stops the server at startup (exit 2, naming the rule and the
 * problem), `kairos policy explain` says which rule applies and why, and the Prometheus gauges count identities
 * enrolled / in grace / overdue per rule. Both dialects; the CLI runs in-process through its `main(argv)`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, TEST_HASHERS, type TestKairos } from '../support/harness.js';
import { runCli } from '../support/cli.js';
import { writeConfig } from '../support/process.js';
import { loginWithPassword } from '../support/users.js';
import { execFile } from 'node:child_process';
import { KAIROS_BIN } from '../support/build.js';

const PASSWORD = 'a long enough passphrase';
const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const SECRETS = { default: ['test-secret-default-0123456789'], cookie: ['test-secret-cookie-0123456789'], cipher: ['test-cipher-secret-0123456789abcdef0123'] };
const MFA = {
  policies: [
    { id: 'admins', match: { metadata_admin: { role: 'admin' } }, required: ['totp'], allowed_methods: ['totp', 'lookup_secret'] },
    { id: 'staff', match: { metadata_public: { team: ['ops', 'dev'] } }, required: 'any', enrollment_grace: { duration: '7d', logins: 2 } },
  ],
};
const METHODS = { totp: { enabled: true } };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kairos-policy-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('MFA policy configuration errors', () => {
  it('an invalid rule stops kairos serve with exit 2, naming the rule and the problem', async () => {
    const file = writeConfig(dir, 'bad.yml', {
      dsn: `sqlite://${join(dir, 'bad.sqlite')}`,
      secrets: SECRETS,
      selfservice: {
        methods: METHODS,
        mfa: { policies: [{ id: 'admins', match: { metadata_admin: { role: 'admin' } }, required: ['webauthn'] }, { id: 'ops', required: 'any', remember_device: 'forever' }] },
      },
    });
    const run = await runCli(['serve', '-c', file], { DEV: undefined });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('selfservice.mfa.policies[0] (admins): required: method "webauthn" is not enabled (selfservice.methods.webauthn.enabled)');
    expect(run.stderr).toContain('selfservice.mfa.policies[1] (ops): remember_device: must be off or a positive duration like 720h or 30d');
    expect(run.stderr).not.toMatch(/^\s+at /m);
  });

  it('the built binary refuses it the same way (exit 2, one line per problem)', async () => {
    const file = writeConfig(dir, 'bad-bin.yml', {
      dsn: `sqlite://${join(dir, 'bad-bin.sqlite')}`,
      secrets: SECRETS,
      selfservice: { methods: METHODS, mfa: { policies: [{ id: 'ops', required: ['sms'] }] } },
    });
    const run = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
      execFile(process.execPath, [KAIROS_BIN, 'serve', '-c', file], { encoding: 'utf8', env: { ...process.env, DEV: '', DSN: '', NODE_NO_WARNINGS: '1' }, timeout: 120_000 }, (error, _stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr }),
      ),
    );
    expect(run.code).toBe(2);
    // SMS codes need code.mfa_enabled and the courier's sms channel; the line says so.
    expect(run.stderr).toContain('selfservice.mfa.policies[0] (ops): required: method "sms" is not enabled (selfservice.methods.code.mfa_enabled and a courier.channels entry with id sms)');
  });
});

describe.each(DIALECTS)('MFA policy for operators (%s)', (dialect) => {
  let k: TestKairos;
  let config: string;
  let counter = 0;
  beforeAll(async () => {
    k = await startKairos({ dialect, config: { selfservice: { methods: METHODS, mfa: MFA } } });
    config = writeConfig(dir, `explain-${dialect}.yml`, { dsn: k.dsn, secrets: SECRETS, hashers: TEST_HASHERS, selfservice: { methods: METHODS, mfa: MFA } });
  });
  afterAll(async () => k?.close());

  /** The CLI evaluates at the server's (injected) time. */
  const at = () => new Date(k.clock.nowMs()).toISOString();

  async function identity(o: { metadataPublic?: unknown; metadataAdmin?: unknown; totp?: boolean; state?: 'inactive' } = {}) {
    const email = `ops${++counter}-${dialect}@example.com`;
    const credentials: Record<string, unknown> = { password: { config: { password: PASSWORD } } };
    if (o.totp) credentials.totp = { config: { totp_url: `otpauth://totp/Kairos:${email}?secret=${SECRET}&issuer=Kairos` } };
    const response = await fetch(`${k.adminUrl}/admin/identities`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ schema_id: 'default', traits: { email }, metadata_public: o.metadataPublic, metadata_admin: o.metadataAdmin, credentials, state: o.state ?? 'active' }),
    });
    expect(response.status).toBe(201);
    return { email, id: ((await response.json()) as any).id as string };
  }

  it('kairos policy explain: the rule, why (each rule checked in order), what it requires, and the grace left', async () => {
    const user = await identity({ metadataPublic: { team: 'dev' } });
    await loginWithPassword(k, user.email, PASSWORD);
    const json = await runCli(['policy', 'explain', user.email, '-c', config, '--json', '--at', at()], { DEV: undefined });
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.rule).toMatchObject({ rule_id: 'staff', matched_by: ['metadata_public.team in ["ops", "dev"]'], required: 'any' });
    expect(report.rules_checked).toEqual([
      { rule_id: 'admins', matched: false, conditions: [{ condition: 'metadata_admin.role = "admin"', holds: false }] },
      { rule_id: 'staff', matched: true, conditions: [{ condition: 'metadata_public.team in ["ops", "dev"]', holds: true }] },
    ]);
    expect(report).toMatchObject({ status: 'grace', logins_under_rule: 1, logins_left: 1, enrollment_deadline: new Date(k.clock.nowMs() + 7 * 86_400_000).toISOString() });

    const text = await runCli(['policy', 'explain', user.id, '-c', config, '--at', at()], { DEV: undefined });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^rule\s+staff$/m);
    expect(text.stdout).toMatch(/^why\s+metadata_public\.team in \["ops", "dev"\]$/m);
    expect(text.stdout).toMatch(/2\. staff\s+applies/);
    expect(text.stdout).toMatch(/^grace\s+7d from when the rule first applied or 2 sign-ins$/m);
    expect(text.stdout).toMatch(/^status\s+grace, deadline .*, 1 sign-ins left$/m);

    const admin = await identity({ metadataAdmin: { role: 'admin' }, totp: true });
    const adminReport = JSON.parse((await runCli(['policy', 'explain', admin.email, '-c', config, '--json'], { DEV: undefined })).stdout);
    expect(adminReport).toMatchObject({ status: 'enrolled', second_factors: [{ method: 'totp', allowed: true, accepted: true }] });
    const missing = await runCli(['policy', 'explain', 'nobody@example.com', '-c', config], { DEV: undefined });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no identity matches "nobody@example.com"');
  });

  it('Prometheus gauges count active identities per rule: enrolled, in grace, overdue, not required', async () => {
    // The scrape is cached for 30 s: count a fresh state.
    k.clock.advanceMs(60_000);
    const before = await gauges();
    await identity({ metadataAdmin: { role: 'admin' }, totp: true }); // admins: enrolled
    await identity({ metadataAdmin: { role: 'admin' } }); // admins: overdue (no grace)
    await identity({ metadataPublic: { team: 'ops' } }); // staff: grace not started yet
    const overdue = await identity({ metadataPublic: { team: 'ops' } });
    for (let i = 0; i < 3; i++) await loginWithPassword(k, overdue.email, PASSWORD); // staff: third sign-in, overdue
    await identity(); // default: not_required
    await identity({ metadataAdmin: { role: 'admin' }, state: 'inactive' }); // not counted
    k.clock.advanceMs(60_000);
    const after = await gauges();
    const delta = (rule: string, status: string) => (after[`${rule}/${status}`] ?? 0) - (before[`${rule}/${status}`] ?? 0);
    expect([delta('admins', 'enrolled'), delta('admins', 'overdue'), delta('admins', 'grace')]).toEqual([1, 1, 0]);
    expect([delta('staff', 'grace'), delta('staff', 'overdue'), delta('staff', 'enrolled')]).toEqual([1, 1, 0]);
    expect(delta('default', 'not_required')).toBe(1);
  });

  async function gauges(): Promise<Record<string, number>> {
    const text = await (await fetch(`${k.adminUrl}/metrics`)).text();
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^kairos_mfa_policy_identities\{rule="([^"]+)",status="([^"]+)"\} (\d+)$/gm)) out[`${m[1]}/${m[2]}`] = Number(m[3]);
    expect(Object.keys(out).length).toBeGreaterThan(0);
    return out;
  }
});
