import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { SHA1, totpCodeNow } from '../support/totp.js';
import { loginWithPassword, registerWithPassword } from '../support/users.js';
import { errorBody, messageIds, secretOf } from '../support/flows.js';
import { ManualClock } from '../../src/support/clock.js';
import { decodeBase32, type TotpParameters } from '../../src/otp/otp.js';

const PASSWORD = 'a long enough passphrase';
const TOTP_ON = { selfservice: { methods: { totp: { enabled: true, config: { issuer: 'Kairos Test' } } } } };

const codeNow = totpCodeNow;

describe.each(DIALECTS)('TOTP (%s)', (dialect) => {
  let k: TestKairos;
  let counter = 0;
  beforeAll(async () => {
    k = await startKairos({ dialect, config: TOTP_ON });
  });
  afterAll(async () => k?.close());

  async function register(server: TestKairos = k) {
    const email = `user${++counter}-${Math.random().toString(36).slice(2, 8)}@example.com`;
    return registerWithPassword(server, email, PASSWORD);
  }

  const passwordLogin = (email: string, server: TestKairos = k) => loginWithPassword(server, email, PASSWORD);

  async function enroll(token: string, server: TestKairos = k, parameters: TotpParameters = SHA1) {
    const flow = await server.frontend.createNativeSettingsFlow({ xSessionToken: token });
    const secret = secretOf(flow);
    let saved = await server.frontend.updateSettingsFlow({
      flow: flow.id,
      xSessionToken: token,
      updateSettingsFlowBody: { method: 'totp', totp_code: codeNow(server, secret, parameters) },
    });
    if (saved.state !== 'success') {
      // require_recovery_codes (the default once lookup secrets follow TOTP): the right code shows recovery codes,
      // and only their acknowledged confirmation enrolls (test/integration/lookup-secret.test.ts covers that step).
      expect(saved.ui.nodes.some((n: any) => n.attributes.name === 'lookup_secret_confirm')).toBe(true);
      saved = await server.frontend.updateSettingsFlow({
        flow: flow.id,
        xSessionToken: token,
        updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_confirm: true, transient_payload: { lookup_secret_acknowledged: true } },
      });
    }
    return { secret, flow: saved };
  }

  async function secondFactor(token: string, code: string, server: TestKairos = k) {
    const flow = await server.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: token });
    return server.frontend.updateLoginFlow({ flow: flow.id, xSessionToken: token, updateLoginFlowBody: { method: 'totp', totp_code: code } });
  }

  it('enrolls, makes the session aal2, and requires the second factor at the next login', async () => {
    const user = await register();
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    const names = settings.ui.nodes.filter((n: any) => n.group === 'totp').map((n: any) => n.attributes.name ?? n.attributes.id);
    expect(names).toEqual(['totp_qr', 'totp_secret_key', 'totp_code', 'method']);
    const qr = settings.ui.nodes.find((n: any) => n.attributes.id === 'totp_qr') as any;
    expect(qr.attributes.src).toMatch(/^data:image\/png;base64,/);
    expect(qr.meta.label.id).toBe(1050005);

    const { secret, flow } = await enroll(user.token);
    expect(flow.state).toBe('success');
    expect(messageIds(flow)).toContain(1050001);
    expect(flow.ui.nodes.some((n: any) => n.attributes.name === 'totp_unlink')).toBe(true);
    const session = await k.frontend.toSession({ xSessionToken: user.token });
    expect(session.authenticator_assurance_level).toBe('aal2');
    expect(session.authentication_methods?.map((m) => m.method)).toEqual(['password', 'totp']);

    await k.frontend.performNativeLogout({ performNativeLogoutBody: { session_token: user.token } });
    const first = await passwordLogin(user.email);
    expect(first.session.authenticator_assurance_level).toBe('aal1');
    const whoami = await errorBody(k.frontend.toSession({ xSessionToken: first.session_token }));
    expect(whoami.status).toBe(403);
    expect(whoami.body.error.id).toBe('session_aal2_required');

    const loginFlow = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: first.session_token });
    expect(loginFlow.ui.nodes.filter((n: any) => n.group === 'totp').map((n: any) => n.attributes.name)).toEqual(['totp_code', 'method']);
    k.clock.advanceSeconds(30);
    const second = await k.frontend.updateLoginFlow({
      flow: loginFlow.id,
      xSessionToken: first.session_token,
      updateLoginFlowBody: { method: 'totp', totp_code: codeNow(k, secret) },
    });
    expect(second.session.id).toBe(first.session.id);
    expect(second.session.authenticator_assurance_level).toBe('aal2');
    expect(second.session.authentication_methods?.map((m) => m.method)).toEqual(['password', 'totp']);
  });

  it('rejects a wrong code with 4000008', async () => {
    const user = await register();
    const { secret } = await enroll(user.token);
    const first = await passwordLogin(user.email);
    k.clock.advanceSeconds(30);
    const right = codeNow(k, secret);
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    const { status, body } = await errorBody(secondFactor(first.session_token!, wrong));
    expect(status).toBe(400);
    expect(messageIds(body)).toContain(4000008);
  });

  it('refuses a wrong code at enrollment with 4000008 on totp_code, and a missing one with 4000002', async () => {
    const user = await register();
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    const right = codeNow(k, secretOf(flow));
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    const rejected = await errorBody(k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'totp', totp_code: wrong } }));
    expect(rejected.status).toBe(400);
    const codeNode = rejected.body.ui.nodes.find((n: any) => n.attributes.name === 'totp_code');
    expect(codeNode.messages.map((m: any) => m.id)).toEqual([4000008]);
    const missing = await errorBody(k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'totp' } }));
    expect(messageIds(missing.body)).toContain(4000002);
  });

  it('a TOTP code is accepted once (replay of a used code on another pending login is refused)', async () => {
    const user = await register();
    const { secret } = await enroll(user.token);
    const a = await passwordLogin(user.email);
    const b = await passwordLogin(user.email);
    k.clock.advanceSeconds(30);
    const code = codeNow(k, secret);
    const ok = await secondFactor(a.session_token!, code);
    expect(ok.session.authenticator_assurance_level).toBe('aal2');
    const replay = await errorBody(secondFactor(b.session_token!, code));
    expect(replay.status).toBe(400);
    expect(messageIds(replay.body)).toContain(4000008);
  });

  it('the enrollment code cannot be replayed to log in', async () => {
    const user = await register();
    const { secret } = await enroll(user.token);
    const code = codeNow(k, secret);
    const a = await passwordLogin(user.email);
    const replay = await errorBody(secondFactor(a.session_token!, code));
    expect(messageIds(replay.body)).toContain(4000008);
  });

  it('concurrent submissions of one code give exactly one success', async () => {
    const user = await register();
    const { secret } = await enroll(user.token);
    const logins = await Promise.all([1, 2, 3, 4].map(() => passwordLogin(user.email)));
    k.clock.advanceSeconds(30);
    const code = codeNow(k, secret);
    const results = await Promise.allSettled(logins.map((l) => secondFactor(l.session_token!, code)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('the sixth wrong code on one pending login is refused even when correct', async () => {
    const user = await register();
    const { secret } = await enroll(user.token);
    const first = await passwordLogin(user.email);
    const token = first.session_token!;
    const flow = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: token });
    k.clock.advanceSeconds(30);
    const right = codeNow(k, secret);
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    for (let i = 0; i < 5; i++) {
      const r = await errorBody(k.frontend.updateLoginFlow({ flow: flow.id, xSessionToken: token, updateLoginFlowBody: { method: 'totp', totp_code: wrong } }));
      expect(messageIds(r.body)).toContain(4000008);
    }
    const sixth = await errorBody(k.frontend.updateLoginFlow({ flow: flow.id, xSessionToken: token, updateLoginFlowBody: { method: 'totp', totp_code: right } }));
    expect(sixth.status).toBe(400);
    expect(sixth.body.ui.messages.map((m: any) => m.text)).toContain('Too many wrong codes. Sign in again.');
    expect((await errorBody(k.frontend.toSession({ xSessionToken: token }))).body.error.id).toBe('session_aal2_required');
    // A fresh flow still works: the budget is per pending login.
    // (after the per-identity delay that five consecutive failures start; see mfa-lockout.test.ts)
    k.clock.advanceSeconds(2);
    const ok = await secondFactor(token, right);
    expect(ok.session.authenticator_assurance_level).toBe('aal2');
  });

  it('re-rendering the settings flow shows the same secret', async () => {
    const user = await register();
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    const again = await k.frontend.getSettingsFlow({ id: flow.id, xSessionToken: user.token });
    expect(secretOf(again)).toBe(secretOf(flow));
    // A failed submission re-renders too, and keeps the secret.
    const failed = await errorBody(k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'totp', totp_code: '000000x' } }));
    expect(secretOf(failed.body)).toBe(secretOf(flow));
    const other = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    expect(secretOf(other)).not.toBe(secretOf(flow));
  });

  it('unlinking needs a valid code (Kratos #2450), then re-enrollment uses a new secret and the old one fails', async () => {
    const user = await register();
    const { secret: oldSecret } = await enroll(user.token);
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    const missing = await errorBody(k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'totp', totp_unlink: true } }));
    expect(messageIds(missing.body)).toContain(4000002);
    k.clock.advanceSeconds(30);
    const right = codeNow(k, oldSecret);
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    const rejected = await errorBody(k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'totp', totp_unlink: true, totp_code: wrong } }));
    expect(messageIds(rejected.body)).toContain(4000008);
    expect((await k.identityApi.getIdentity({ id: user.identityId, includeCredential: ['totp'] })).credentials?.totp).toBeDefined();

    const unlinked = await k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'totp', totp_unlink: true, totp_code: right } });
    expect(unlinked.state).toBe('success');
    expect((await k.identityApi.getIdentity({ id: user.identityId })).credentials?.totp).toBeUndefined();

    const { secret: newSecret } = await enroll(user.token);
    expect(newSecret).not.toBe(oldSecret);
    const a = await passwordLogin(user.email);
    k.clock.advanceSeconds(30);
    expect(messageIds((await errorBody(secondFactor(a.session_token!, codeNow(k, oldSecret)))).body)).toContain(4000008);
    const ok = await secondFactor(a.session_token!, codeNow(k, newSecret));
    expect(ok.session.authenticator_assurance_level).toBe('aal2');
  });

  it('the database holds no plaintext secret', async () => {
    const user = await register();
    const { secret } = await enroll(user.token);
    const bytes = Buffer.from(decodeBase32(secret));
    const needles = [secret, bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('latin1')];
    const tables = ['identities', 'identity_credentials', 'identity_credential_identifiers', 'sessions', 'selfservice_flows', 'audit_events', 'totp_credentials'] as const;
    let dump = '';
    for (const table of tables) dump += JSON.stringify(await k.deps.db.selectFrom(table).selectAll().execute());
    expect(dump).toContain(user.identityId);
    for (const needle of needles) expect(dump.includes(needle)).toBe(false);
    const row = await k.deps.db.selectFrom('totp_credentials').selectAll().where('identity_id', '=', user.identityId).executeTakeFirstOrThrow();
    expect(row.secret_ciphertext).toMatch(/^v1\./);
    const credential = await k.deps.db.selectFrom('identity_credentials').selectAll().where('identity_id', '=', user.identityId).where('type', '=', 'totp').executeTakeFirstOrThrow();
    expect(JSON.parse(credential.config)).toEqual({});
    if (dialect === 'sqlite') {
      const path = k.dsn.replace(/^sqlite:\/\//, '');
      const files = [path, `${path}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f));
      for (const file of files) expect(file.includes(Buffer.from(secret)) || file.includes(bytes)).toBe(false);
    }
  });

  it('the admin API redacts the TOTP secret unless expose_secret_to_admin is set', async () => {
    const user = await register();
    await enroll(user.token);
    const identity = await k.identityApi.getIdentity({ id: user.identityId, includeCredential: ['totp'] });
    expect(identity.credentials?.totp?.config).toEqual({ totp_url: '[redacted]' });
    expect(identity.credentials?.totp?.identifiers).toEqual([user.identityId]);
  });

  it('answers 4000011 to a TOTP login by an identity without TOTP', async () => {
    const user = await register();
    const flow = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: user.token });
    expect(flow.ui.nodes.some((n: any) => n.group === 'totp')).toBe(false);
    const r = await errorBody(k.frontend.updateLoginFlow({ flow: flow.id, xSessionToken: user.token, updateLoginFlowBody: { method: 'totp', totp_code: '123456' } }));
    expect(messageIds(r.body)).toContain(4000011);
  });

  /** Enrolls TOTP and returns the recovery codes shown for confirmation too. */
  async function enrollWithCodes(token: string) {
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: token });
    const secret = secretOf(flow);
    const shown = await k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: token, updateSettingsFlowBody: { method: 'totp', totp_code: codeNow(k, secret) } });
    const node = shown.ui.nodes.find((n: any) => n.attributes.id === 'lookup_secret_codes') as any;
    const codes = (node.attributes.text.context.secrets as { text: string }[]).map((c) => c.text);
    const done = await k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: token, updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_confirm: true, transient_payload: { lookup_secret_acknowledged: true } } as any });
    expect(done.state).toBe('success');
    return { secret, codes };
  }

  it('a user who lost the phone unlinks TOTP with a backup recovery code, and that code is used up', async () => {
    const user = await register();
    const { codes } = await enrollWithCodes(user.token);
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    // The unlink field says it takes a recovery code too (same field, so Kratos clients need nothing new).
    const field = settings.ui.nodes.find((n: any) => n.group === 'totp' && n.attributes.name === 'totp_code') as any;
    expect(field.meta.label.id).toBe(1900101);
    const wrong = await errorBody(k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'totp', totp_unlink: true, totp_code: 'aaaa-bbbb-cccc' } }));
    expect(wrong.status).toBe(400);
    expect(messageIds(wrong.body)).toContain(4000016);
    expect((await k.identityApi.getIdentity({ id: user.identityId })).credentials?.totp).toBeDefined();
    const unlinked = await k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'totp', totp_unlink: true, totp_code: codes[3]!.toUpperCase() } });
    expect(unlinked.state).toBe('success');
    expect((await k.identityApi.getIdentity({ id: user.identityId })).credentials?.totp).toBeUndefined();
    const rows = await k.deps.db.selectFrom('lookup_secret_codes').select(['position', 'used_at']).where('identity_id', '=', user.identityId).where('used_at', 'is not', null).execute();
    expect(rows.map((r) => r.position)).toEqual([4]);
    const events = await k.deps.db.selectFrom('audit_events').select(['type', 'details']).where('identity_id', '=', user.identityId).where('type', '=', 'recovery_codes.used').execute();
    expect(events.map((e) => JSON.parse(e.details).purpose)).toEqual(['totp_unlink']);
  });

  it('a stolen privileged session cannot guess unlink codes: wrong codes go through the second-factor limits', async () => {
    const user = await register();
    const { secret } = await enrollWithCodes(user.token);
    k.clock.advanceSeconds(30);
    const right = codeNow(k, secret);
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    for (let i = 0; i < 5; i++) {
      const r = await errorBody(k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'totp', totp_unlink: true, totp_code: wrong } }));
      expect(messageIds(r.body)).toContain(4000008);
    }
    // The sixth try, even with the right code and on a new settings flow, is refused before it is checked.
    const next = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    const refused = await errorBody(k.frontend.updateSettingsFlow({ flow: next.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'totp', totp_unlink: true, totp_code: right } }));
    expect(refused.status).toBe(400);
    expect(messageIds(refused.body)).toContain(4900100);
    expect((await k.identityApi.getIdentity({ id: user.identityId })).credentials?.totp).toBeDefined();
  });

  it('a session older than the privileged age cannot unlink TOTP even with a valid code', async () => {
    const user = await register();
    const { secret } = await enroll(user.token);
    k.clock.advanceSeconds(16 * 60);
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    const r = await errorBody(k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'totp', totp_unlink: true, totp_code: codeNow(k, secret) } }));
    expect(r.status).toBe(403);
    expect(r.body.error.id).toBe('session_refresh_required');
    expect((await k.identityApi.getIdentity({ id: user.identityId })).credentials?.totp).toBeDefined();
  });

  it('a config change from SHA1 to SHA256 leaves SHA1 users working', async () => {
    const database = await createTestDatabase(dialect);
    const clock = new ManualClock();
    const a = await startKairos({ dialect, database, clock, config: TOTP_ON });
    let b: TestKairos | null = null;
    try {
      const user = await register(a);
      const { secret } = await enroll(user.token, a);
      b = await startKairos({ dialect, database, clock, config: { selfservice: { methods: { totp: { enabled: true, config: { algorithm: 'SHA256' } } } } } });
      const first = await passwordLogin(user.email, b);
      clock.advanceSeconds(30);
      const ok = await secondFactor(first.session_token!, codeNow(b, secret), b);
      expect(ok.session.authenticator_assurance_level).toBe('aal2');

      const sha256: TotpParameters = { algorithm: 'SHA256', digits: 6, periodSeconds: 30 };
      const newUser = await register(b);
      const enrolled = await enroll(newUser.token, b, sha256);
      expect(decodeBase32(enrolled.secret)).toHaveLength(32);
      const second = await passwordLogin(newUser.email, b);
      clock.advanceSeconds(30);
      expect((await secondFactor(second.session_token!, codeNow(b, enrolled.secret, sha256), b)).session.authenticator_assurance_level).toBe('aal2');
    } finally {
      await b?.close();
      await a.close();
      await database.drop();
    }
  });

  it('imports a totp_url with its own parameters (SHA256, 8 digits) and verifies with them', async () => {
    const server = await startKairos({ dialect, config: { ...TOTP_ON, identity: { credentials: { totp: { expose_secret_to_admin: true } } } } });
    try {
      const secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
      const url = `otpauth://totp/Acme:imported%40example.com?secret=${secret}&issuer=Acme&algorithm=SHA256&digits=8&period=30`;
      const response = await fetch(`${server.adminUrl}/admin/identities`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          schema_id: 'default',
          traits: { email: 'imported@example.com' },
          credentials: { password: { config: { password: PASSWORD } }, totp: { config: { totp_url: url } } },
        }),
      });
      expect(response.status).toBe(201);
      const created = await response.json();
      const identity = await server.identityApi.getIdentity({ id: created.id, includeCredential: ['totp'] });
      const exposed = String((identity.credentials?.totp?.config as any).totp_url);
      expect(exposed).toContain('algorithm=SHA256');
      expect(exposed).toContain('digits=8');
      expect(exposed).toContain(`secret=${secret}`);
      const first = await passwordLogin('imported@example.com', server);
      const parameters: TotpParameters = { algorithm: 'SHA256', digits: 8, periodSeconds: 30 };
      const ok = await secondFactor(first.session_token!, codeNow(server, secret, parameters), server);
      expect(ok.session.authenticator_assurance_level).toBe('aal2');
    } finally {
      await server.close();
    }
  });

  it('rejects a malformed imported totp_url with 400 without echoing the secret', async () => {
    const url = 'otpauth://hotp/Acme:x?secret=JBSWY3DPEHPK3PXPSECRETSECRET&counter=1';
    const response = await fetch(`${k.adminUrl}/admin/identities`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ schema_id: 'default', traits: { email: 'badimport@example.com' }, credentials: { totp: { config: { totp_url: url } } } }),
    });
    expect(response.status).toBe(400);
    const text = await response.text();
    expect(text).not.toContain('JBSWY3DPEHPK3PXPSECRETSECRET');
  });

  it('records second_factor.enrolled and second_factor.removed audit events without the secret', async () => {
    const user = await register();
    const { secret } = await enroll(user.token);
    k.clock.advanceSeconds(30);
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    await k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'totp', totp_unlink: true, totp_code: codeNow(k, secret) } });
    const events = await k.deps.db.selectFrom('audit_events').selectAll().where('identity_id', '=', user.identityId).execute();
    const types = events.map((e) => e.type);
    expect(types).toContain('second_factor.enrolled');
    expect(types).toContain('second_factor.removed');
    expect(JSON.stringify(events)).not.toContain(secret);
  });
});
