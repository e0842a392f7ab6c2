/**
 * `web_hook` after recovery and after verification (Kratos: only the flow-wide `selfservice.flows.recovery.after.hooks`
 * and `….verification.after.hooks`; driver/registry_default_{recovery,verification}.go), through the public API
 * against a real local receiver, on both dialects: what the receiver gets (Kratos's `ctx.identity` and `ctx.flow`,
 * no `ctx.session`: web_hook.go ExecutePostRecoveryHook / ExecutePostVerificationHook), what a `can_interrupt`
 * answer with messages does, and what a receiver that is down does.
 *
 * Recovery: the hooks answer before anything of the recovery is written, so a refusal or an unreachable receiver
 * leaves no session, the other sessions alive, no settings flow, no completed MFA reset (Kratos, too, issues the
 * session only after its hooks: strategy_recovery.go recoveryIssueSession). The emailed code is spent, as in Kratos;
 * the flow takes a new one. Verification: Kratos stores the address as verified before its hooks run
 * (strategy_verification.go), so a refusal is shown but the address stays verified; Kairos does the same.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RecoveryFlow } from '@ory/client-fetch';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { errorBody, globalMessages, messageIds } from '../support/flows.js';
import { HookReceiver, json, until } from '../support/hook-receiver.js';
import { TestSmtpServer } from '../support/smtp.js';
import { BrowserClient, csrfTokenOf } from '../support/browser-client.js';
import { registerWithPassword, loginWithPassword } from '../support/users.js';

const PASSWORD = 'a long enough passphrase';
const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const codeIn = (text: string) => /\b(\d{6})\b/.exec(text)?.[1] ?? '';
const refusal = (text: string, pointer = '#/') => ({ messages: [{ instance_ptr: pointer, messages: [{ id: 4000999, text, type: 'error', context: { reason: 'policy' } }] }] });

const receiver = new HookReceiver();
beforeAll(async () => {
  await receiver.start();
});
afterAll(async () => receiver.stop());
beforeEach(() => receiver.reset());

describe.each(DIALECTS)('web_hook after recovery (%s)', (dialect) => {
  let k: TestKairos;
  let smtp: TestSmtpServer;
  let counter = 0;
  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    k = await startKairos({
      dialect,
      config: {
        courier: { smtp: { connection_uri: smtp.uri } },
        clients: { web_hook: { timeout: '5s' } }, // no test here waits for a timeout; a short one retried calls under load
        selfservice: {
          methods: { totp: { enabled: true } },
          flows: {
            recovery: {
              after: {
                hooks: [
                  receiver.hook('/recovery', { can_interrupt: true, auth: { type: 'api_key', config: { name: 'X-Hook-Key', value: 'rk-1', in: 'header' } } }),
                  receiver.hook('/recovery-async', { response: { ignore: true } }),
                ],
              },
            },
          },
        },
      },
    });
  });
  afterAll(async () => {
    await k?.close();
    await smtp?.stop();
  });

  /** An identity with a verified recovery address (optionally TOTP and backup codes), and a session it already has. */
  async function identity(options: { totp?: boolean } = {}) {
    const email = `hook-rec${++counter}-${dialect}@example.com`;
    const credentials: Record<string, unknown> = { password: { config: { password: PASSWORD } } };
    if (options.totp) {
      credentials.totp = { config: { totp_url: `otpauth://totp/Kairos:${email}?secret=${SECRET}&issuer=Kairos` } };
      credentials.lookup_secret = { config: { codes: [{ code: 'abcd2345wxyz' }] } };
    }
    const created = await k.identityApi.createIdentity({
      createIdentityBody: { schema_id: 'default', traits: { email }, credentials: credentials as any, verifiable_addresses: [{ value: email, verified: true, via: 'email', status: 'completed' }] as any },
    });
    const other = options.totp ? null : await loginWithPassword(k, email, PASSWORD);
    return { email, id: created.id, otherToken: other?.session_token ?? null };
  }

  /** A new code for `email` in `flowId` (a new flow when none is given), read from the mail. */
  async function codeFor(email: string, flowId?: string): Promise<{ flow: RecoveryFlow; code: string }> {
    const id = flowId ?? (await k.frontend.createNativeRecoveryFlow()).id;
    const before = smtp.received.length;
    const flow = await k.frontend.updateRecoveryFlow({ flow: id, updateRecoveryFlowBody: { method: 'code', email } });
    const mail = await until(() => smtp.received.slice(before).find((m) => m.to.includes(email) && /recover/i.test(m.subject)), `the recovery mail to ${email}`);
    return { flow, code: codeIn(mail.text) };
  }

  const submitCode = (flowId: string, code: string) => k.frontend.updateRecoveryFlow({ flow: flowId, updateRecoveryFlowBody: { method: 'code', code } });
  const sessionsOf = async (id: string) => (await k.deps.sessions.listForIdentity(id)).filter((s) => s.active);
  const completed = async (id: string) => (await k.deps.audit.list({ identityId: id, types: ['recovery.completed'], pageSize: 10 })).length;
  const settingsFlows = async (id: string) => (await k.deps.db.selectFrom('selfservice_flows').select('id').where('kind', '=', 'settings').where('identity_id', '=', id).execute()).length;

  it('the receiver gets the recovered identity and the recovery flow (no ctx.session, as Kratos), with the api_key; the background hook runs after commit', async () => {
    const user = await identity();
    const { flow, code } = await codeFor(user.email);
    const done = await submitCode(flow.id, code);
    expect(done.state).toBe('passed_challenge');
    const token = (done.continue_with as any[]).find((c) => c.action === 'set_ory_session_token').ory_session_token as string;
    expect((await k.frontend.toSession({ xSessionToken: token })).identity?.id).toBe(user.id);

    const [call] = receiver.to('/recovery');
    expect(receiver.to('/recovery')).toHaveLength(1);
    expect(call!.headers['x-hook-key']).toBe('rk-1');
    expect(call!.body).toMatchObject({
      identity_id: user.id,
      traits: { email: user.email },
      flow_id: flow.id,
      flow_type: 'api',
      session_id: null,
      method: 'POST',
      url: `${k.publicUrl}/self-service/recovery?flow=${flow.id}`,
    });
    expect(call!.body.verifiable_addresses).toEqual([expect.objectContaining({ value: user.email, verified: true, via: 'email' })]);
    // The emailed code is never passed on.
    expect(JSON.stringify(call!.body)).not.toContain(code);
    const background = await until(() => receiver.to('/recovery-async')[0], 'the response.ignore hook');
    expect(background.body.identity_id).toBe(user.id);
  });

  it('can_interrupt: the receiver\'s messages refuse the recovery in the flow (400); no session, other sessions alive, nothing completed; a new code works once it agrees', async () => {
    const user = await identity();
    receiver.handlers.set('/recovery', (_r, res) => json(res, 403, refusal('Recovery is locked for this account.')));
    const { flow, code } = await codeFor(user.email);
    const { status, body } = await errorBody(submitCode(flow.id, code));
    expect(status).toBe(400);
    expect(body.id).toBe(flow.id);
    expect(body.state).toBe('sent_email');
    expect(globalMessages(body)).toEqual([{ id: 4000999, text: 'Recovery is locked for this account.', type: 'error', context: { reason: 'policy' } }]);
    expect(body.continue_with ?? []).toEqual([]);
    // Nothing of the recovery was written: no new session, the one it had still works, no settings flow, no event.
    expect(await sessionsOf(user.id)).toHaveLength(1);
    expect((await k.frontend.toSession({ xSessionToken: user.otherToken! })).active).toBe(true);
    expect(await settingsFlows(user.id)).toBe(0);
    expect(await completed(user.id)).toBe(0);
    // The background hook runs only for a recovery that committed.
    await new Promise((r) => setTimeout(r, 100));
    expect(receiver.to('/recovery-async')).toHaveLength(0);
    // The code is spent (as in Kratos); the same flow takes a new one, and recovers once the receiver agrees.
    expect((await errorBody(submitCode(flow.id, code))).status).toBe(400);
    receiver.handlers.delete('/recovery');
    const again = await codeFor(user.email, flow.id);
    const done = await submitCode(flow.id, again.code);
    expect(done.state).toBe('passed_challenge');
    expect(await completed(user.id)).toBe(1);
    expect((await errorBody(k.frontend.toSession({ xSessionToken: user.otherToken! }))).status).toBe(401);
  });

  it('receiver down: 502 in Kratos\'s error shape (retried twice); no session, the other sessions alive, nothing completed', async () => {
    const user = await identity();
    receiver.handlers.set('/recovery', (_r, res) => res.socket?.destroy());
    const { flow, code } = await codeFor(user.email);
    const { status, body } = await errorBody(submitCode(flow.id, code));
    expect(status).toBe(502);
    expect(body.error).toMatchObject({ code: 502, status: 'Bad Gateway', reason: 'A third-party upstream service could not be reached. Please try again later.' });
    expect(receiver.to('/recovery')).toHaveLength(3);
    expect(await sessionsOf(user.id)).toHaveLength(1);
    expect((await k.frontend.toSession({ xSessionToken: user.otherToken! })).active).toBe(true);
    expect(await settingsFlows(user.id)).toBe(0);
    expect(await completed(user.id)).toBe(0);
    expect((await k.frontend.getRecoveryFlow({ id: flow.id })).state).toBe('sent_email');
  });

  it('with a second factor: a refusal after the password step leaves the second factor and the MFA reset pending', async () => {
    const user = await identity({ totp: true });
    const { flow, code } = await codeFor(user.email);
    const step = await submitCode(flow.id, code);
    // The code proved the mailbox; the MFA reset step asks for the password. No hook yet: nothing is recovered.
    expect(receiver.to('/recovery')).toHaveLength(0);
    receiver.handlers.set('/recovery', (_r, res) => json(res, 403, refusal('Not now.')));
    const { status, body } = await errorBody(k.frontend.updateRecoveryFlow({ flow: step.id, updateRecoveryFlowBody: { method: 'password', password: PASSWORD } as any }));
    expect(status).toBe(400);
    expect(globalMessages(body).map((m: any) => m.text)).toEqual(['Not now.']);
    const stored = await k.identityApi.getIdentity({ id: user.id, includeCredential: ['totp'] });
    expect(stored.credentials?.totp).toBeDefined();
    const resets = await k.deps.db.selectFrom('mfa_reset_requests').select('status').where('identity_id', '=', user.id).execute();
    expect(resets.map((r) => r.status)).toEqual(['pending']);
    expect(await sessionsOf(user.id)).toHaveLength(0);
    // Once the receiver agrees, the password completes the reset.
    receiver.handlers.delete('/recovery');
    const done = await k.frontend.updateRecoveryFlow({ flow: step.id, updateRecoveryFlowBody: { method: 'password', password: PASSWORD } as any });
    expect(done.state).toBe('passed_challenge');
    expect((await k.identityApi.getIdentity({ id: user.id })).credentials?.totp).toBeUndefined();
  });

  it('browser: a refusal sends the browser back to the recovery form, which shows the receiver\'s message; no session cookie', async () => {
    const user = await identity();
    receiver.handlers.set('/recovery', (_r, res) => json(res, 400, refusal('Call the helpdesk first.')));
    const browser = new BrowserClient(k.publicUrl);
    const { id, flow } = await browser.startFlow('recovery');
    const csrf = csrfTokenOf(flow);
    const before = smtp.received.length;
    await browser.postForm(`/self-service/recovery?flow=${id}`, { csrf_token: csrf, method: 'code', email: user.email });
    const mail = await until(() => smtp.received.slice(before).find((m) => m.to.includes(user.email)), 'the recovery mail');
    const answer = await browser.postForm(`/self-service/recovery?flow=${id}`, { csrf_token: csrf, method: 'code', code: codeIn(mail.text) });
    expect(answer.status).toBe(303);
    expect(answer.headers.get('location')).toContain(`/ui/recovery?flow=${id}`);
    expect(browser.cookies.has('ory_kratos_session')).toBe(false);
    const shown = await (await browser.get(`/self-service/recovery/flows?id=${id}`, { accept: 'application/json' })).json();
    expect(globalMessages(shown).map((m: any) => m.text)).toEqual(['Call the helpdesk first.']);
    expect(await sessionsOf(user.id)).toHaveLength(1);
  });

  it('an admin recovery link (followed outside a step): a receiver that is down fails it in Kratos\'s shape; no session', async () => {
    const user = await identity();
    receiver.handlers.set('/recovery', (_r, res) => res.socket?.destroy());
    const created = await fetch(`${k.adminUrl}/admin/recovery/link`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ identity_id: user.id }) });
    const { recovery_link: link } = (await created.json()) as { recovery_link: string };
    const followed = await fetch(link, { redirect: 'manual', headers: { accept: 'application/json' } });
    expect(followed.status).toBe(502);
    expect(((await followed.json()) as any).error).toMatchObject({ code: 502, reason: 'A third-party upstream service could not be reached. Please try again later.' });
    expect(followed.headers.get('set-cookie') ?? '').not.toContain('ory_kratos_session=');
    expect(await sessionsOf(user.id)).toHaveLength(1);
    expect(await completed(user.id)).toBe(0);
  });
});

describe.each(DIALECTS)('web_hook after verification (%s)', (dialect) => {
  let k: TestKairos;
  let smtp: TestSmtpServer;
  let counter = 0;
  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    k = await startKairos({
      dialect,
      config: {
        courier: { smtp: { connection_uri: smtp.uri } },
        clients: { web_hook: { timeout: '5s' } }, // no test here waits for a timeout; a short one retried calls under load
        selfservice: { flows: { verification: { after: { hooks: [receiver.hook('/verification', { can_interrupt: true })] } } } },
      },
    });
  });
  afterAll(async () => {
    await k?.close();
    await smtp?.stop();
  });

  /** A registered identity and the verification flow and code its registration mailed. */
  async function registered() {
    const email = `hook-ver${++counter}-${dialect}@example.com`;
    const { result, identityId } = await registerWithPassword(k, email, PASSWORD);
    const flowId = (result.continue_with?.find((c: any) => c.action === 'show_verification_ui') as any).flow.id as string;
    const mail = await smtp.waitFor(email);
    return { email, identityId, flowId, code: codeIn(mail.text) };
  }
  const verified = async (id: string) => (await k.identityApi.getIdentity({ id })).verifiable_addresses?.[0]?.verified;

  it('the receiver gets the identity with its address now verified and the passed verification flow (no ctx.session, as Kratos)', async () => {
    const user = await registered();
    const done = await k.frontend.updateVerificationFlow({ flow: user.flowId, updateVerificationFlowBody: { method: 'code', code: user.code } });
    expect(done.state).toBe('passed_challenge');
    expect(messageIds(done)).toContain(1080002);
    const [call] = receiver.to('/verification');
    expect(receiver.to('/verification')).toHaveLength(1);
    expect(call!.body).toMatchObject({ identity_id: user.identityId, traits: { email: user.email }, flow_id: user.flowId, flow_type: 'api', flow_state: 'passed_challenge', session_id: null, method: 'POST' });
    expect(call!.body.verifiable_addresses).toEqual([expect.objectContaining({ value: user.email, verified: true, status: 'completed' })]);
    expect(JSON.stringify(call!.body)).not.toContain(user.code);
  });

  it('can_interrupt: the receiver\'s messages are shown in the flow (400); the address stays verified, as in Kratos', async () => {
    const user = await registered();
    receiver.handlers.set('/verification', (_r, res) => json(res, 409, refusal('Your account is waiting for approval.')));
    const { status, body } = await errorBody(k.frontend.updateVerificationFlow({ flow: user.flowId, updateVerificationFlowBody: { method: 'code', code: user.code } }));
    expect(status).toBe(400);
    expect(body.id).toBe(user.flowId);
    expect(globalMessages(body)).toEqual([{ id: 4000999, text: 'Your account is waiting for approval.', type: 'error', context: { reason: 'policy' } }]);
    expect(await verified(user.identityId)).toBe(true);
  });

  it('receiver down: 502 in Kratos\'s error shape; the address stays verified, and the flow cannot be replayed', async () => {
    const user = await registered();
    receiver.handlers.set('/verification', (_r, res) => res.socket?.destroy());
    const { status, body } = await errorBody(k.frontend.updateVerificationFlow({ flow: user.flowId, updateVerificationFlowBody: { method: 'code', code: user.code } }));
    expect(status).toBe(502);
    expect(body.error).toMatchObject({ code: 502, reason: 'A third-party upstream service could not be reached. Please try again later.' });
    expect(receiver.to('/verification')).toHaveLength(3);
    expect(await verified(user.identityId)).toBe(true);
    const again = await errorBody(k.frontend.updateVerificationFlow({ flow: user.flowId, updateVerificationFlowBody: { method: 'code', code: user.code } }));
    expect(again.status).toBe(400);
  });

  it('the emailed link in a browser (outside a step): the hook runs; a refusal lands on the verification page with its message', async () => {
    const user = await registered();
    const browser = new BrowserClient(k.publicUrl);
    const { id, flow } = await browser.startFlow('verification');
    const before = smtp.received.length;
    await browser.postForm(`/self-service/verification?flow=${id}`, { csrf_token: csrfTokenOf(flow), method: 'code', email: user.email });
    const mail = await until(() => smtp.received.slice(before).find((m) => m.to.includes(user.email)), 'the verification mail');
    const link = /(http:\/\/\S+\/self-service\/verification\?\S+)/.exec(mail.text)![1]!;
    receiver.handlers.set('/verification', (_r, res) => json(res, 400, refusal('Approval pending.')));
    const followed = await browser.get(link, { accept: 'text/html' });
    expect(followed.status).toBe(303);
    expect(followed.headers.get('location')).toContain(`/ui/verification?flow=${id}`);
    expect(receiver.to('/verification')[0]!.body).toMatchObject({ identity_id: user.identityId, flow_id: id, flow_type: 'browser' });
    const shown = await (await browser.get(`/self-service/verification/flows?id=${id}`, { accept: 'application/json' })).json();
    expect(globalMessages(shown).map((m: any) => m.text)).toEqual(['Approval pending.']);
    expect(await verified(user.identityId)).toBe(true);
  });
});
