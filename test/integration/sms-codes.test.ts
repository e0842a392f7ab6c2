/**
 * SMS codes end to end (issue 15): Kratos's courier HTTP channel (`courier.channels[{id: sms, type: http}]`) against
 * a real local HTTP receiver standing in for the SMS provider, a phone number as a trait (`format: tel`,
 * `verification.via: sms`, `credentials.code.identifier` with `via: sms`), verification by SMS, and the SMS code as
 * a second factor under the same limits as every other factor. SQLite and PostgreSQL; the injected clock for
 * expiry; two instances sharing one database for concurrent use of one code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, DIALECTS, startKairos, type TestDatabase, type TestKairos } from '../support/harness.js';
import { loginWithPassword } from '../support/users.js';
import { errorBody, messageIds } from '../support/flows.js';
import { smsCode, TestSmsReceiver } from '../support/sms-receiver.js';
import { eventually } from '../support/smtp.js';

const PASSWORD = 'a long enough passphrase';

/** An identity schema with an email (password identifier, code by email) and two phone numbers (codes by SMS, verified by SMS). */
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
          'ory.sh/kratos': { credentials: { password: { identifier: true }, code: { identifier: true, via: 'email' } }, verification: { via: 'email' }, recovery: { via: 'email' } },
        },
        phone: { type: 'string', format: 'tel', 'ory.sh/kratos': { credentials: { code: { identifier: true, via: 'sms' } }, verification: { via: 'sms' } } },
        phone2: { type: 'string', format: 'tel', 'ory.sh/kratos': { credentials: { code: { identifier: true, via: 'sms' } }, verification: { via: 'sms' } } },
      },
      required: ['email'],
      additionalProperties: false,
    },
  },
};
const schemas = { default_schema_id: 'phone', schemas: [{ id: 'phone', url: `base64://${Buffer.from(JSON.stringify(PHONE_SCHEMA)).toString('base64')}` }] };

describe.each(DIALECTS)('SMS codes through the courier HTTP channel (%s)', (dialect) => {
  let sms: TestSmsReceiver;
  let database: TestDatabase;
  let k: TestKairos;
  let k2: TestKairos;
  let n = 0;
  beforeAll(async () => {
    sms = await new TestSmsReceiver().start();
    database = await createTestDatabase(dialect);
    const config = {
      identity: schemas,
      courier: { channels: [sms.channel()], worker: { poll_interval: '50ms' } },
      selfservice: { methods: { code: { mfa_enabled: true, config: { lifespan: '15m' } } } },
    };
    k = await startKairos({ dialect, database, config });
    k2 = await startKairos({ dialect, database, config, clock: k.clock });
  });
  afterAll(async () => {
    await k2?.close();
    await k?.close();
    await database?.drop();
    await sms?.stop();
  });

  /** A distinct valid German mobile number per test, E.164 and as people type it. */
  const number = () => {
    const digits = String(4_000_000 + ++n * 37 + (dialect === 'postgres' ? 500_000 : 0)).padStart(8, '0');
    return { e164: `+49151${digits}`, typed: `+49 151 ${digits.slice(0, 4)} ${digits.slice(4)}` };
  };

  /** An identity with a password, an email and a verified phone number (typed with spaces; stored in E.164). */
  async function person(options: { verified?: boolean; phone2?: string } = {}) {
    const email = `sms${++n}-${dialect}@example.com`;
    const phone = number();
    const traits: Record<string, string> = { email, phone: phone.typed };
    if (options.phone2) traits.phone2 = options.phone2;
    const verified = options.verified !== false;
    const addresses = [{ value: phone.e164, verified, via: 'sms', status: verified ? 'completed' : 'pending' }];
    if (options.phone2) addresses.push({ value: options.phone2, verified: true, via: 'sms', status: 'completed' });
    addresses.push({ value: email, verified: true, via: 'email', status: 'completed' });
    const identity = await k.identityApi.createIdentity({
      createIdentityBody: { schema_id: 'phone', traits, credentials: { password: { config: { password: PASSWORD } } }, verifiable_addresses: addresses as never },
    });
    const login = await loginWithPassword(k, email, PASSWORD);
    return { email, phone: phone.e164, identityId: identity.id, token: login.session_token! };
  }

  async function sendCode(server: TestKairos, token: string, address: string) {
    const flow = await server.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: token });
    const sent = await errorBody(server.frontend.updateLoginFlow({ flow: flow.id, xSessionToken: token, updateLoginFlowBody: { method: 'code', address, csrf_token: '' } as never }));
    return { flowId: flow.id, sent };
  }

  const submitCode = (server: TestKairos, flowId: string, token: string, code: string) =>
    server.frontend.updateLoginFlow({ flow: flowId, xSessionToken: token, updateLoginFlowBody: { method: 'code', code, csrf_token: '' } as never });

  const mfaOf = async (identityId: string) => (await fetch(`${k.adminUrl}/admin/identities/${identityId}/mfa`)).json();

  it('verification by SMS: a phone number trait is sent a code by text message after sign-up, and the code verifies it', async () => {
    const email = `signup${++n}-${dialect}@example.com`;
    const phone = number();
    const flow = await k.frontend.createNativeRegistrationFlow();
    const done = await k.frontend.updateRegistrationFlow({ flow: flow.id, updateRegistrationFlowBody: { method: 'password', traits: { email, phone: phone.typed }, password: PASSWORD } });
    // Stored in E.164, unverified.
    const address = done.identity.verifiable_addresses!.find((a) => a.via === 'sms')!;
    expect(address).toMatchObject({ value: phone.e164, verified: false });
    const show = (done.continue_with as any[]).find((c) => c.action === 'show_verification_ui' && c.flow.verifiable_address === phone.e164);
    expect(show).toBeDefined();

    const text = await sms.waitFor(phone.e164);
    expect(text.method).toBe('POST');
    expect(text.headers.authorization).toBe(`Basic ${Buffer.from('AC1:provider-token').toString('base64')}`);
    expect(text.json.Kind).toBe('verification_code_valid');
    expect(text.json.MessageType).toBe('sms');
    const code = smsCode(text);
    expect(text.json.Data).toMatchObject({ to: phone.e164, verification_code: code, expires_in_minutes: 15, request_url_domain: '127.0.0.1' });
    expect(text.json.Body).toContain(`@127.0.0.1 #${code}`);

    const verification = await k.frontend.getVerificationFlow({ id: show.flow.id });
    expect(verification.state).toBe('sent_email');
    expect(messageIds(verification)).toContain(1080004);
    const verified = await k.frontend.updateVerificationFlow({ flow: show.flow.id, updateVerificationFlowBody: { method: 'code', code } });
    expect(verified.state).toBe('passed_challenge');
    expect(messageIds(verified)).toEqual([1080005]);
    const identity = await k.identityApi.getIdentity({ id: done.identity.id });
    expect(identity.verifiable_addresses!.find((a) => a.via === 'sms')).toMatchObject({ value: phone.e164, verified: true, status: 'completed' });
    // Once verified, the number is a second factor: whoami at highest_available asks for it.
    expect((await errorBody(k.frontend.toSession({ xSessionToken: done.session_token! }))).body.error.id).toBe('session_aal2_required');
  });

  it('verification flow: the address field takes a phone number (Kratos: label 1070018, type text) in any common notation', async () => {
    const user = await person({ verified: false });
    const flow = await k.frontend.createNativeVerificationFlow();
    const field = flow.ui.nodes.find((x: any) => x.attributes.name === 'email') as any;
    expect(field.attributes.type).toBe('text');
    expect(field.meta.label.id).toBe(1070018);
    const typed = `${user.phone.slice(0, 3)} (${user.phone.slice(3, 6)}) ${user.phone.slice(6, 10)}-${user.phone.slice(10)}`;
    const sent = await k.frontend.updateVerificationFlow({ flow: flow.id, updateVerificationFlowBody: { method: 'code', email: typed } });
    expect(messageIds(sent)).toEqual([1080004]);
    const code = smsCode(await sms.waitFor(user.phone));
    const done = await k.frontend.updateVerificationFlow({ flow: flow.id, updateVerificationFlowBody: { method: 'code', code } });
    expect(messageIds(done)).toEqual([1080005]);
    // A malformed number is a field error in Kratos's shape, never a 500.
    const bad = await errorBody(k.frontend.updateVerificationFlow({ flow: (await k.frontend.createNativeVerificationFlow()).id, updateVerificationFlowBody: { method: 'code', email: '+49 12' } }));
    expect(bad.status).toBe(400);
    expect(bad.body.ui.nodes.find((x: any) => x.attributes.name === 'email').messages.map((m: any) => m.id)).toEqual([4000004]);
  });

  it('success: the SMS code completes aal2 (Kratos\'s nodes, channel sms), and the code is in no response, log line or stored body', async () => {
    const user = await person();
    const flow = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: user.token });
    const button = flow.ui.nodes.find((x: any) => x.attributes.name === 'address' && x.attributes.value === user.phone) as any;
    expect(button.attributes.type).toBe('submit');
    expect(button.meta.label).toMatchObject({ id: 1010023, context: { address: user.phone, channel: 'sms' } });

    const { flowId, sent } = await sendCode(k, user.token, user.phone);
    expect(sent.status).toBe(400);
    expect(sent.body.state).toBe('sent_email');
    expect(messageIds(sent.body)).toEqual(expect.arrayContaining([1010025, 1900800]));
    const text = await sms.waitFor(user.phone);
    expect(text.json.Kind).toBe('login_code_valid');
    const code = smsCode(text);
    expect(text.json.Data).toMatchObject({ to: user.phone, login_code: code });
    expect(JSON.stringify(sent.body)).not.toContain(code);

    const done = await submitCode(k, flowId, user.token, code);
    expect(done.session.authenticator_assurance_level).toBe('aal2');
    expect(done.session.authentication_methods?.map((m) => m.method)).toEqual(['password', 'code']);
    expect(k.logs.text()).not.toContain(code);
    // Delivered: the encrypted body and template data are wiped (the worker records the delivery after the provider answered).
    const stored = await eventually(async () => {
      const rows = await k.deps.db.selectFrom('courier_messages').selectAll().where('recipient', '=', user.phone).where('template_type', '=', 'login_code_valid').execute();
      return rows.length === 1 && rows[0]!.status === 'sent' ? rows : null;
    });
    expect(stored.map((m) => [m.type, m.status, m.body, m.template_data])).toEqual([['sms', 'sent', '', null]]);
    expect((await mfaOf(user.identityId)).code).toMatchObject({ addresses: 2, channels: ['email', 'sms'] });
  });

  it('expiry: a code past its lifespan is refused with the reason (injected clock)', async () => {
    const user = await person();
    const { flowId } = await sendCode(k, user.token, user.phone);
    const code = smsCode(await sms.waitFor(user.phone));
    k.clock.advanceSeconds(16 * 60);
    const late = await errorBody(submitCode(k, flowId, user.token, code));
    expect(late.status).toBe(400);
    expect(messageIds(late.body)).toEqual(expect.arrayContaining([4010008, 4900801]));
  });

  it('threat: reuse of an SMS code is refused (spent in its flow; worthless in another)', async () => {
    const user = await person();
    const { flowId } = await sendCode(k, user.token, user.phone);
    const code = smsCode(await sms.waitFor(user.phone));
    expect((await submitCode(k, flowId, user.token, code)).session.authenticator_assurance_level).toBe('aal2');
    const replay = await errorBody(submitCode(k, flowId, user.token, code));
    expect(replay.status).toBeGreaterThanOrEqual(400);
    expect(replay.status).toBeLessThan(500);
    const again = await loginWithPassword(k, user.email, PASSWORD);
    const second = await sendCode(k, again.session_token!, user.phone);
    await sms.waitFor(user.phone);
    const reused = await errorBody(submitCode(k, second.flowId, again.session_token!, code));
    expect(reused.status).toBe(400);
    expect(messageIds(reused.body)).toContain(4010008);
    const whoami = await errorBody(k.frontend.toSession({ xSessionToken: again.session_token! }));
    expect(whoami.status).toBe(403);
  });

  it('threat: wrong SMS codes are counted by the limits every second factor shares (per identity across flows, per flow budget)', async () => {
    const user = await person();
    const first = await sendCode(k, user.token, user.phone);
    const code = smsCode(await sms.waitFor(user.phone));
    const wrong = code === '000000' ? '111111' : '000000';
    const refused = await errorBody(submitCode(k, first.flowId, user.token, wrong));
    expect(messageIds(refused.body)).toEqual(expect.arrayContaining([4010008, 4900800]));
    expect((await mfaOf(user.identityId)).lockout.consecutive_failures).toBe(1);
    // Another flow (and its own code) counts against the same identity.
    const second = await sendCode(k, user.token, user.phone);
    await sms.waitFor(user.phone);
    await errorBody(submitCode(k2, second.flowId, user.token, wrong));
    expect((await mfaOf(user.identityId)).lockout.consecutive_failures).toBe(2);
    const events = (await (await fetch(`${k.adminUrl}/admin/audit-events?identity_id=${user.identityId}&type=second_factor.rejected`)).json()) as any[];
    expect(events.map((e) => e.details.method)).toEqual(['code', 'code']);
    // Five consecutive wrong codes for the identity (across flows and instances): the next attempt, even with the
    // right code, is refused unchecked until the delay passes, and the code stays unused.
    for (let i = 0; i < 3; i++) await errorBody(submitCode(k, first.flowId, user.token, wrong));
    expect((await mfaOf(user.identityId)).lockout.consecutive_failures).toBe(5);
    const delayed = await errorBody(submitCode(k, first.flowId, user.token, code));
    expect(messageIds(delayed.body)).toContain(4900100);
    const open = await k.deps.db.selectFrom('one_time_codes').select('used_at').where('flow_id', '=', first.flowId).executeTakeFirstOrThrow();
    expect(open.used_at).toBeNull();
  });

  it('threat: one SMS code submitted to two instances at once is accepted once', async () => {
    const user = await person();
    const { flowId } = await sendCode(k, user.token, user.phone);
    const code = smsCode(await sms.waitFor(user.phone));
    const results = await Promise.allSettled([submitCode(k, flowId, user.token, code), submitCode(k2, flowId, user.token, code)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect((rejected.reason as { response: Response }).response.status).toBeLessThan(500);
    const used = await k.deps.db.selectFrom('one_time_codes').select(['used_at']).where('flow_id', '=', flowId).execute();
    expect(used.filter((r) => r.used_at !== null)).toHaveLength(1);
  });

  it('threat: SMS pumping and bombing are bounded: 5 codes per number and 10 per identity an hour', async () => {
    const other = number();
    const user = await person({ phone2: other.e164 });
    for (let i = 0; i < 5; i++) expect(messageIds((await sendCode(k, user.token, user.phone)).sent.body)).toContain(1010025);
    const sixth = await sendCode(k, user.token, user.phone);
    expect(messageIds(sixth.sent.body)).toContain(4900806);
    for (let i = 0; i < 5; i++) expect(messageIds((await sendCode(k2, user.token, other.e164)).sent.body)).toContain(1010025);
    // Ten codes for this identity: the email address, never used, is refused too (the per-identity limit).
    const eleventh = await sendCode(k, user.token, user.email);
    expect(messageIds(eleventh.sent.body)).toContain(4900806);
    const queued = await k.deps.db.selectFrom('courier_messages').select('recipient').where('template_type', '=', 'login_code_valid').where('recipient', 'in', [user.phone, other.e164, user.email]).execute();
    expect(queued).toHaveLength(10);
    // An hour later (injected clock) the number may receive codes again.
    k.clock.advanceSeconds(3601);
    expect(messageIds((await sendCode(k, user.token, user.phone)).sent.body)).toContain(1010025);
  });

  it('a provider failure is retried, audited without the code, and never turns into a 5xx for the person', async () => {
    const user = await person();
    sms.status = 503;
    try {
      const { sent } = await sendCode(k, user.token, user.phone);
      expect(sent.status).toBe(400);
      expect(messageIds(sent.body)).toContain(1010025);
      const failed = await (async () => {
        for (let i = 0; i < 200; i++) {
          const row = await k.deps.db.selectFrom('courier_messages').select(['id', 'status', 'send_count']).where('recipient', '=', user.phone).executeTakeFirst();
          if (row && row.send_count > 0) return row;
          await new Promise((r) => setTimeout(r, 25));
        }
        throw new Error('no delivery attempt');
      })();
      expect(failed.status).toBe('queued');
      const dispatch = await k.deps.db.selectFrom('courier_message_dispatches').selectAll().where('message_id', '=', failed.id).executeTakeFirstOrThrow();
      expect(JSON.parse(dispatch.error!)).toMatchObject({ response_code: 503 });
      expect(dispatch.error).not.toMatch(/\b\d{6}\b/);
    } finally {
      sms.status = 201;
    }
  });

  it('an unverified number is not a second factor and receives no code', async () => {
    const user = await person({ verified: false });
    const flow = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: user.token });
    expect(flow.ui.nodes.some((x: any) => x.attributes.name === 'address' && x.attributes.value === user.phone)).toBe(false);
    const { sent } = await sendCode(k, user.token, user.phone);
    expect(messageIds(sent.body)).toContain(4900805);
  });
});

describe.each(DIALECTS)('phone numbers without an SMS channel (%s)', (dialect) => {
  it('are not offered as a second factor (nothing could deliver the code) and a phone trait still validates as format tel', async () => {
    const k = await startKairos({ dialect, config: { identity: schemas, selfservice: { methods: { code: { mfa_enabled: true } } } } });
    try {
      const email = `nochannel-${dialect}@example.com`;
      const identity = await k.identityApi.createIdentity({
        createIdentityBody: {
          schema_id: 'phone',
          traits: { email, phone: '+4915123456701' },
          credentials: { password: { config: { password: PASSWORD } } },
          verifiable_addresses: [{ value: '+4915123456701', verified: true, via: 'sms', status: 'completed' }] as never,
        },
      });
      const login = await loginWithPassword(k, email, PASSWORD);
      expect((await k.frontend.toSession({ xSessionToken: login.session_token! })).authenticator_assurance_level).toBe('aal1');
      const flow = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: login.session_token! });
      expect(flow.ui.nodes.some((x: any) => x.attributes.value === '+4915123456701')).toBe(false);
      const bad = await errorBody(k.identityApi.createIdentity({ createIdentityBody: { schema_id: 'phone', traits: { email: `x-${dialect}@example.com`, phone: 'call me maybe' } } }));
      expect(bad.status).toBe(400);
      expect(identity.traits.phone).toBe('+4915123456701');
    } finally {
      await k.close();
    }
  });
});
