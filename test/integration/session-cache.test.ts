/**
 * The session lookup cache on SQLite (session/session-service.ts `findCurrent`, storage/db.ts `changeStamp`).
 *
 * Threat: a cache that outlives a revocation. A stolen session token that an operator revoked, or an identity that
 * was deactivated, must stop working on the very next request, on every instance sharing the database file, even
 * when the instance answered that token from its cache a moment earlier.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, startKairos, type TestDatabase, type TestKairos } from '../support/harness.js';
import { observeStatements } from '../../src/storage/unit-of-work.js';

const PASSWORD = 'a long enough passphrase';
const servers: TestKairos[] = [];
const databases: TestDatabase[] = [];
afterEach(async () => {
  for (const k of servers.splice(0).reverse()) await k.close();
  for (const database of databases.splice(0)) await database.drop();
});

/** Two instances sharing one SQLite file, as two processes would. */
async function twoInstances(): Promise<[TestKairos, TestKairos]> {
  const database = await createTestDatabase('sqlite');
  databases.push(database);
  const a = await startKairos({ dialect: 'sqlite', database });
  servers.push(a);
  const b = await startKairos({ dialect: 'sqlite', database });
  servers.push(b);
  return [a, b];
}

async function signIn(k: TestKairos, email: string): Promise<{ token: string; sessionId: string; identityId: string }> {
  const identity = await k.identityApi.createIdentity({
    createIdentityBody: { schema_id: 'default', traits: { email }, credentials: { password: { config: { password: PASSWORD } } } },
  });
  const flow = await k.frontend.createNativeLoginFlow();
  const done = await k.frontend.updateLoginFlow({ flow: flow.id, updateLoginFlowBody: { method: 'password', identifier: email, password: PASSWORD } });
  return { token: done.session_token!, sessionId: done.session.id, identityId: identity.id };
}

async function whoami(k: TestKairos, token: string): Promise<number> {
  const res = await fetch(`${k.publicUrl}/sessions/whoami`, { headers: { 'x-session-token': token } });
  return res.status;
}

/** The SELECTs that reach the database while `fn` runs (the change stamp's pragma is not one). */
async function selectsDuring(fn: () => Promise<unknown>): Promise<number> {
  let selects = 0;
  const previous = observeStatements((text) => {
    if (/^\s*select/i.test(text)) selects++;
  });
  try {
    await fn();
  } finally {
    observeStatements(previous);
  }
  return selects;
}

describe('session lookup cache (SQLite)', () => {
  it('a repeated whoami with nothing written in between is answered without reading the session again', async () => {
    const k = await startKairos({ dialect: 'sqlite' });
    servers.push(k);
    const { token } = await signIn(k, 'cache-hit@example.com');
    expect(await whoami(k, token)).toBe(200);
    expect(await selectsDuring(() => whoami(k, token))).toBe(0);
  });

  it('a session revoked through the admin API of the same instance is refused on the next request', async () => {
    const k = await startKairos({ dialect: 'sqlite' });
    servers.push(k);
    const { token, sessionId } = await signIn(k, 'revoked-here@example.com');
    expect(await whoami(k, token)).toBe(200);
    expect(await whoami(k, token)).toBe(200); // from the cache
    await k.identityApi.disableSession({ id: sessionId });
    expect(await whoami(k, token)).toBe(401);
  });

  it('a session revoked by another instance sharing the SQLite file is refused at once by an instance that had it cached', async () => {
    const [a, b] = await twoInstances();
    const { token, sessionId } = await signIn(a, 'revoked-elsewhere@example.com');
    expect(await whoami(a, token)).toBe(200);
    expect(await selectsDuring(() => whoami(a, token))).toBe(0); // cached on a
    await b.identityApi.disableSession({ id: sessionId });
    expect(await whoami(a, token)).toBe(401);
  });

  it('an identity deactivated by another instance loses its cached session at once', async () => {
    const [a, b] = await twoInstances();
    const { token, identityId } = await signIn(a, 'deactivated@example.com');
    expect(await whoami(a, token)).toBe(200);
    expect(await whoami(a, token)).toBe(200);
    await b.identityApi.patchIdentity({ id: identityId, jsonPatch: [{ op: 'replace', path: '/state', value: 'inactive' }] });
    expect(await whoami(a, token)).toBe(401);
  });

  it('a cached session that reaches its expiry is refused, with no write to end the cache', async () => {
    const k = await startKairos({ dialect: 'sqlite' });
    servers.push(k);
    const { token } = await signIn(k, 'expires@example.com');
    expect(await whoami(k, token)).toBe(200);
    expect(await whoami(k, token)).toBe(200);
    k.clock.advanceSeconds(24 * 3600 + 1); // session.lifespan defaults to 24h
    expect(await whoami(k, token)).toBe(401);
  });

  it('an identity changed through the admin API of the same instance is served with its new data on the next whoami', async () => {
    const k = await startKairos({ dialect: 'sqlite' });
    servers.push(k);
    const { token, identityId } = await signIn(k, 'changed@example.com');
    expect(await whoami(k, token)).toBe(200);
    expect(await whoami(k, token)).toBe(200);
    await k.identityApi.patchIdentity({ id: identityId, jsonPatch: [{ op: 'replace', path: '/metadata_public', value: { plan: 'gold' } }] });
    const session = await k.frontend.toSession({ xSessionToken: token });
    expect(session.identity?.metadata_public).toEqual({ plan: 'gold' });
  });

  it('read-only lookups share one frozen parse per cached row, and every other caller gets objects of its own to change', async () => {
    const k = await startKairos({ dialect: 'sqlite' });
    servers.push(k);
    const { token } = await signIn(k, 'shared-parse@example.com');
    const first = await k.deps.sessions.findCurrent(token, [], undefined, { shared: true });
    const second = await k.deps.sessions.findCurrent(token, [], undefined, { shared: true });
    expect(second!.identity).toBe(first!.identity);
    expect(Object.isFrozen(first!.identity.traits)).toBe(true);
    expect(() => {
      (first!.identity.traits as Record<string, unknown>).email = 'changed@example.com';
    }).toThrow(TypeError);
    const own = await k.deps.sessions.findCurrent(token, []);
    expect(own!.identity).not.toBe(first!.identity);
    expect(Object.isFrozen(own!.identity)).toBe(false);
  });
});
