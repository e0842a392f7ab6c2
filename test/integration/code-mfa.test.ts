/**
 * Email codes as a second factor (Kratos's `code` method with `mfa_enabled: true`) end to end: the real HTTP API with
 * @ory/client-fetch, mail read from a real SMTP server (test/support/smtp.ts), on SQLite and PostgreSQL, with the
 * injected clock for expiry and two instances sharing one database for concurrent use of one code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, DIALECTS, startKairos, type TestDatabase, type TestKairos } from '../support/harness.js';
import { TestSmtpServer } from '../support/smtp.js';
import { loginWithPassword } from '../support/users.js';
import { errorBody, messageIds } from '../support/flows.js';

const PASSWORD = 'a long enough passphrase';
const codeIn = (text: string) => /\b(\d{6})\b/.exec(text)?.[1] ?? '';

describe.each(DIALECTS)('email code as second factor (%s)', (dialect) => {
  let smtp: TestSmtpServer;
  let database: TestDatabase;
  let k: TestKairos;
  let k2: TestKairos;
  let counter = 0;
  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    database = await createTestDatabase(dialect);
    const config = { courier: { smtp: { connection_uri: smtp.uri } }, selfservice: { methods: { code: { mfa_enabled: true, config: { lifespan: '15m' } } } } };
    k = await startKairos({ dialect, database, config });
    k2 = await startKairos({ dialect, database, config, clock: k.clock });
  });
  afterAll(async () => {
    await k2?.close();
    await k?.close();
    await database?.drop();
    await smtp?.stop();
  });

  /** An identity with a password and a verified email address (the code identifier of the default schema). */
  async function person(verified = true) {
    const email = `mfa${++counter}-${Math.random().toString(36).slice(2, 8)}@example.com`;
    const identity = await k.identityApi.createIdentity({
      createIdentityBody: {
        schema_id: 'default',
        traits: { email },
        credentials: { password: { config: { password: PASSWORD } } },
        verifiable_addresses: [{ value: email, verified, via: 'email', status: verified ? 'completed' : 'pending' }],
      },
    });
    const login = await loginWithPassword(k, email, PASSWORD);
    return { email, identityId: identity.id, token: login.session_token! };
  }

  async function sendCode(server: TestKairos, token: string, email: string) {
    const flow = await server.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: token });
    const sent = await errorBody(server.frontend.updateLoginFlow({ flow: flow.id, xSessionToken: token, updateLoginFlowBody: { method: 'code', address: email, csrf_token: '' } as never }));
    return { flowId: flow.id, sent };
  }

  function submitCode(server: TestKairos, flowId: string, token: string, code: string) {
    return server.frontend.updateLoginFlow({ flow: flowId, xSessionToken: token, updateLoginFlowBody: { method: 'code', code, csrf_token: '' } as never });
  }

  it('a verified address makes the code a second factor: Kratos\'s nodes, the mailed code completes aal2, and it works once', async () => {
    const user = await person();
    // highest_available: the identity has a second factor now, so the password alone is not enough.
    const whoami = await errorBody(k.frontend.toSession({ xSessionToken: user.token }));
    expect(whoami.status).toBe(403);
    expect(whoami.body.error.id).toBe('session_aal2_required');

    const flow = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: user.token });
    const address = flow.ui.nodes.find((n: any) => n.attributes.name === 'address') as any;
    expect(address.attributes).toMatchObject({ type: 'submit', value: user.email });
    expect(address.meta.label).toMatchObject({ id: 1010023, context: { address: user.email, channel: 'email' } });

    const { flowId, sent } = await sendCode(k, user.token, user.email);
    expect(sent.status).toBe(400);
    expect(sent.body.state).toBe('sent_email');
    expect(messageIds(sent.body)).toContain(1010025);
    expect(sent.body.ui.nodes.map((n: any) => `${n.attributes.name}:${n.attributes.type}`)).toEqual(['csrf_token:hidden', 'code:text', 'address:hidden', 'method:submit', 'resend:submit']);
    const mail = await smtp.waitFor(user.email);
    expect(mail.subject).toBe('Your sign-in code');
    const code = codeIn(mail.text);
    expect(JSON.stringify(sent.body)).not.toContain(code);

    const done = await submitCode(k, flowId, user.token, code);
    expect(done.session.authenticator_assurance_level).toBe('aal2');
    expect(done.session.authentication_methods?.map((m) => m.method)).toEqual(['password', 'code']);

    // Reuse: the same code on a new sign-in is refused (it belonged to the finished flow, and is spent).
    const again = await loginWithPassword(k, user.email, PASSWORD);
    const second = await sendCode(k, again.session_token!, user.email);
    await smtp.waitFor(user.email);
    const reused = await errorBody(submitCode(k, second.flowId, again.session_token!, code));
    expect(reused.status).toBe(400);
    expect(messageIds(reused.body)).toContain(4010008);
  });

  it('an unverified address is not a second factor and receives no code', async () => {
    const user = await person(false);
    const whoami = await k.frontend.toSession({ xSessionToken: user.token });
    expect(whoami.authenticator_assurance_level).toBe('aal1');
    const flow = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: user.token });
    expect(flow.ui.nodes.some((n: any) => n.group === 'code')).toBe(false);
    const { sent } = await sendCode(k, user.token, user.email);
    expect(messageIds(sent.body)).toContain(4000035);
  });

  it('an expired code is refused with the reason (injected clock)', async () => {
    const user = await person();
    const { flowId } = await sendCode(k, user.token, user.email);
    const code = codeIn((await smtp.waitFor(user.email)).text);
    k.clock.advanceSeconds(16 * 60);
    const late = await errorBody(submitCode(k, flowId, user.token, code));
    expect(messageIds(late.body)).toEqual(expect.arrayContaining([4010008, 4900801]));
  });

  it('threat: wrong codes are counted by the limits every second factor shares', async () => {
    const user = await person();
    const { flowId } = await sendCode(k, user.token, user.email);
    const code = codeIn((await smtp.waitFor(user.email)).text);
    const wrong = code === '000000' ? '111111' : '000000';
    const refused = await errorBody(submitCode(k, flowId, user.token, wrong));
    expect(messageIds(refused.body)).toEqual(expect.arrayContaining([4010008, 4900800]));
    const mfa = await (await fetch(`${k.adminUrl}/admin/identities/${user.identityId}/mfa`)).json();
    expect(mfa.lockout.consecutive_failures).toBe(1);
    expect(mfa.code).toEqual({ addresses: 1, channel: 'email', channels: ['email'] });
    // Four more wrong codes use up the flow's budget: even the right code is then refused unchecked.
    for (let i = 0; i < 4; i++) await errorBody(submitCode(k, flowId, user.token, wrong));
    const dead = await errorBody(submitCode(k, flowId, user.token, code));
    expect(messageIds(dead.body)).toContain(4900102);
  });

  it('threat: one code submitted to two instances at once is accepted once', async () => {
    const user = await person();
    const { flowId } = await sendCode(k, user.token, user.email);
    const code = codeIn((await smtp.waitFor(user.email)).text);
    const results = await Promise.allSettled([submitCode(k, flowId, user.token, code), submitCode(k2, flowId, user.token, code)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect((rejected.reason as { response: Response }).response.status).toBeLessThan(500);
  });

  it('threat: mail bombing is bounded; sends are limited per address', async () => {
    const user = await person();
    for (let i = 0; i < 5; i++) {
      const { sent } = await sendCode(k, user.token, user.email);
      expect(messageIds(sent.body)).toContain(1010025);
    }
    const { sent } = await sendCode(k, user.token, user.email);
    expect(messageIds(sent.body)).toContain(4900806);
  });
});
