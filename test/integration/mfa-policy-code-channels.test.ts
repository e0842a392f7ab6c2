/**
 * MFA policy by code channel (issue 16: "SMS forbidden" must be expressible): Kratos's `code` method is two factors
 * of very different strength, so rules name its channels, `email` and `sms`. Under a rule that allows one channel and
 * forbids the other, the forbidden channel's address is not offered on the second-factor page, is not sent a code,
 * a code sent to it before the rule changed does not lift the session's AAL, a session that used it stops counting
 * as aal2 at its next request, a verified address of that channel is not an enrolled second factor, and a browser
 * remembered after a code of that channel no longer skips the second factor; the allowed channel works. Kratos's wire stays `authentication_methods: [{method: code}]`: Kairos keeps the channel in the
 * stored AMR entry. Both directions, SQLite and PostgreSQL, mail from a real SMTP server and text messages from a
 * real local HTTP receiver standing in for the SMS provider.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, DIALECTS, startKairos, TEST_HASHERS, type TestDatabase, type TestKairos } from '../support/harness.js';
import { errorBody, messageIds } from '../support/flows.js';
import { loginWithPassword } from '../support/users.js';
import { smsCode, TestSmsReceiver } from '../support/sms-receiver.js';
import { TestSmtpServer } from '../support/smtp.js';
import { runCli } from '../support/cli.js';
import { writeConfig } from '../support/process.js';
import { BrowserClient, csrfTokenOf } from '../support/browser-client.js';

const PASSWORD = 'a long enough passphrase';
const SECRETS = { default: ['test-secret-default-0123456789'], cookie: ['test-secret-cookie-0123456789'], cipher: ['test-cipher-secret-0123456789abcdef0123'] };
const codeIn = (text: string) => /\b(\d{6})\b/.exec(text)?.[1] ?? '';

/** An email (password identifier, codes by email) and a phone number (codes by SMS). */
const PHONE_SCHEMA = {
  $id: 'https://example.com/phone.schema.json',
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  properties: {
    traits: {
      type: 'object',
      properties: {
        email: {
          type: 'string',
          format: 'email',
          'ory.sh/kratos': { credentials: { password: { identifier: true }, code: { identifier: true, via: 'email' } }, verification: { via: 'email' } },
        },
        phone: { type: 'string', format: 'tel', 'ory.sh/kratos': { credentials: { code: { identifier: true, via: 'sms' } }, verification: { via: 'sms' } } },
      },
      required: ['email'],
      additionalProperties: false,
    },
  },
};
const IDENTITY = { default_schema_id: 'phone', schemas: [{ id: 'phone', url: `base64://${Buffer.from(JSON.stringify(PHONE_SCHEMA)).toString('base64')}` }] };

/** `metadata_admin.codes` picks the rule: email codes only (SMS forbidden), SMS codes only (email forbidden), else both. */
const MFA = {
  policies: [
    { id: 'no-sms', match: { metadata_admin: { codes: 'email' } }, required: ['email'], allowed_methods: ['email'], remember_device: '720h' },
    { id: 'no-email', match: { metadata_admin: { codes: 'sms' } }, required: ['sms'], allowed_methods: ['sms'], remember_device: '720h' },
  ],
  default_policy: { required: 'any', remember_device: '720h' },
};

type Channel = 'email' | 'sms';
const RULE_ALLOWING: Record<Channel, string> = { email: 'no-sms', sms: 'no-email' };
const other = (c: Channel): Channel => (c === 'email' ? 'sms' : 'email');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kairos-channels-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(DIALECTS)('MFA policy: codes by channel (%s)', (dialect) => {
  let smtp: TestSmtpServer;
  let sms: TestSmsReceiver;
  let database: TestDatabase;
  let k: TestKairos;
  let config: Record<string, unknown>;
  let n = 0;
  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    sms = await new TestSmsReceiver().start();
    database = await createTestDatabase(dialect);
    config = {
      identity: IDENTITY,
      courier: { smtp: { connection_uri: smtp.uri }, channels: [sms.channel()], worker: { poll_interval: '50ms' } },
      selfservice: { methods: { code: { mfa_enabled: true, config: { lifespan: '15m' } } }, mfa: MFA },
    };
    k = await startKairos({ dialect, database, config });
  });
  afterAll(async () => {
    await k?.close();
    await database?.drop();
    await sms?.stop();
    await smtp?.stop();
  });

  interface Person {
    id: string;
    email: string;
    phone: string;
    token: string;
    address: Record<Channel, string>;
  }

  /** An identity with a password, a verified email address and a verified phone number, signed in (aal1). */
  async function person(codes: Channel | null, verified: Channel[] = ['email', 'sms']): Promise<Person> {
    const i = ++n;
    const email = `chan${i}-${dialect}@example.com`;
    const phone = `+49151${String(3_000_000 + i * 41 + (dialect === 'postgres' ? 500_000 : 0)).padStart(8, '0')}`;
    const addresses = [
      { value: email, verified: verified.includes('email'), via: 'email', status: verified.includes('email') ? 'completed' : 'pending' },
      { value: phone, verified: verified.includes('sms'), via: 'sms', status: verified.includes('sms') ? 'completed' : 'pending' },
    ];
    const identity = await k.identityApi.createIdentity({
      createIdentityBody: {
        schema_id: 'phone',
        traits: { email, phone },
        credentials: { password: { config: { password: PASSWORD } } },
        verifiable_addresses: addresses as never,
        metadata_admin: codes ? { codes } : undefined,
      },
    });
    const login = await loginWithPassword(k, email, PASSWORD);
    return { id: identity.id, email, phone, token: login.session_token!, address: { email, sms: phone } };
  }

  const setCodes = (who: Person, codes: Channel | null) => k.identityApi.patchIdentity({ id: who.id, jsonPatch: [{ op: 'replace', path: '/metadata_admin', value: codes ? { codes } : {} }] });

  const newFlow = (who: Person) => k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: who.token });
  const offered = (flow: any): string[] => flow.ui.nodes.filter((x: any) => x.attributes.name === 'address' && x.attributes.type === 'submit').map((x: any) => x.meta.label.context.channel);
  const send = (who: Person, flowId: string, channel: Channel) =>
    errorBody(k.frontend.updateLoginFlow({ flow: flowId, xSessionToken: who.token, updateLoginFlowBody: { method: 'code', address: who.address[channel], csrf_token: '' } as never }));
  /** The code as the person receives it: from the mailbox or the phone. */
  const received = async (who: Person, channel: Channel) => (channel === 'email' ? codeIn((await smtp.waitFor(who.email)).text) : smsCode(await sms.waitFor(who.phone)));
  /** Submits a code; `withAddress` as the hosted form does (its hidden `address`), else only `{method, code}`. */
  const submit = (who: Person, flowId: string, code: string, withAddress?: Channel) =>
    k.frontend.updateLoginFlow({ flow: flowId, xSessionToken: who.token, updateLoginFlowBody: { method: 'code', code, csrf_token: '', ...(withAddress ? { address: who.address[withAddress] } : {}) } as never });
  const whoami = (who: Person) => fetch(`${k.publicUrl}/sessions/whoami`, { headers: { 'x-session-token': who.token } });
  const whoamiError = async (who: Person) => {
    const response = await whoami(who);
    return { status: response.status, id: ((await response.json()) as any).error?.id as string | undefined };
  };
  const storedAmr = async (who: Person) => {
    const row = await k.deps.db.selectFrom('sessions').select('amr').where('identity_id', '=', who.id).orderBy('issued_at', 'desc').executeTakeFirstOrThrow();
    return (JSON.parse(row.amr) as { method: string; channel?: string }[]).map((e) => (e.channel ? `${e.method}:${e.channel}` : e.method));
  };
  const codesSentTo = async (address: string) =>
    (await k.deps.db.selectFrom('courier_messages').select('id').where('recipient', '=', address).where('template_type', '=', 'login_code_valid').execute()).length;
  const events = async (id: string, type: string) => (await (await fetch(`${k.adminUrl}/admin/audit-events?identity_id=${id}&type=${type}`)).json()) as any[];

  describe.each(['email', 'sms'] as Channel[])('a rule allowing %s codes only', (allowed) => {
    const forbidden = other(allowed);

    it(`the ${forbidden} address is not offered nor sent a code; the ${allowed} code lifts the session to aal2, and the wire still says code`, async () => {
      const who = await person(allowed);
      // The rule requires a second factor and the identity has an allowed one: aal2 is needed.
      expect(await whoamiError(who)).toEqual({ status: 403, id: 'session_aal2_required' });
      const flow = await newFlow(who);
      expect(offered(flow)).toEqual([allowed]);

      // A hand-made send to the forbidden address is refused by the rule (4901001, audited); nothing is sent.
      const refused = await send(who, flow.id, forbidden);
      expect(refused.status).toBe(400);
      expect(messageIds(refused.body)).toContain(4901001);
      expect(refused.body.ui.messages.find((m: any) => m.id === 4901001).context).toMatchObject({ method: forbidden, allowed_methods: allowed, rule_id: RULE_ALLOWING[allowed] });
      expect(await codesSentTo(who.address[forbidden])).toBe(0);
      expect((await events(who.id, 'mfa_policy.method_refused')).map((e) => e.details.method)).toEqual([forbidden]);

      const sent = await send(who, flow.id, allowed);
      expect(sent.body.state).toBe('sent_email');
      const done = await submit(who, flow.id, await received(who, allowed), allowed);
      expect(done.session.authenticator_assurance_level).toBe('aal2');
      expect(done.session.authentication_methods!.map((m) => m.method)).toEqual(['password', 'code']);
      // On the wire, Kratos's AuthenticationMethod fields only; the channel is Kairos's, in the stored entry.
      const session = await whoami(who);
      expect(session.status).toBe(200);
      expect(((await session.json()) as any).authentication_methods.map((m: any) => Object.keys(m).sort().join(','))).toEqual(['aal,completed_at,method', 'aal,completed_at,method']);
      expect(await storedAmr(who)).toEqual(['password', `code:${allowed}`]);
    });

    it(`threat: a ${forbidden} code sent before the rule changed does not lift the AAL (with or without the form's address); the ${allowed} code does`, async () => {
      const who = await person(null);
      const flow = await newFlow(who);
      expect(offered(flow).sort()).toEqual(['email', 'sms']);
      await send(who, flow.id, forbidden);
      const code = await received(who, forbidden);
      // The role changes while the code is on its way: the rule in force at the next request forbids its channel.
      await setCodes(who, allowed);

      const withForm = await errorBody(submit(who, flow.id, code, forbidden));
      expect(withForm.status).toBe(400);
      expect(messageIds(withForm.body)).toContain(4901001);
      // Without the address the strategy still knows where the code went, and refuses it before checking it.
      const bare = await errorBody(submit(who, flow.id, code));
      expect(bare.status).toBe(400);
      expect(messageIds(bare.body)).toContain(4900805);
      expect(await whoamiError(who)).toEqual({ status: 403, id: 'session_aal2_required' });
      expect(await storedAmr(who)).toEqual(['password']);

      await send(who, flow.id, allowed);
      const done = await submit(who, flow.id, await received(who, allowed));
      expect(done.session.authenticator_assurance_level).toBe('aal2');
      expect(await storedAmr(who)).toEqual(['password', `code:${allowed}`]);
    });

    it(`a session completed with a ${forbidden} code stops counting as aal2 at its next request once the rule forbids ${forbidden}`, async () => {
      const who = await person(null);
      const flow = await newFlow(who);
      await send(who, flow.id, forbidden);
      const done = await submit(who, flow.id, await received(who, forbidden));
      expect(done.session.authenticator_assurance_level).toBe('aal2');
      expect((await whoami(who)).status).toBe(200);
      await setCodes(who, allowed);
      expect(await whoamiError(who)).toEqual({ status: 403, id: 'session_aal2_required' });
      // Under the rule that allows it again, the same session counts again (nothing was deleted).
      await setCodes(who, forbidden);
      expect((await whoami(who)).status).toBe(200);
    });

    it(`a verified ${forbidden} address is not an enrolled second factor: without a ${allowed} address the identity must enroll`, async () => {
      const only = await person(allowed, [forbidden]);
      // No grace under the rule: the session is refused until an allowed factor exists.
      expect(await whoamiError(only)).toEqual({ status: 403, id: 'kairos_second_factor_enrollment_required' });
      const mfa = (await (await fetch(`${k.adminUrl}/admin/identities/${only.id}/mfa`)).json()) as any;
      expect(mfa.mfa_policy).toMatchObject({ rule_id: RULE_ALLOWING[allowed], status: 'overdue', enrolled_methods: [], allowed_methods: [allowed], required: [allowed] });
      // The same address under the rule that allows its channel is the identity's second factor.
      await setCodes(only, forbidden);
      expect(await whoamiError(only)).toEqual({ status: 403, id: 'session_aal2_required' });
      const after = (await (await fetch(`${k.adminUrl}/admin/identities/${only.id}/mfa`)).json()) as any;
      expect(after.mfa_policy).toMatchObject({ status: 'enrolled', enrolled_methods: [forbidden] });
    });
  });

  it.each(['email', 'sms'] as Channel[])('a browser remembered after a %s code is bound to that channel: it stops skipping once the rule forbids the channel', async (channel) => {
    const who = await person(null);
    const browser = new BrowserClient(k.publicUrl);
    const asksSecondFactor = (response: Response) => response.status === 303 && /aal=aal2/.test(response.headers.get('location') ?? '');
    const password = async () => {
      browser.cookies.delete('ory_kratos_session');
      const { id, flow } = await browser.startFlow('login');
      return browser.postForm(`/self-service/login?flow=${id}`, { csrf_token: csrfTokenOf(flow), method: 'password', identifier: who.email, password: PASSWORD });
    };
    expect(asksSecondFactor(await password())).toBe(true);
    const { id, flow } = await browser.startFlow('login', '?aal=aal2');
    await browser.postForm(`/self-service/login?flow=${id}`, { csrf_token: csrfTokenOf(flow), method: 'code', address: who.address[channel] });
    const done = await browser.postForm(`/self-service/login?flow=${id}`, { csrf_token: csrfTokenOf(flow), method: 'code', code: await received(who, channel), address: who.address[channel] });
    expect(done.status).toBe(303);
    expect(done.headers.getSetCookie().some((c) => c.startsWith('kairos_remembered_device='))).toBe(true);
    const rows = await k.deps.db.selectFrom('mfa_remembered_devices').select('method').where('identity_id', '=', who.id).execute();
    expect(rows.map((r) => r.method)).toEqual([channel]);

    // Within the duration, under a rule that allows the channel, the browser skips the second factor.
    expect(asksSecondFactor(await password())).toBe(false);
    // The rule that forbids the channel (and remembers browsers too) refuses the skip: the factor it was bound to no
    // longer counts for this identity.
    await setCodes(who, other(channel));
    expect(asksSecondFactor(await password())).toBe(true);
    expect((await events(who.id, 'mfa_policy.device_refused')).map((e) => e.details.reason)).toEqual(['factor_gone']);
  });

  it('kairos policy explain names the channels: the forbidden one is listed as not counting', async () => {
    const who = await person('email');
    const file = writeConfig(dir, `channels-${dialect}.yml`, { dsn: k.dsn, secrets: SECRETS, hashers: TEST_HASHERS, ...config });
    const json = await runCli(['policy', 'explain', who.email, '-c', file, '--json', '--at', new Date(k.clock.nowMs()).toISOString()], { DEV: undefined });
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.rule).toMatchObject({ rule_id: 'no-sms', required: ['email'], allowed_methods: ['email'] });
    expect(report.status).toBe('enrolled');
    expect(report.second_factors).toEqual([
      { method: 'email', allowed: true, accepted: true },
      { method: 'sms', allowed: false, accepted: false },
    ]);
    const text = await runCli(['policy', 'explain', who.email, '-c', file], { DEV: undefined });
    expect(text.stdout).toMatch(/^allowed\s+email$/m);
    expect(text.stdout).toMatch(/^second factors\s+email, sms \(forbidden: does not count\)$/m);
  });
});
