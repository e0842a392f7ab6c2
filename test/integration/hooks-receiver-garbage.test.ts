/**
 * A receiver that answers garbage to a hook whose answer Kairos acts on (`can_interrupt`, `response.parse`), through
 * the public API on both dialects: an answer that is not JSON, JSON of the wrong shape (messages not an array,
 * identity not an object, fields of the wrong type), traits the schema refuses, an answer past MAX_RESPONSE_BYTES
 * or nested past MAX_JSON_DEPTH. Each fails the step in Kratos's error shape (502, or the flow with the schema's
 * messages), never a 500, and writes nothing of the step: no half-registered identity, no half-applied settings
 * change. The log names the hook (id, URL without its query, config key) and never the answer's body.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ServerResponse } from 'node:http';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { errorBody } from '../support/flows.js';
import { HookReceiver, json } from '../support/hook-receiver.js';
import { loginWithPassword, registerWithPassword } from '../support/users.js';
import { MAX_JSON_DEPTH, MAX_RESPONSE_BYTES } from '../../src/hooks/web-hook.js';

const PASSWORD = 'a long enough passphrase';
/** What a receiver's error page might echo back: must never reach a log line. */
const BODY_SECRET = 'sk_live_BODY-SECRET-0451';
/** A token in the hook's URL: the log shows the URL without its query. */
const URL_SECRET = 'url-secret-7788';
const REGISTRATION = `/registration?token=${URL_SECRET}`;

const receiver = new HookReceiver();
beforeAll(async () => {
  await receiver.start();
});
afterAll(async () => receiver.stop());
beforeEach(() => receiver.reset());

const text = (res: ServerResponse, status: number, body: string, type = 'application/json') => res.writeHead(status, { 'content-type': type }).end(body);

describe.each(DIALECTS)('garbage from a web hook receiver (%s)', (dialect) => {
  let k: TestKairos;
  let counter = 0;
  beforeAll(async () => {
    k = await startKairos({
      dialect,
      config: {
        clients: { web_hook: { timeout: '2s' } },
        selfservice: {
          flows: {
            registration: { after: { password: { hooks: [receiver.hook(REGISTRATION, { id: 'crm-check', can_interrupt: true, response: { parse: true } }), { hook: 'session' }] } } },
            login: { after: { password: { hooks: [receiver.hook('/login', { can_interrupt: true })] } } },
            settings: {
              after: {
                profile: { hooks: [receiver.hook('/settings-profile', { response: { parse: true } })] },
                password: { hooks: [receiver.hook('/settings-password', { response: { parse: true } })] },
              },
            },
          },
        },
      },
    });
  });
  afterAll(async () => k?.close());

  const count = async () => Number((await k.deps.db.selectFrom('identities').select((e) => e.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const email = () => `garbage${++counter}-${dialect}@example.com`;

  /** Registers with the receiver answering `answer`; the status, the body, and whether anything was stored. */
  async function registerAgainst(answer: (res: ServerResponse) => void) {
    receiver.handlers.set(REGISTRATION, (_r, res) => answer(res));
    const before = await count();
    const address = email();
    const flow = await k.frontend.createNativeRegistrationFlow();
    const failed = await errorBody(k.frontend.updateRegistrationFlow({ flow: flow.id, updateRegistrationFlowBody: { method: 'password', traits: { email: address }, password: PASSWORD } }));
    const stored = (await count()) - before;
    const found = await k.identityApi.listIdentities({ credentialsIdentifier: address });
    return { ...failed, stored: stored + found.length, flowId: flow.id };
  }

  const improper = { code: 502, status: 'Bad Gateway', reason: 'A third-party upstream service responded improperly. Please try again later.' };

  it.each([
    ['a 200 that is not JSON', (res: ServerResponse) => text(res, 200, `<html>${BODY_SECRET}</html>`, 'text/html'), /not JSON/],
    ['a 200 whose identity is not an object', (res: ServerResponse) => json(res, 200, { identity: BODY_SECRET }), /identity is not an object/],
    ['a 200 whose traits are not an object', (res: ServerResponse) => json(res, 200, { identity: { traits: [BODY_SECRET] } }), /traits is not an object/],
    ['a 200 whose addresses are not objects', (res: ServerResponse) => json(res, 200, { identity: { verifiable_addresses: [BODY_SECRET] } }), /verifiable_addresses holds an entry/],
    ['a 200 with a state Kairos does not know', (res: ServerResponse) => json(res, 200, { identity: { state: BODY_SECRET } }), /state is neither/],
    ['a 200 that is a JSON array', (res: ServerResponse) => json(res, 200, [BODY_SECRET]), /not an object/],
    ['a 403 that is not JSON', (res: ServerResponse) => text(res, 403, `denied ${BODY_SECRET}`, 'text/plain'), /not JSON/],
    ['a 403 whose messages is not an array', (res: ServerResponse) => json(res, 403, { messages: BODY_SECRET }), /messages is not an array/],
    ['a 403 whose group messages is not an array', (res: ServerResponse) => json(res, 403, { messages: [{ instance_ptr: '#/traits/email', messages: BODY_SECRET }] }), /group's messages is not an array/],
    ['a 403 whose message id is not a number', (res: ServerResponse) => json(res, 403, { messages: [{ instance_ptr: '#/', messages: [{ id: BODY_SECRET, text: 'x', type: 'error' }] }] }), /id is not an integer/],
    ['a 403 with no message group', (res: ServerResponse) => json(res, 403, { messages: [], detail: BODY_SECRET }), /missing or empty/],
  ])('registration, %s: 502 in Kratos\'s shape, nothing stored', async (_what, answer, why) => {
    const { status, body, stored } = await registerAgainst(answer);
    expect(status).toBe(502);
    expect(body.error).toMatchObject(improper);
    expect(body.error.message).toMatch(why);
    expect(JSON.stringify(body)).not.toContain(BODY_SECRET);
    expect(stored).toBe(0);
  });

  it('the log line names the hook (id, URL without its query, config key), never the answer\'s body', async () => {
    await registerAgainst((res) => text(res, 200, `<html>${BODY_SECRET}</html>`, 'text/html'));
    const line = k.logs.records().reverse().find((r) => r.msg === 'Webhook request failed') as any;
    expect(line).toBeDefined();
    expect(line.web_hook).toEqual({ id: 'crm-check', url: `${receiver.url('/registration')}?[redacted]`, key: 'selfservice.flows.registration.after.password.hooks[0]' });
    expect(k.logs.text()).not.toContain(BODY_SECRET);
    expect(k.logs.text()).not.toContain(URL_SECRET);
  });

  it('an answer larger than MAX_RESPONSE_BYTES (by its Content-Length): 502 saying so, nothing stored', async () => {
    const huge = JSON.stringify({ identity: { metadata_public: { blob: 'x'.repeat(MAX_RESPONSE_BYTES) } } });
    const { status, body, stored } = await registerAgainst((res) => text(res, 200, huge));
    expect(status).toBe(502);
    expect(body.error.message).toBe(`webhook response is larger than ${MAX_RESPONSE_BYTES} bytes`);
    expect(stored).toBe(0);
  });

  it('an answer streamed without end (no Content-Length): reading stops at the limit with 502, long before the timeout', async () => {
    let written = 0;
    const started = Date.now();
    const { status, body, stored } = await registerAgainst((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"identity":{"metadata_public":"');
      const chunk = 'y'.repeat(64 * 1024);
      const pump = () => {
        // Until Kairos hangs up: it stops reading once the answer passed the limit.
        while (!res.destroyed && written < 64 * MAX_RESPONSE_BYTES && res.write(chunk)) written += chunk.length;
        if (!res.destroyed && written < 64 * MAX_RESPONSE_BYTES) res.once('drain', pump);
      };
      pump();
    });
    expect(status).toBe(502);
    expect(body.error.message).toBe(`webhook response is larger than ${MAX_RESPONSE_BYTES} bytes`);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(written).toBeLessThan(16 * MAX_RESPONSE_BYTES);
    expect(stored).toBe(0);
  });

  it(`JSON nested deeper than MAX_JSON_DEPTH (${MAX_JSON_DEPTH}): 502 instead of a crash, nothing stored`, async () => {
    const depth = 100_000;
    const deep = `{"identity":{"metadata_public":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
    const { status, body, stored } = await registerAgainst((res) => text(res, 200, deep));
    expect(status).toBe(502);
    expect(body.error.message).toMatch(/nested deeper than/);
    expect(stored).toBe(0);
  });

  it('a 200 with traits the schema refuses: the flow with the schema\'s message on the field (400), nothing stored', async () => {
    const { status, body, stored } = await registerAgainst((res) => json(res, 200, { identity: { traits: { email: 'not-an-email' } } }));
    expect(status).toBe(400);
    expect(body.ui.nodes.find((n: any) => n.attributes.name === 'traits.email').messages.map((m: any) => m.id)).toEqual([4000004]);
    expect(stored).toBe(0);
  });

  it('a 200 naming a schema that does not exist: the flow with the message (400), nothing stored', async () => {
    const { status, body, stored } = await registerAgainst((res) => json(res, 200, { identity: { schema_id: 'no-such-schema' } }));
    expect(status).toBe(400);
    expect(JSON.stringify(body.ui)).toContain('no-such-schema');
    expect(stored).toBe(0);
  });

  it('a can_interrupt hook (no response.parse) that answers 200 with garbage: the login goes ahead, as in Kratos (a 200 is not read)', async () => {
    const address = email();
    receiver.handlers.set(REGISTRATION, (_r, res) => res.writeHead(204).end());
    await registerWithPassword(k, address, PASSWORD);
    receiver.handlers.set('/login', (_r, res) => text(res, 200, `<html>${BODY_SECRET}`, 'text/html'));
    const login = await loginWithPassword(k, address, PASSWORD);
    expect(login.session_token).toMatch(/^ory_st_/);
  });

  it('settings, profile: traits the schema refuses leave the identity as it was (400 with the schema\'s message)', async () => {
    const address = email();
    receiver.handlers.set(REGISTRATION, (_r, res) => res.writeHead(204).end());
    const { token, identityId } = await registerWithPassword(k, address, PASSWORD);
    receiver.handlers.set('/settings-profile', (_r, res) => json(res, 200, { identity: { traits: { email: 'not-an-email' } } }));
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: token });
    const { status, body } = await errorBody(k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: token, updateSettingsFlowBody: { method: 'profile', traits: { email: address, name: 'Changed' } } }));
    expect(status).toBe(400);
    expect(body.ui.nodes.find((n: any) => n.attributes.name === 'traits.email').messages.map((m: any) => m.id)).toEqual([4000004]);
    expect((await k.identityApi.getIdentity({ id: identityId })).traits).toEqual({ email: address });
  });

  it('settings, profile: a parsing hook that gives the identity another identity\'s email: 400 (Kratos\'s 4000007), nothing changed, never a 500', async () => {
    const taken = email();
    const address = email();
    await registerWithPassword(k, taken, PASSWORD);
    const { token, identityId } = await registerWithPassword(k, address, PASSWORD);
    receiver.handlers.set('/settings-profile', (_r, res) => json(res, 200, { identity: { traits: { email: taken } } }));
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: token });
    const { status, body } = await errorBody(k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: token, updateSettingsFlowBody: { method: 'profile', traits: { email: address, name: 'Changed' } } }));
    expect(status).toBe(400);
    expect(body.ui.messages.map((m: any) => m.id)).toEqual([4000007]);
    expect((await k.identityApi.getIdentity({ id: identityId })).traits).toEqual({ email: address });
  });

  it('settings, password: a parsing hook\'s refused traits leave the password unchanged (no half-applied change)', async () => {
    const address = email();
    receiver.handlers.set(REGISTRATION, (_r, res) => res.writeHead(204).end());
    const { token, identityId } = await registerWithPassword(k, address, PASSWORD);
    receiver.handlers.set('/settings-password', (_r, res) => json(res, 200, { identity: { traits: { email: 42 } } }));
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: token });
    const { status } = await errorBody(k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: token, updateSettingsFlowBody: { method: 'password', password: 'an entirely new passphrase' } }));
    expect(status).toBe(400);
    expect((await loginWithPassword(k, address, PASSWORD)).session_token).toMatch(/^ory_st_/);
    expect((await errorBody(loginWithPassword(k, address, 'an entirely new passphrase'))).status).toBe(400);
    expect((await k.identityApi.getIdentity({ id: identityId })).traits).toEqual({ email: address });
    // Garbage of the wrong JSON type: 502, and the password still unchanged.
    receiver.handlers.set('/settings-password', (_r, res) => json(res, 200, { identity: { traits: 'x' } }));
    const again = await k.frontend.createNativeSettingsFlow({ xSessionToken: token });
    expect((await errorBody(k.frontend.updateSettingsFlow({ flow: again.id, xSessionToken: token, updateSettingsFlowBody: { method: 'password', password: 'an entirely new passphrase' } }))).status).toBe(502);
    expect((await loginWithPassword(k, address, PASSWORD)).session_token).toMatch(/^ory_st_/);
  });
});
