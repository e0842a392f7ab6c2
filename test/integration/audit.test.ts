import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResponseError } from '@ory/client-fetch';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { runAuditCommand } from '../../src/cli/audit.js';

const PASSWORD = 'a long enough passphrase';

describe.each(DIALECTS)('audit trail (%s)', (dialect) => {
  let k: TestKairos;
  let counter = 0;
  beforeAll(async () => {
    k = await startKairos({ dialect });
  });
  afterAll(async () => k?.close());

  const events = async (query: string) => {
    const res = await fetch(`${k.adminUrl}/admin/audit-events${query}`);
    return { status: res.status, link: res.headers.get('link'), body: (await res.json()) as any };
  };

  async function register() {
    const email = `audit${++counter}-${dialect}@example.com`;
    const flow = await k.frontend.createNativeRegistrationFlow();
    const result = await k.frontend.updateRegistrationFlow({ flow: flow.id, updateRegistrationFlowBody: { method: 'password', traits: { email }, password: PASSWORD } });
    return { email, identityId: result.identity.id };
  }

  async function login(identifier: string, password: string) {
    const flow = await k.frontend.createNativeLoginFlow();
    try {
      await k.frontend.updateLoginFlow({ flow: flow.id, updateLoginFlowBody: { method: 'password', identifier, password } }, async ({ init }) => ({ ...init, headers: { ...(init.headers as Record<string, string>), 'user-agent': 'audit-test/1.0' } }));
      return flow.id;
    } catch (err) {
      if (err instanceof ResponseError) return flow.id;
      throw err;
    }
  }

  it('records registration and logins (failed and succeeded, with method) with flow, session, IP, user agent, time and actor', async () => {
    const user = await register();
    const failedFlow = await login(user.email, 'the wrong passphrase!');
    const okFlow = await login(user.email, PASSWORD);
    const { status, body } = await events(`?identity_id=${user.identityId}`);
    expect(status).toBe(200);
    expect(body.map((e: any) => e.type)).toEqual(['registration.succeeded', 'login.succeeded']);
    const ok = body[1];
    expect(ok).toMatchObject({ identity_id: user.identityId, flow_id: okFlow, actor: 'self', ip_address: '127.0.0.1', user_agent: 'audit-test/1.0', details: { method: 'password', aal: 'aal1' } });
    expect(ok.session_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(ok.created_at).getTime()).toBe(k.clock.nowMs());

    // A failed first-factor login does not say which identity was tried (that would confirm the account exists).
    const failed = (await events('?type=login.failed')).body.find((e: any) => e.flow_id === failedFlow);
    expect(failed).toMatchObject({ type: 'login.failed', identity_id: null, actor: 'self', ip_address: '127.0.0.1', details: { method: 'password', requested_aal: 'aal1', message_ids: [4000006] } });
  });

  it('never stores a secret: no password, session token or submitted identifier in any event', async () => {
    const user = await register();
    await login(user.email, 'another wrong passphrase');
    const flow = await k.frontend.createNativeLoginFlow();
    const result = await k.frontend.updateLoginFlow({ flow: flow.id, updateLoginFlowBody: { method: 'password', identifier: user.email, password: PASSWORD } });
    const rows = await k.deps.db.selectFrom('audit_events').selectAll().execute();
    const all = JSON.stringify(rows);
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain('another wrong passphrase');
    expect(all).not.toContain(result.session_token!);
  });

  it('filters by type (repeatable) and by time range, and pages with page_size/page_token', async () => {
    const start = k.clock.nowMs();
    k.clock.advanceSeconds(60);
    const a = await register();
    k.clock.advanceSeconds(60);
    const b = await register();
    k.clock.advanceSeconds(60);
    const c = await register();
    const since = new Date(start + 30_000).toISOString();
    const until = new Date(start + 150_000).toISOString();
    const ranged = await events(`?type=registration.succeeded&since=${since}&until=${until}`);
    expect(ranged.body.map((e: any) => e.identity_id)).toEqual([a.identityId, b.identityId]);

    await login(c.email, PASSWORD);
    const both = await events(`?identity_id=${c.identityId}&type=registration.succeeded&type=login.succeeded`);
    expect(both.body.map((e: any) => e.type)).toEqual(['registration.succeeded', 'login.succeeded']);

    const first = await events(`?type=registration.succeeded&page_size=2`);
    expect(first.body).toHaveLength(2);
    expect(first.link).toContain('rel="next"');
    const nextPath = first.link!.slice(1, first.link!.indexOf('>'));
    expect(nextPath).toContain('type=registration.succeeded');
    const second = await (await fetch(k.adminUrl + nextPath)).json() as any[];
    expect(second.length).toBeGreaterThan(0);
    const firstIds = first.body.map((e: any) => e.id);
    for (const e of second) expect(firstIds).not.toContain(e.id);
    expect(second.every((e: any) => e.type === 'registration.succeeded')).toBe(true);
  });

  it('answers bad filters with a 400 in Kratos shape', async () => {
    for (const query of ['?type=not.a.type', '?since=yesterday', '?page_size=0', '?page_size=5000', '?page_token=%%%']) {
      const { status, body } = await events(query);
      expect(status, query).toBe(400);
      expect(body.error.code).toBe(400);
      expect(typeof body.error.reason).toBe('string');
    }
  });

  it('kairos audit reads the same trail, for people and as JSON, with the same filters', async () => {
    const user = await register();
    await login(user.email, PASSWORD);
    let out = '';
    let err = '';
    expect(await runAuditCommand(k.dsn, { identity: user.identityId }, (t) => (out += t), (t) => (err += t))).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('registration.succeeded');
    expect(lines[1]).toContain('login.succeeded');
    expect(lines[1]).toContain(`identity=${user.identityId}`);
    expect(lines[1]).toContain('actor=self');
    expect(lines[1]).toContain('method=password');

    out = '';
    expect(await runAuditCommand(k.dsn, { identity: user.identityId, type: ['login.succeeded'], json: true, limit: '1' }, (t) => (out += t), () => {})).toBe(0);
    const json = JSON.parse(out);
    expect(json.events.map((e: any) => e.type)).toEqual(['login.succeeded']);
    expect(typeof json.next_page_token).toBe('string');

    err = '';
    expect(await runAuditCommand(k.dsn, { type: ['nope'] }, () => {}, (t) => (err += t))).toBe(2);
    expect(err).toContain('"nope" is not an audit event type');
  });
});
