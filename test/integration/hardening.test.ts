/**
 * The probes of issue 14 ("an attacker's afternoon"), kept as tests. Each is named after the threat. Requests go
 * in-process through Fastify's `inject()` (the same routes, hooks and database as over a socket); the client IP is
 * set with `X-Forwarded-For`, which these servers believe from loopback (`trusted_proxies`), so one test can play
 * many clients.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { RateLimitCounters } from '../../src/storage/rate-limit-counters.js';
import { createTestDatabase, DIALECTS, freePort, startKairos, type TestDatabase, type TestKairos } from '../support/harness.js';
import { registerWithPassword } from '../support/users.js';
import { secretOf } from '../support/flows.js';
import { BrowserClient, csrfTokenOf } from '../support/browser-client.js';
import { totpCodeNow } from '../support/totp.js';
import { submitTotpEnrollment } from '../support/enroll.js';
import { MAX_CODES_PER_ADDRESS, OWNER_RESERVE_PER_ADDRESS } from '../../src/credentials/code/one-time-codes.js';
import { MFA_RESET_CANCEL_PATH } from '../../src/recovery/mfa-reset.js';

const PASSWORD = 'a long enough passphrase';
const PER_IP = 5;
const PER_IDENTITY = 8;
const LIMITED = {
  serve: { public: { trusted_proxies: ['127.0.0.1'], rate_limit: { max_per_minute: PER_IP, identity_max_per_minute: PER_IDENTITY } } },
  selfservice: { methods: { totp: { enabled: true } } },
};

/** A client address nobody used before (the Redis counters outlive a run by up to a minute). */
const newIp = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

type App = TestKairos['server']['publicApp'];

/** What a limited request answers while its limit cannot be counted: Kratos's envelope, nothing about the cause. */
const STORE_DOWN = {
  error: {
    code: 503,
    status: 'Service Unavailable',
    message: 'The service is temporarily unavailable, please retry later',
    reason: 'The request limits cannot be checked right now. Retry later.',
  },
};

/**
 * While the rate-limit store fails, a registration (a limited POST) and the verification link (a limited GET)
 * answer STORE_DOWN on every instance given, and no identity, flow change or mail is written.
 */
async function expectRefusedWhileStoreDown(instances: TestKairos[], address: string) {
  const [first] = instances as [TestKairos];
  const flow = await first.frontend.createNativeRegistrationFlow();
  const flowBefore = await first.deps.db.selectFrom('selfservice_flows').selectAll().where('id', '=', flow.id).executeTakeFirstOrThrow();
  for (const instance of instances) {
    const app = instance.server.publicApp;
    const submit = await call(app, { method: 'POST', url: `/self-service/registration?flow=${flow.id}`, ip: newIp(), body: { method: 'password', traits: { email: address }, password: PASSWORD } });
    expect(submit.statusCode).toBe(503);
    expect(submit.json()).toEqual(STORE_DOWN);
    const link = await call(app, { url: `/self-service/verification?flow=${randomUUID()}&code=123456`, ip: newIp() });
    expect(link.statusCode).toBe(503);
    expect(link.json()).toEqual(STORE_DOWN);
    expect(instance.logs.records().some((r) => r.msg === 'rate-limit store failed; request refused')).toBe(true);
  }
  const db = first.deps.db;
  expect(await db.selectFrom('identity_verifiable_addresses').select('id').where('value', '=', address).execute()).toEqual([]);
  expect(await db.selectFrom('courier_messages').select('id').where('recipient', '=', address).execute()).toEqual([]);
  expect(await db.selectFrom('selfservice_flows').selectAll().where('id', '=', flow.id).executeTakeFirstOrThrow()).toEqual(flowBefore);
  return flow.id;
}

async function call(app: App, input: { method?: 'GET' | 'POST' | 'DELETE'; url: string; ip: string; body?: unknown; headers?: Record<string, string> }) {
  const response = await app.inject({
    method: input.method ?? 'GET',
    url: input.url,
    headers: { 'x-forwarded-for': input.ip, accept: 'application/json', ...(input.body !== undefined ? { 'content-type': 'application/json' } : {}), ...input.headers },
    ...(input.body !== undefined ? { payload: JSON.stringify(input.body) } : {}),
  });
  return response;
}

describe.each(DIALECTS)('hardening (%s)', (dialect) => {
  let database: TestDatabase;
  let a: TestKairos;
  let b: TestKairos;
  let counter = 0;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    a = await startKairos({ dialect, database, config: LIMITED });
    b = await startKairos({ dialect, database, config: LIMITED });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await database?.drop();
  });

  const email = () => `hard${++counter}-${randomUUID().slice(0, 8)}@example.com`;

  it('an attacker spreading guesses over two instances gets one combined per-IP limit, not one per instance', async () => {
    const ip = newIp();
    const statuses: number[] = [];
    for (let i = 0; i < 2 * PER_IP; i++) {
      const app = (i % 2 === 0 ? a : b).server.publicApp;
      statuses.push((await call(app, { method: 'POST', url: `/self-service/login?flow=${randomUUID()}`, ip, body: { method: 'password', identifier: 'x@example.com', password: 'guess' } })).statusCode);
    }
    expect(statuses.filter((s) => s !== 429)).toHaveLength(PER_IP);
    expect(statuses.slice(PER_IP)).toEqual(Array(PER_IP).fill(429));
    // Another client is not affected.
    expect((await call(b.server.publicApp, { method: 'POST', url: `/self-service/login?flow=${randomUUID()}`, ip: newIp(), body: {} })).statusCode).toBe(404);
  });

  it('the secret-checking GET links (verification ?code=, recovery ?token=, MFA-reset cancel, logout) are limited per IP', async () => {
    const links = [
      () => `/self-service/verification?flow=${randomUUID()}&code=123456`,
      () => `/self-service/recovery?flow=${randomUUID()}&token=guess`,
      () => `${MFA_RESET_CANCEL_PATH}?token=guess`,
      () => `/self-service/logout?token=guess`,
    ];
    for (const link of links) {
      const ip = newIp();
      const statuses: number[] = [];
      for (let i = 0; i <= PER_IP; i++) statuses.push((await call((i % 2 ? a : b).server.publicApp, { url: link(), ip })).statusCode);
      expect(statuses.slice(0, PER_IP)).not.toContain(429);
      const limited = await call(a.server.publicApp, { url: link(), ip });
      expect(limited.statusCode).toBe(429);
      expect(limited.json().error).toMatchObject({ code: 429, id: 'rate_limit_exceeded' });
      expect(statuses[PER_IP]).toBe(429);
    }
  });

  it('guesses against one identity from many IPs are limited per identity', async () => {
    const user = await registerWithPassword(a, email(), PASSWORD);
    const flow = await a.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    const statuses: number[] = [];
    for (let i = 0; i <= PER_IDENTITY; i++) {
      const response = await call((i % 2 ? a : b).server.publicApp, {
        method: 'POST',
        url: `/self-service/settings?flow=${flow.id}`,
        ip: newIp(),
        headers: { 'x-session-token': user.token },
        body: { method: 'totp', totp_code: '000000' },
      });
      statuses.push(response.statusCode);
    }
    expect(statuses.slice(0, PER_IDENTITY)).not.toContain(429);
    expect(statuses[PER_IDENTITY]).toBe(429);
  });

  it('an aal1 session that began a recovery-code regenerate before the owner enrolled TOTP cannot confirm it afterwards', async () => {
    const address = email();
    const attacker = await registerWithPassword(a, address, PASSWORD);
    // The attacker's aal1 session starts a regenerate while the identity has no second factor (allowed then).
    const attackFlow = await a.frontend.createNativeSettingsFlow({ xSessionToken: attacker.token });
    await a.frontend.updateSettingsFlow({ flow: attackFlow.id, xSessionToken: attacker.token, updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_regenerate: true } });
    // The owner (their own session, on the other instance) enrolls TOTP with its recovery codes.
    const ownerLogin = await b.frontend.updateLoginFlow({ flow: (await b.frontend.createNativeLoginFlow()).id, updateLoginFlowBody: { method: 'password', identifier: address, password: PASSWORD } });
    const ownerToken = ownerLogin.session_token!;
    const enroll = await b.frontend.createNativeSettingsFlow({ xSessionToken: ownerToken });
    const enrolled = await submitTotpEnrollment(b, { flowId: enroll.id, token: ownerToken, code: totpCodeNow(b, secretOf(enroll)) });
    expect(enrolled.state).toBe('success');
    const ownerCodes = await a.deps.db.selectFrom('lookup_secret_codes').select(['code_hash']).where('identity_id', '=', attacker.identityId).orderBy('position').execute();
    expect(ownerCodes.length).toBeGreaterThan(0);

    const confirm = await call(a.server.publicApp, {
      method: 'POST',
      url: `/self-service/settings?flow=${attackFlow.id}`,
      ip: newIp(),
      headers: { 'x-session-token': attacker.token },
      body: { method: 'lookup_secret', lookup_secret_confirm: true, lookup_secret_acknowledged: true },
    });
    expect(confirm.statusCode).toBe(403);
    expect(confirm.json().error.id).toBe('session_aal2_required');
    // The owner's codes are untouched, and the attacker's session did not become aal2.
    expect(await a.deps.db.selectFrom('lookup_secret_codes').select(['code_hash']).where('identity_id', '=', attacker.identityId).orderBy('position').execute()).toEqual(ownerCodes);
    const whoami = await call(a.server.publicApp, { url: '/sessions/whoami', ip: newIp(), headers: { 'x-session-token': attacker.token } });
    expect(whoami.statusCode).toBe(403);
    expect(whoami.json().error.id).toBe('session_aal2_required');
  });

  it('an attacker asking for recovery codes for a victim from many IPs cannot block the victim’s own recovery mail', async () => {
    const address = email();
    const created = await a.identityApi.createIdentity({
      createIdentityBody: {
        schema_id: 'default',
        traits: { email: address },
        credentials: { password: { config: { password: PASSWORD } } } as any,
        verifiable_addresses: [{ value: address, verified: true, via: 'email', status: 'completed' }] as any,
      },
    });
    const ownerIp = newIp();
    // The owner signed in from their usual address once.
    const loginFlow = await call(a.server.publicApp, { url: '/self-service/login/api', ip: ownerIp });
    const login = await call(a.server.publicApp, { method: 'POST', url: `/self-service/login?flow=${loginFlow.json().id}`, ip: ownerIp, body: { method: 'password', identifier: address, password: PASSWORD } });
    expect(login.statusCode).toBe(200);

    const mails = async () => (await a.deps.db.selectFrom('courier_messages').select('id').where('recipient', '=', address).where('template_type', '=', 'recovery_code_valid').execute()).length;
    const requestRecovery = async (ip: string, app: App = a.server.publicApp) => {
      const flow = await call(app, { url: '/self-service/recovery/api', ip });
      const sent = await call(app, { method: 'POST', url: `/self-service/recovery?flow=${flow.json().id}`, ip, body: { method: 'code', email: address } });
      expect(sent.statusCode).toBe(200);
      return sent.json();
    };
    // The attacker keeps asking, from a new IP each time, on both instances.
    const answers = [];
    for (let i = 0; i < 2 * MAX_CODES_PER_ADDRESS; i++) answers.push(await requestRecovery(newIp(), (i % 2 ? b : a).server.publicApp));
    expect(await mails()).toBe(MAX_CODES_PER_ADDRESS - OWNER_RESERVE_PER_ADDRESS);
    // Every answer looks the same whether or not a mail went out.
    expect(new Set(answers.map((x) => JSON.stringify({ state: x.state, messages: x.ui.messages })))).toHaveProperty('size', 1);

    // The owner's own request still mails.
    await requestRecovery(ownerIp);
    expect(await mails()).toBe(MAX_CODES_PER_ADDRESS - OWNER_RESERVE_PER_ADDRESS + 1);
    await requestRecovery(newIp());
    expect(await mails()).toBe(MAX_CODES_PER_ADDRESS - OWNER_RESERVE_PER_ADDRESS + 1);
    expect(created.id).toBeTruthy();
  });

  it('parallel recovery requests for one address across two instances cannot send more than the quota, and every answer is the same', async () => {
    const address = email();
    await a.identityApi.createIdentity({
      createIdentityBody: {
        schema_id: 'default',
        traits: { email: address },
        credentials: { password: { config: { password: PASSWORD } } } as any,
        verifiable_addresses: [{ value: address, verified: true, via: 'email', status: 'completed' }] as any,
      },
    });
    const ownerIp = newIp();
    const loginFlow = await call(a.server.publicApp, { url: '/self-service/login/api', ip: ownerIp });
    expect((await call(a.server.publicApp, { method: 'POST', url: `/self-service/login?flow=${loginFlow.json().id}`, ip: ownerIp, body: { method: 'password', identifier: address, password: PASSWORD } })).statusCode).toBe(200);
    const mails = async () => (await a.deps.db.selectFrom('courier_messages').select('id').where('recipient', '=', address).where('template_type', '=', 'recovery_code_valid').execute()).length;

    /** All flows first, then every submission at once, alternating instances, so the quota checks overlap. */
    const burst = async (ips: string[]) => {
      const apps = ips.map((_, i) => (i % 2 ? b : a).server.publicApp);
      const flows = await Promise.all(ips.map(async (ip, i) => (await call(apps[i]!, { url: '/self-service/recovery/api', ip })).json().id as string));
      const answers = await Promise.all(ips.map((ip, i) => call(apps[i]!, { method: 'POST', url: `/self-service/recovery?flow=${flows[i]}`, ip, body: { method: 'code', email: address } })));
      return answers.map((r) => ({ status: r.statusCode, state: r.json().state, messages: r.json().ui?.messages }));
    };
    const attackers = await burst(Array.from({ length: 16 }, newIp));
    expect(await mails()).toBe(MAX_CODES_PER_ADDRESS - OWNER_RESERVE_PER_ADDRESS);
    // The owner's own requests (from the address they signed in from, at once) use the reserve and no more.
    const owner = await burst(Array(PER_IP - 1).fill(ownerIp));
    expect(await mails()).toBe(MAX_CODES_PER_ADDRESS);
    expect(await a.deps.db.selectFrom('one_time_codes').select('id').where('address', '=', address).execute()).toHaveLength(MAX_CODES_PER_ADDRESS);
    // Sent or withheld, every answer looks the same.
    const shapes = new Set([...attackers, ...owner].map((x) => JSON.stringify(x)));
    expect([...shapes]).toHaveLength(1);
    expect(JSON.parse([...shapes][0]!)).toMatchObject({ status: 200, state: 'sent_email' });
  });

  it('two steps of one session that read it before either wrote both keep their AMR entry, across two instances (no lost update)', async () => {
    // Registered from an IP of its own: the SDK's requests all come from loopback, whose per-IP budget other tests use.
    const ip = newIp();
    const flow = await call(a.server.publicApp, { url: '/self-service/registration/api', ip });
    const registered = await call(a.server.publicApp, { method: 'POST', url: `/self-service/registration?flow=${flow.json().id}`, ip, body: { method: 'password', traits: { email: email() }, password: PASSWORD } });
    const user = { token: registered.json().session_token as string };
    // Both steps read the session before either writes (the stale read of finding 8).
    const [seenByA, seenByB] = await Promise.all([a.deps.sessions.findByToken(user.token), b.deps.sessions.findByToken(user.token)]);
    // One after the other (two in-process SQLite connections cannot both hold a step open): what matters is that
    // the second writes from its stale read, as a read-modify-write would, and must still keep the first's entry.
    const at = a.clock.nowMs();
    await a.deps.storage.transaction((trx) => a.deps.sessions.addAuthenticationMethods(trx, seenByA!, [{ method: 'totp', aal: 'aal2', completedAtMs: at }]));
    await b.deps.storage.transaction((trx) => b.deps.sessions.addAuthenticationMethods(trx, seenByB!, [{ method: 'lookup_secret', aal: 'aal2', completedAtMs: at + 1 }]));
    const stored = await a.deps.sessions.findByToken(user.token);
    expect(stored!.amr.map((e) => e.method).sort()).toEqual(['lookup_secret', 'password', 'totp']);
  });

  it('an "already signed in" redirect is not logged as an unhandled error', async () => {
    const user = await registerWithPassword(a, email(), PASSWORD);
    const before = a.logs.lines.length;
    const response = await a.server.publicApp.inject({ method: 'GET', url: '/self-service/login/browser', headers: { cookie: `ory_kratos_session=${user.token}` } });
    expect(response.statusCode).toBe(303);
    const after = a.logs.records().slice(before);
    expect(after.filter((r) => (r.level as number) >= 50)).toEqual([]);
  });

  it('return_to with CR/LF or TAB never reaches Location, and an allowed one is re-serialised', async () => {
    const base = a.deps.config.serve.public.base_url.replace(/\/$/, '');
    for (const payload of [`${base}/%0d%0aSet-Cookie:%20x=1`, `${base}/a%09b`, `${base}/%00`]) {
      const response = await a.server.publicApp.inject({ method: 'GET', url: `/self-service/login/browser?return_to=${encodeURIComponent(decodeURIComponent(payload))}` });
      expect(response.statusCode).toBe(400);
      expect(response.headers['set-cookie'] ?? []).not.toContainEqual(expect.stringContaining('x=1'));
      expect(response.headers.location).toBeUndefined();
    }
    const api = await a.server.publicApp.inject({ method: 'GET', url: `/self-service/login/api?return_to=${encodeURIComponent(`${base}/a b/ü`)}` });
    expect(api.statusCode).toBe(200);
    expect(api.json().return_to).toBe(`${base}/a%20b/%C3%BC`);
  });

  it('ids that are not UUIDs are 404s and control characters are 400s, in Kratos’s shape, before the database', async () => {
    for (const url of ['/self-service/login/flows?id=nope', `/self-service/errors?id=1'%20or%201=1`, '/self-service/settings/flows?id=%F0%9F%98%80']) {
      const response = await a.server.publicApp.inject({ method: 'GET', url });
      expect(response.statusCode).toBe(404);
      expect(response.json().error).toMatchObject({ code: 404, status: 'Not Found' });
    }
    for (const url of ['/admin/identities/not-a-uuid', '/admin/sessions/123', '/admin/courier/messages/%00']) {
      const response = await a.server.adminApp.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(url.includes('%00') ? 400 : 404);
    }
    const nul = await a.server.publicApp.inject({ method: 'GET', url: `/self-service/login/flows?id=${randomUUID()}%00` });
    expect(nul.statusCode).toBe(400);
    expect(nul.json().error).toMatchObject({ code: 400, status: 'Bad Request' });
    const flow = await a.frontend.createNativeRegistrationFlow();
    const body = await a.server.publicApp.inject({
      method: 'POST',
      url: `/self-service/registration?flow=${flow.id}`,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ method: 'password', traits: { email: `a\u0000b@example.com` }, password: PASSWORD }),
    });
    expect(body.statusCode).toBe(400);
    expect(body.json().error.code).toBe(400);
  });

  it('a failing rate-limit store cannot be used to get past the limits: limited requests answer 503 in Kratos’s shape and write nothing', async () => {
    const address = email();
    // The shared counters' table goes away under both instances (as if the database refused every statement on it).
    await a.deps.db.schema.alterTable('rate_limit_counters').renameTo('rate_limit_counters_away').execute();
    let flowId: string;
    try {
      flowId = await expectRefusedWhileStoreDown([a, b], address);
    } finally {
      await a.deps.db.schema.alterTable('rate_limit_counters_away').renameTo('rate_limit_counters').execute();
    }
    // Back: the same submission goes through.
    const retried = await call(b.server.publicApp, { method: 'POST', url: `/self-service/registration?flow=${flowId}`, ip: newIp(), body: { method: 'password', traits: { email: address }, password: PASSWORD } });
    expect(retried.statusCode).toBe(200);
  });

  it('a rate-limit charge that fails inside a step (the per-identity limit) answers 503 in Kratos’s shape and writes nothing', async () => {
    const ip = newIp();
    const flow = await call(a.server.publicApp, { url: '/self-service/registration/api', ip });
    const registered = await call(a.server.publicApp, { method: 'POST', url: `/self-service/registration?flow=${flow.json().id}`, ip, body: { method: 'password', traits: { email: email() }, password: PASSWORD } });
    const token = registered.json().session_token as string;
    const settings = await call(b.server.publicApp, { url: '/self-service/settings/api', ip, headers: { 'x-session-token': token } });
    const before = await b.deps.db.selectFrom('selfservice_flows').selectAll().where('id', '=', settings.json().id).executeTakeFirstOrThrow();
    // The per-IP count succeeds; the per-identity one, charged in the step's transaction, hits a statement the
    // database refuses (on PostgreSQL that aborts the step's transaction, as a real failure would).
    const incrementIn = RateLimitCounters.prototype.incrementIn;
    RateLimitCounters.prototype.incrementIn = async (trx) => {
      await sql`select * from rate_limit_counters_missing`.execute(trx);
      throw new Error('unreachable');
    };
    try {
      const response = await call(b.server.publicApp, {
        method: 'POST',
        url: `/self-service/settings?flow=${settings.json().id}`,
        ip,
        headers: { 'x-session-token': token },
        body: { method: 'profile', traits: { email: `changed-${randomUUID().slice(0, 8)}@example.com` } },
      });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toEqual(STORE_DOWN);
    } finally {
      RateLimitCounters.prototype.incrementIn = incrementIn;
    }
    expect(await b.deps.db.selectFrom('selfservice_flows').selectAll().where('id', '=', settings.json().id).executeTakeFirstOrThrow()).toEqual(before);
    const identity = await a.identityApi.getIdentity({ id: registered.json().identity.id });
    expect((identity.traits as { email: string }).email).toBe(registered.json().identity.traits.email);
  });

  it('a browser form whose per-identity charge fails inside the step is sent to the error page with the 503, not a 500', async () => {
    const ip = newIp();
    const browser = new BrowserClient(b.publicUrl);
    const post = (path: string, form: Record<string, string>) => browser.request(path, { method: 'POST', form, headers: { accept: 'text/html', 'x-forwarded-for': ip } });
    const registration = await browser.startFlow('registration');
    const address = email();
    const registered = await post(`/self-service/registration?flow=${registration.id}`, { csrf_token: csrfTokenOf(registration.flow), method: 'password', 'traits.email': address, password: PASSWORD });
    expect(registered.status).toBe(303);
    const settings = await browser.startFlow('settings');
    const before = await b.deps.db.selectFrom('selfservice_flows').selectAll().where('id', '=', settings.id).executeTakeFirstOrThrow();
    const incrementIn = RateLimitCounters.prototype.incrementIn;
    RateLimitCounters.prototype.incrementIn = async (trx) => {
      await sql`select * from rate_limit_counters_missing`.execute(trx);
      throw new Error('unreachable');
    };
    let answer: Response;
    try {
      answer = await post(`/self-service/settings?flow=${settings.id}`, { csrf_token: csrfTokenOf(settings.flow), method: 'profile', 'traits.email': `changed-${randomUUID().slice(0, 8)}@example.com` });
    } finally {
      RateLimitCounters.prototype.incrementIn = incrementIn;
    }
    expect(answer.status).toBe(303);
    const errorId = new URL(answer.headers.get('location')!).searchParams.get('id');
    const shown = await (await browser.get(`/self-service/errors?id=${errorId}`, { accept: 'application/json' })).json();
    expect(shown.error).toMatchObject({ code: 503, reason: STORE_DOWN.error.reason });
    expect(await b.deps.db.selectFrom('selfservice_flows').selectAll().where('id', '=', settings.id).executeTakeFirstOrThrow()).toEqual(before);
  });

  it('a settings flow created while its identity is deleted answers 404 in Kratos’s shape, not 500', async () => {
    const user = await registerWithPassword(a, email(), PASSWORD);
    const flows = a.deps.flows;
    const insert = flows.insert.bind(flows);
    // The race, made deterministic: the identity goes away between loading the session and storing the flow.
    flows.insert = async (flow) => {
      await a.deps.db.deleteFrom('identities').where('id', '=', user.identityId).execute();
      return insert(flow);
    };
    try {
      const response = await a.server.publicApp.inject({ method: 'GET', url: '/self-service/settings/api', headers: { 'x-session-token': user.token } });
      expect(response.statusCode).toBe(404);
      expect(response.json().error).toMatchObject({ code: 404, status: 'Not Found' });
    } finally {
      flows.insert = insert;
    }
  });
});

/** Redis as the shared store: the plugin's own Redis store, against the local Redis (127.0.0.1:6379). */
const REDIS_URL = process.env.KAIROS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

async function redisReachable(): Promise<boolean> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}
const redisUp = await redisReachable();
if (!redisUp && process.env.CI) throw new Error(`Redis is not reachable at ${REDIS_URL} (CI requires it for the Redis rate-limit store test)`);

describe.skipIf(!redisUp)(`rate limits in Redis (${REDIS_URL}; skipped when unreachable outside CI)`, () => {
  let a: TestKairos;
  let b: TestKairos;
  const config = { ...LIMITED, serve: { public: { ...LIMITED.serve.public, rate_limit: { ...LIMITED.serve.public.rate_limit, store: 'redis', redis_url: REDIS_URL } } } };
  beforeAll(async () => {
    // Two instances that share nothing but Redis (separate SQLite databases).
    a = await startKairos({ dialect: 'sqlite', config });
    b = await startKairos({ dialect: 'sqlite', config });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('two instances sharing only Redis enforce one combined per-IP limit', async () => {
    const ip = newIp();
    const statuses: number[] = [];
    for (let i = 0; i < 2 * PER_IP; i++) statuses.push((await call((i % 2 ? b : a).server.publicApp, { url: `/self-service/verification?flow=${randomUUID()}&code=1`, ip })).statusCode);
    expect(statuses.filter((s) => s !== 429)).toHaveLength(PER_IP);
    expect(statuses.slice(PER_IP)).toEqual(Array(PER_IP).fill(429));
  });
});

describe('rate limits in a Redis that is down', () => {
  let a: TestKairos;
  beforeAll(async () => {
    // Nothing listens on this port: every command fails once ioredis gives up retrying it.
    const redisUrl = `redis://127.0.0.1:${await freePort()}/0`;
    a = await startKairos({ dialect: 'sqlite', config: { ...LIMITED, serve: { public: { ...LIMITED.serve.public, rate_limit: { ...LIMITED.serve.public.rate_limit, store: 'redis', redis_url: redisUrl } } } } });
  });
  afterAll(async () => {
    await a?.close();
  });

  it('an unreachable Redis store cannot be used to get past the limits: limited requests answer 503 in Kratos’s shape and write nothing', async () => {
    await expectRefusedWhileStoreDown([a], `down-${randomUUID().slice(0, 8)}@example.com`);
  });
});
