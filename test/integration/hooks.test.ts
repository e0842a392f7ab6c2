/**
 * Kratos's self-service hooks through the public API, against a real local HTTP receiver (node:http on loopback),
 * with web_hook bodies rendered by the real Jsonnet implementation, on both dialects: what a receiver gets, what its
 * answers do to the flow (refusal with messages, changed traits, errors in Kratos's shape), that nothing of a refused
 * step is written, that a background hook's failure never fails the step, the private-address refusal, and the
 * built-in require_verified_address and revoke_active_sessions.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { loginWithPassword, registerWithPassword } from '../support/users.js';
import { errorBody, globalMessages } from '../support/flows.js';

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: any;
}

type Handler = (request: Received, response: ServerResponse) => void;

const handlers = new Map<string, Handler>();
let received: Received[] = [];
let receiver: Server;
let base: string;
let port: number;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // a form body or nothing
      }
      const request = { path: req.url!, headers: req.headers, body };
      received.push(request);
      (handlers.get(req.url!) ?? ((_r, response) => response.writeHead(204).end()))(request, res);
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  port = (receiver.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
});
beforeEach(() => {
  received = [];
  handlers.clear();
});

const json = (res: ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
const base64 = (text: string) => `base64://${Buffer.from(text).toString('base64')}`;
const to = (path: string) => received.filter((r) => r.path === path);

async function until<T>(check: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The template of Kratos's docs, passing on what a receiver usually wants from `ctx`. */
const BODY = base64(`function(ctx) {
  identity_id: if std.objectHas(ctx, 'identity') then ctx.identity.id else null,
  traits: if std.objectHas(ctx, 'identity') then ctx.identity.traits else null,
  flow_id: ctx.flow.id,
  flow_type: ctx.flow.type,
  session_id: if std.objectHas(ctx, 'session') then ctx.session.id else null,
  method: ctx.request_method,
  url: ctx.request_url,
  headers: ctx.request_headers,
  cookies: ctx.request_cookies,
}`);

const hook = (path: string, extra: Record<string, unknown> = {}) => ({ hook: 'web_hook', config: { url: `http://127.0.0.1:PORT${path}`, method: 'POST', body: BODY, ...extra } });

/** Replaces the receiver's port placeholder (the receiver starts before the servers). */
function withPort(value: unknown): any {
  return JSON.parse(JSON.stringify(value).replaceAll('PORT', String(port)));
}

const count = async (k: TestKairos, table: 'identities' | 'sessions') => Number((await k.deps.db.selectFrom(table).select((e) => e.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

describe.each(DIALECTS)('self-service hooks (%s)', (dialect) => {
  let k: TestKairos;
  beforeAll(async () => {
    k = await startKairos({
      dialect,
      config: withPort({
        clients: { web_hook: { timeout: '400ms' } },
        selfservice: {
          flows: {
            registration: {
              before: { hooks: [hook('/registration-before', { response: { ignore: false } })] },
              after: {
                password: {
                  hooks: [
                    hook('/registration', { can_interrupt: true, response: { parse: true }, auth: { type: 'api_key', config: { name: 'X-Hook-Key', value: 'k-123', in: 'header' } } }),
                    hook('/registration-async', { response: { ignore: true } }),
                    { hook: 'session' },
                    { hook: 'show_verification_ui' },
                  ],
                },
              },
            },
            login: { after: { password: { hooks: [hook('/login', { can_interrupt: true, auth: { type: 'basic_auth', config: { user: 'kairos', password: 'hook-pass' } } }), { hook: 'revoke_active_sessions' }] } } },
            settings: { after: { password: { hooks: [{ hook: 'revoke_active_sessions' }] }, profile: { hooks: [hook('/settings-profile', { response: { parse: true } })] } } },
          },
        },
      }),
    });
  });
  afterAll(async () => k?.close());

  it('registration: the receiver gets the Kratos-shaped payload (ctx.identity, ctx.flow, allowed request headers), with the api_key', async () => {
    const { result } = await registerWithPassword(k, 'ada@example.com', 'a long enough passphrase');
    const [call] = to('/registration');
    expect(call).toBeDefined();
    expect(call!.headers['x-hook-key']).toBe('k-123');
    expect(call!.headers['content-type']).toBe('application/json');
    expect(call!.body.identity_id).toBe(result.identity.id);
    expect(call!.body.traits).toEqual({ email: 'ada@example.com' });
    expect(call!.body.flow_type).toBe('api');
    expect(call!.body.method).toBe('POST');
    expect(call!.body.url).toBe(`${k.publicUrl}/self-service/registration?flow=${call!.body.flow_id}`);
    expect(call!.body.session_id).toBeNull();
    // Only clients.web_hook.header_allowlist, in Go's canonical form; never the session token or cookies.
    expect(Object.keys(call!.body.headers).every((h) => ['Accept', 'Content-Type', 'Content-Length', 'User-Agent', 'Accept-Encoding', 'Accept-Language'].includes(h))).toBe(true);
    expect(JSON.stringify(call!.body.headers)).not.toMatch(/ory_st_|Cookie|Authorization/i);
    // The before hook ran when the flow was created, with the flow.
    expect(to('/registration-before')[0]!.body.flow_id).toBe(call!.body.flow_id);
  });

  it('registration with can_interrupt: the receiver\'s messages come back as Kratos\'s 400 flow through @ory/client-fetch, and no identity is written', async () => {
    handlers.set('/registration', (_r, res) =>
      json(res, 403, { messages: [{ instance_ptr: '#/traits/email', messages: [{ id: 4000300, text: 'This email domain is not allowed.', type: 'error', context: { domain: 'blocked.example' } }] }] }),
    );
    const before = { identities: await count(k, 'identities'), sessions: await count(k, 'sessions') };
    const flow = await k.frontend.createNativeRegistrationFlow();
    const { status, body } = await errorBody(k.frontend.updateRegistrationFlow({ flow: flow.id, updateRegistrationFlowBody: { method: 'password', traits: { email: 'eve@blocked.example' }, password: 'a long enough passphrase' } }));
    expect(status).toBe(400);
    expect(body.id).toBe(flow.id);
    const email = body.ui.nodes.find((n: any) => n.attributes.name === 'traits.email');
    expect(email.messages).toEqual([{ id: 4000300, text: 'This email domain is not allowed.', type: 'error', context: { domain: 'blocked.example' } }]);
    expect(email.attributes.value).toBe('eve@blocked.example');
    // No half-registered identity: nothing stored, no session, and the background hook never fired.
    expect(await count(k, 'identities')).toBe(before.identities);
    expect(await count(k, 'sessions')).toBe(before.sessions);
    expect((await k.identityApi.listIdentities({ credentialsIdentifier: 'eve@blocked.example' })).length).toBe(0);
    await new Promise((r) => setTimeout(r, 100));
    expect(to('/registration-async').filter((r) => r.body.traits?.email === 'eve@blocked.example')).toHaveLength(0);
    // The flow is still usable once the receiver agrees.
    handlers.delete('/registration');
    const retried = await k.frontend.updateRegistrationFlow({ flow: flow.id, updateRegistrationFlowBody: { method: 'password', traits: { email: 'eve@blocked.example' }, password: 'a long enough passphrase' } });
    expect(retried.identity.traits).toEqual({ email: 'eve@blocked.example' });
  });

  it('registration with response.parse: the traits and metadata the receiver returns are what is stored', async () => {
    handlers.set('/registration', (request, res) => json(res, 200, { identity: { traits: { ...request.body.traits, name: 'Grace Hopper' }, metadata_public: { plan: 'pro' } } }));
    const { identityId } = await registerWithPassword(k, 'grace@example.com', 'a long enough passphrase');
    const stored = await k.identityApi.getIdentity({ id: identityId });
    expect(stored.traits).toEqual({ email: 'grace@example.com', name: 'Grace Hopper' });
    expect(stored.metadata_public).toEqual({ plan: 'pro' });
  });

  it('registration with response.parse and traits the schema refuses: 400 with the schema\'s message, nothing written', async () => {
    handlers.set('/registration', (_r, res) => json(res, 200, { identity: { traits: { email: 'not-an-email' } } }));
    const before = await count(k, 'identities');
    const flow = await k.frontend.createNativeRegistrationFlow();
    const { status, body } = await errorBody(k.frontend.updateRegistrationFlow({ flow: flow.id, updateRegistrationFlowBody: { method: 'password', traits: { email: 'parse@example.com' }, password: 'a long enough passphrase' } }));
    expect(status).toBe(400);
    const email = body.ui.nodes.find((n: any) => n.attributes.name === 'traits.email');
    expect(email.messages.map((m: any) => m.id)).toEqual([4000004]);
    expect(await count(k, 'identities')).toBe(before);
  });

  it('receiver down: 502 in Kratos\'s error shape and nothing written', async () => {
    handlers.set('/registration', (request, res) => res.socket?.destroy());
    const before = { identities: await count(k, 'identities'), sessions: await count(k, 'sessions') };
    const flow = await k.frontend.createNativeRegistrationFlow();
    const { status, body } = await errorBody(k.frontend.updateRegistrationFlow({ flow: flow.id, updateRegistrationFlowBody: { method: 'password', traits: { email: 'down@example.com' }, password: 'a long enough passphrase' } }));
    expect(status).toBe(502);
    expect(body.error).toMatchObject({ code: 502, status: 'Bad Gateway', reason: 'A third-party upstream service could not be reached. Please try again later.' });
    // Kratos's client retries a failed connection twice.
    expect(to('/registration')).toHaveLength(3);
    expect(await count(k, 'identities')).toBe(before.identities);
    expect(await count(k, 'sessions')).toBe(before.sessions);
  });

  it('receiver answers 500 without messages: 502 "responded improperly", nothing written', async () => {
    handlers.set('/registration', (_r, res) => res.writeHead(500).end('<html>oops</html>'));
    const before = await count(k, 'identities');
    const flow = await k.frontend.createNativeRegistrationFlow();
    const { status, body } = await errorBody(k.frontend.updateRegistrationFlow({ flow: flow.id, updateRegistrationFlowBody: { method: 'password', traits: { email: 'garbage@example.com' }, password: 'a long enough passphrase' } }));
    expect(status).toBe(502);
    expect(body.error.reason).toBe('A third-party upstream service responded improperly. Please try again later.');
    expect(await count(k, 'identities')).toBe(before);
  });

  it('receiver times out: 504 in Kratos\'s error shape and nothing written', async () => {
    handlers.set('/registration', () => undefined); // never answers
    const before = await count(k, 'identities');
    const flow = await k.frontend.createNativeRegistrationFlow();
    const { status, body } = await errorBody(k.frontend.updateRegistrationFlow({ flow: flow.id, updateRegistrationFlowBody: { method: 'password', traits: { email: 'slow@example.com' }, password: 'a long enough passphrase' } }));
    expect(status).toBe(504);
    expect(body.error).toMatchObject({ code: 504, reason: 'A third-party upstream service could not be reached. Please try again later.' });
    expect(await count(k, 'identities')).toBe(before);
  });

  it('a response.ignore hook runs after commit; its failure is logged and never fails the registration', async () => {
    handlers.set('/registration-async', (_r, res) => res.writeHead(500).end());
    const { result } = await registerWithPassword(k, 'async@example.com', 'a long enough passphrase');
    expect(result.session_token).toMatch(/^ory_st_/);
    const call = await until(() => to('/registration-async')[0], 'the background hook');
    // It saw the stored identity.
    expect(call.body.identity_id).toBe(result.identity.id);
    await until(() => (k.logs.text().includes('the error was ignored') ? true : undefined), 'the ignored failure in the log');
  });

  it('a before hook that refuses stops the flow from being created (502), nothing stored', async () => {
    handlers.set('/registration-before', (_r, res) => res.writeHead(400).end());
    const { status, body } = await errorBody(k.frontend.createNativeRegistrationFlow());
    expect(status).toBe(502);
    expect(body.error.message).toContain('status code 400');
  });

  it('login with can_interrupt: the messages refuse the login and no session is issued; basic_auth is sent', async () => {
    const { identityId } = await registerWithPassword(k, 'lin@example.com', 'a long enough passphrase');
    handlers.set('/login', (_r, res) => json(res, 400, { messages: [{ instance_ptr: '#/', messages: [{ id: 4000999, text: 'Logins are paused for this account.', type: 'error' }] }] }));
    const sessions = await k.deps.sessions.listForIdentity(identityId);
    const { status, body } = await errorBody(loginWithPassword(k, 'lin@example.com', 'a long enough passphrase'));
    expect(status).toBe(400);
    expect(globalMessages(body)).toEqual([{ id: 4000999, text: 'Logins are paused for this account.', type: 'error' }]);
    expect(await k.deps.sessions.listForIdentity(identityId)).toHaveLength(sessions.length);
    const call = to('/login')[0]!;
    expect(call.headers.authorization).toBe(`Basic ${Buffer.from('kairos:hook-pass').toString('base64')}`);
    // The receiver saw the session the login would have issued, and the identity.
    expect(call.body.identity_id).toBe(identityId);
    expect(call.body.session_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('revoke_active_sessions after login: the identity\'s other sessions end, the new one works; the hook saw its id', async () => {
    const { token: first } = await registerWithPassword(k, 'rev@example.com', 'a long enough passphrase');
    const login = await loginWithPassword(k, 'rev@example.com', 'a long enough passphrase');
    expect(to('/login').at(-1)!.body.session_id).toBe(login.session.id);
    expect((await errorBody(k.frontend.toSession({ xSessionToken: first }))).status).toBe(401);
    expect((await k.frontend.toSession({ xSessionToken: login.session_token })).id).toBe(login.session.id);
  });

  it('revoke_active_sessions after a password change in settings: the other sessions end, the current one stays', async () => {
    const { token: current } = await registerWithPassword(k, 'set@example.com', 'a long enough passphrase');
    const other = await loginWithPassword(k, 'set@example.com', 'a long enough passphrase');
    // That login revoked the registration's session (login hook): sign in twice more from the current token's view.
    const fresh = await loginWithPassword(k, 'set@example.com', 'a long enough passphrase');
    expect((await errorBody(k.frontend.toSession({ xSessionToken: other.session_token! }))).status).toBe(401);
    const third = await k.deps.sessions.create(k.deps.db, fresh.session.identity!.id, [{ method: 'password', aal: 'aal1', completedAtMs: k.clock.nowMs() }], { ipAddress: null, userAgent: null });
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: fresh.session_token });
    await k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: fresh.session_token, updateSettingsFlowBody: { method: 'password', password: 'another long passphrase' } });
    expect((await errorBody(k.frontend.toSession({ xSessionToken: third.token }))).status).toBe(401);
    expect((await k.frontend.toSession({ xSessionToken: fresh.session_token })).active).toBe(true);
    void current;
  });

  it('settings profile with response.parse: the receiver sees the changed traits and its answer is stored', async () => {
    const { token, identityId } = await registerWithPassword(k, 'prof@example.com', 'a long enough passphrase');
    handlers.set('/settings-profile', (request, res) => json(res, 200, { identity: { traits: { ...request.body.traits, name: String(request.body.traits.name).toUpperCase() } } }));
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: token });
    await k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: token, updateSettingsFlowBody: { method: 'profile', traits: { email: 'prof@example.com', name: 'Ada' } } });
    expect(to('/settings-profile')[0]!.body.traits).toEqual({ email: 'prof@example.com', name: 'Ada' });
    expect((await k.identityApi.getIdentity({ id: identityId })).traits).toEqual({ email: 'prof@example.com', name: 'ADA' });
  });

  it('settings profile: a receiver that is down leaves the traits unchanged', async () => {
    const { token, identityId } = await registerWithPassword(k, 'prof2@example.com', 'a long enough passphrase');
    handlers.set('/settings-profile', (_r, res) => res.socket?.destroy());
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: token });
    const { status } = await errorBody(k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: token, updateSettingsFlowBody: { method: 'profile', traits: { email: 'prof2@example.com', name: 'Changed' } } }));
    expect(status).toBe(502);
    expect((await k.identityApi.getIdentity({ id: identityId })).traits).toEqual({ email: 'prof2@example.com' });
  });
});

describe.each(DIALECTS)('web hooks and private addresses: SSRF (%s)', (dialect) => {
  let k: TestKairos;
  beforeAll(async () => {
    k = await startKairos({
      dialect,
      config: withPort({
        clients: { http: { disallow_private_ip_ranges: true, private_ip_exception_urls: ['http://127.0.0.1:PORT/exempt'] }, web_hook: { timeout: '400ms' } },
        selfservice: {
          flows: {
            // A name that resolves to loopback: refused after DNS resolution, not only as a literal.
            registration: { after: { password: { hooks: [{ hook: 'web_hook', config: { url: 'http://localhost:PORT/by-name', method: 'POST', can_interrupt: true } }, { hook: 'session' }] } } },
            login: { before: { hooks: [{ hook: 'web_hook', config: { url: 'http://127.0.0.1:PORT/exempt', method: 'POST', body: BODY } }] } },
            verification: { before: { hooks: [{ hook: 'web_hook', config: { url: 'http://127.0.0.1:PORT/literal', method: 'POST' } }] } },
          },
        },
      }),
    });
  });
  afterAll(async () => k?.close());

  it('SSRF: a hook whose host name resolves to a loopback address is refused after DNS resolution; nothing is written', async () => {
    const before = await count(k, 'identities');
    const flow = await k.frontend.createNativeRegistrationFlow();
    const { status, body } = await errorBody(k.frontend.updateRegistrationFlow({ flow: flow.id, updateRegistrationFlowBody: { method: 'password', traits: { email: 'ssrf@example.com' }, password: 'a long enough passphrase' } }));
    expect(status).toBe(502);
    expect(body.error.message).toContain('disallow_private_ip_ranges');
    expect(to('/by-name')).toHaveLength(0);
    expect(await count(k, 'identities')).toBe(before);
  });

  it('SSRF: a literal private address is refused; a URL in private_ip_exception_urls is called', async () => {
    const { status } = await errorBody(k.frontend.createNativeVerificationFlow());
    expect(status).toBe(502);
    expect(to('/literal')).toHaveLength(0);
    const login = await k.frontend.createNativeLoginFlow();
    expect(to('/exempt')[0]!.body.flow_id).toBe(login.id);
  });
});

describe.each(DIALECTS)('require_verified_address after login (%s)', (dialect) => {
  let k: TestKairos;
  let legacy: TestKairos;
  const requireVerified = { selfservice: { flows: { login: { after: { password: { hooks: [{ hook: 'require_verified_address' }] } } } } } };
  beforeAll(async () => {
    k = await startKairos({ dialect, config: requireVerified });
    legacy = await startKairos({ dialect, config: { ...requireVerified, feature_flags: { legacy_require_verified_login_error: true } } });
  });
  afterAll(async () => {
    await k?.close();
    await legacy?.close();
  });

  const create = (server: TestKairos, email: string, verified: boolean) =>
    server.identityApi.createIdentity({
      createIdentityBody: {
        schema_id: 'default',
        traits: { email },
        credentials: { password: { config: { password: 'a long enough passphrase' } } },
        verifiable_addresses: [{ value: email, via: 'email', verified, status: verified ? 'completed' : 'pending' }],
      },
    });

  it('an unverified address gets no session: 403 session_verified_address_required with the verification flow to show, and a code mailed', async () => {
    const identity = await create(k, 'unverified@example.com', false);
    const { status, body } = await errorBody(loginWithPassword(k, 'unverified@example.com', 'a long enough passphrase'));
    expect(status).toBe(403);
    expect(body.error.id).toBe('session_verified_address_required');
    const next = body.error.details.continue_with[0];
    expect(next).toMatchObject({ action: 'show_verification_ui', flow: { verifiable_address: 'unverified@example.com' } });
    const verification = await k.frontend.getVerificationFlow({ id: next.flow.id });
    expect(verification.state).toBe('sent_email');
    expect(await k.deps.sessions.listForIdentity(identity.id)).toHaveLength(0);
    const mails = await k.deps.db.selectFrom('courier_messages').select('recipient').where('recipient', '=', 'unverified@example.com').execute();
    expect(mails.length).toBeGreaterThan(0);
  });

  it('a verified address logs in', async () => {
    await create(k, 'verified@example.com', true);
    const result = await loginWithPassword(k, 'verified@example.com', 'a long enough passphrase');
    expect(result.session_token).toMatch(/^ory_st_/);
  });

  it('legacy_require_verified_login_error: the login flow answers 400 with Kratos\'s message 4000010, no session', async () => {
    const identity = await create(legacy, 'legacy@example.com', false);
    const { status, body } = await errorBody(loginWithPassword(legacy, 'legacy@example.com', 'a long enough passphrase'));
    expect(status).toBe(400);
    expect(globalMessages(body)).toEqual([{ id: 4000010, text: 'Account not active yet. Did you forget to verify your email address?', type: 'error' }]);
    expect(await legacy.deps.sessions.listForIdentity(identity.id)).toHaveLength(0);
  });
});
