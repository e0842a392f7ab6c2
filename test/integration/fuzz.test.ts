/**
 * Threat: malformed input (NUL and control characters, overlong and odd Unicode strings, unknown and foreign ids,
 * wrong content types, bodies of any shape) turns into a 500, a hung request, or a half-written row. A property-
 * based fuzzer (fast-check) drives every public and admin route in-process (`inject()`: the real routes, hooks,
 * error handlers and database, without sockets) and asserts, for every generated request:
 * - the answer is not a 5xx, and comes within REQUEST_TIMEOUT_MS (no hang);
 * and afterwards, that the database holds no partial rows (DATABASE_INVARIANTS).
 *
 * KAIROS_FUZZ_RUNS sets the number of requests per dialect (default FUZZ_RUNS_DEFAULT, a few thousand in all
 * routes); KAIROS_FUZZ_SEED replays a run (fast-check prints the seed and the shrunk counterexample on failure).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { registerWithPassword } from '../support/users.js';
import { MFA_RESET_CANCEL_PATH } from '../../src/recovery/mfa-reset.js';

const FUZZ_RUNS_DEFAULT = 3000;
const RUNS = Number(process.env.KAIROS_FUZZ_RUNS ?? FUZZ_RUNS_DEFAULT);
const SEED = process.env.KAIROS_FUZZ_SEED ? Number(process.env.KAIROS_FUZZ_SEED) : undefined;
/** A request that takes longer than this (in-process, on a loaded 2-core machine) counts as hung. */
const REQUEST_TIMEOUT_MS = 15_000;
const PASSWORD = 'a long enough passphrase';
const FLOW_KINDS = ['login', 'registration', 'settings', 'recovery', 'verification'] as const;

interface Known {
  flowIds: string[];
  identityIds: string[];
  sessionIds: string[];
  tokens: string[];
  messageIds: string[];
}

/** Strings that have broken servers: control characters, NUL, CRLF, overlong, odd Unicode, injection-shaped. */
function nastyString(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: fc.constantFrom('\u0000', '\r', '\n', '\t', '\u001b', '\u007f', '\u0085', '\u2028', '\ud800', '\udfff', '%', '&', '=', '.', '/', '\\', '"', "'"), maxLength: 12 }),
    fc.constantFrom('', ' ', '\u0000', 'a\u0000b', '%00', '%0d%0a', 'http://evil.example/%0d%0aSet-Cookie:x', 'javascript:alert(1)', '../../etc/passwd', "' or 1=1 --", '{}', '[]', 'null', 'true', '-1', '1e309', 'aal2', 'aal3', 'true', 'password', 'totp', 'lookup_secret', 'code', 'profile'),
    fc.string({ minLength: 500, maxLength: 3000 }),
  );
}

function idLike(known: Known): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(...known.flowIds, ...known.identityIds, ...known.sessionIds, ...known.messageIds),
    fc.uuid(),
    fc.constant(randomUUID()),
    nastyString(),
  );
}

const FIELD_NAMES = [
  'method', 'identifier', 'password', 'traits', 'traits.email', 'csrf_token', 'totp_code', 'totp_unlink', 'lookup_secret', 'lookup_secret_regenerate',
  'lookup_secret_confirm', 'lookup_secret_reveal', 'lookup_secret_disable', 'lookup_secret_acknowledged', 'transient_payload', 'code', 'email', 'recovery_address',
  'recovery_address_remove', 'session_token', 'schema_id', 'state', 'credentials', 'metadata_public', 'metadata_admin', 'verifiable_addresses', 'recovery_addresses',
  'identity_id', 'expires_in', 'flow_type', 'reason', 'external_id', 'resend', '__proto__', 'constructor.prototype', 'a.b.c.d.e',
];

function jsonish(known: Known): fc.Arbitrary<unknown> {
  const leaf = fc.oneof(nastyString(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), idLike(known));
  return fc.oneof(
    fc.dictionary(fc.constantFrom(...FIELD_NAMES), fc.oneof(leaf, fc.array(leaf, { maxLength: 3 }), fc.dictionary(fc.oneof(fc.constantFrom('email', 'password', 'config', 'codes', 'totp_url'), nastyString()), leaf, { maxKeys: 3 })), { maxKeys: 6 }),
    fc.jsonValue({ maxDepth: 3 }),
    leaf,
  );
}

type Body = { contentType: string | null; payload: string | undefined };

function body(known: Known): fc.Arbitrary<Body> {
  return fc.oneof(
    jsonish(known).map((v) => ({ contentType: 'application/json', payload: JSON.stringify(v) ?? 'null' })),
    fc.dictionary(fc.oneof(fc.constantFrom(...FIELD_NAMES), nastyString()), fc.oneof(nastyString(), fc.array(nastyString(), { maxLength: 2 })), { maxKeys: 5 }).map((d) => ({
      contentType: 'application/x-www-form-urlencoded',
      payload: Object.entries(d).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${encode(k)}=${encode(x)}`)).join('&'),
    })),
    fc.record({
      contentType: fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/xml', ''),
      payload: fc.oneof(nastyString(), fc.constant(undefined)),
    }),
    fc.constant({ contentType: null, payload: undefined }),
  );
}

/** Percent-encodes any string, lone surrogates included (encodeURIComponent throws on those). */
function encode(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return [...Buffer.from(value, 'utf8')].map((b) => '%' + b.toString(16).padStart(2, '0')).join('');
  }
}

const QUERY_KEYS = ['flow', 'id', 'code', 'token', 'return_to', 'aal', 'refresh', 'page_size', 'page_token', 'per_page', 'page', 'include_credential', 'credentials_identifier', 'status', 'recipient', 'identity_id', 'type', 'since', 'until', 'reason', 'via', 'organization'];

function query(known: Known): fc.Arbitrary<string> {
  return fc
    .array(fc.tuple(fc.oneof(fc.constantFrom(...QUERY_KEYS), nastyString()), fc.oneof(idLike(known), nastyString())), { maxLength: 4 })
    .map((pairs) => (pairs.length ? '?' + pairs.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&') : ''));
}

type Target = { app: 'public' | 'admin'; method: string; path: string };

function routes(known: Known): fc.Arbitrary<Target> {
  const id = idLike(known).map(encode);
  const publicRoutes: fc.Arbitrary<Target>[] = [
    fc.tuple(fc.constantFrom(...FLOW_KINDS), fc.constantFrom('browser', 'api')).map(([k, t]) => ({ app: 'public', method: 'GET', path: `/self-service/${k}/${t}` })),
    fc.constantFrom(...FLOW_KINDS).map((k) => ({ app: 'public', method: 'GET', path: `/self-service/${k}/flows` })),
    fc.constantFrom(...FLOW_KINDS).map((k) => ({ app: 'public', method: 'POST', path: `/self-service/${k}` })),
    fc.constantFrom('/self-service/errors', '/self-service/verification', '/self-service/recovery', MFA_RESET_CANCEL_PATH, '/self-service/logout', '/self-service/logout/browser', '/self-service/settings/lookup_secret/codes.txt', '/self-service/settings/lookup_secret/print', '/schemas', '/health/alive', '/health/ready', '/version').map((path) => ({ app: 'public', method: 'GET', path })),
    fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE').map((method) => ({ app: 'public', method, path: '/sessions/whoami' })),
    fc.constant({ app: 'public', method: 'DELETE', path: '/self-service/logout/api' }),
    id.map((x) => ({ app: 'public', method: 'GET', path: `/schemas/${x}` })),
    fc.constantFrom(...FLOW_KINDS, 'welcome', 'error', 'logout').map((k) => ({ app: 'public', method: 'GET', path: `/ui/${k}` })),
  ];
  const adminRoutes: fc.Arbitrary<Target>[] = [
    fc.constantFrom('GET', 'POST').map((method) => ({ app: 'admin', method, path: '/admin/identities' })),
    fc.tuple(fc.constantFrom('GET', 'PUT', 'PATCH', 'DELETE'), id).map(([method, x]) => ({ app: 'admin', method, path: `/admin/identities/${x}` })),
    fc.tuple(id, fc.oneof(fc.constantFrom('password', 'totp', 'lookup_secret', 'code', 'webauthn'), nastyString().map(encode))).map(([x, t]) => ({ app: 'admin', method: 'DELETE', path: `/admin/identities/${x}/credentials/${t}` })),
    fc.tuple(fc.constantFrom('GET', 'DELETE'), id).map(([method, x]) => ({ app: 'admin', method, path: `/admin/identities/${x}/sessions` })),
    fc.tuple(fc.constantFrom('GET', 'DELETE'), id).map(([method, x]) => ({ app: 'admin', method, path: `/admin/sessions/${x}` })),
    id.map((x) => ({ app: 'admin', method: 'GET', path: `/admin/identities/${x}/mfa` })),
    id.map((x) => ({ app: 'admin', method: 'POST', path: `/admin/identities/${x}/mfa/unlock` })),
    fc.constantFrom('/admin/audit-events', '/admin/courier/messages', '/metrics', '/health/ready').map((path) => ({ app: 'admin', method: 'GET', path })),
    id.map((x) => ({ app: 'admin', method: 'GET', path: `/admin/courier/messages/${x}` })),
    fc.constantFrom('/admin/recovery/code', '/admin/recovery/link').map((path) => ({ app: 'admin', method: 'POST', path })),
  ];
  return fc.oneof(...publicRoutes, ...adminRoutes);
}

function headers(known: Known): fc.Arbitrary<Record<string, string>> {
  return fc.record(
    {
      accept: fc.constantFrom('application/json', 'text/html', '*/*'),
      'x-session-token': fc.oneof(fc.constantFrom(...known.tokens), nastyString().map((s) => s.replace(/[^\x21-\x7e]/g, ''))),
      cookie: fc.constantFrom(...known.tokens.map((t) => `ory_kratos_session=${t}`), 'kairos_csrf_token=x', 'ory_kratos_session=%00'),
      'x-csrf-token': fc.string({ maxLength: 20 }).map((s) => s.replace(/[^\x21-\x7e]/g, '')),
    },
    { requiredKeys: [] },
  );
}

/**
 * What "no partial rows" means: every row that belongs with another is there with it. A write interrupted halfway
 * (a 500 after the first INSERT of several) leaves one of these broken.
 */
async function databaseInvariants(k: TestKairos): Promise<string[]> {
  const db = k.deps.db;
  const problems: string[] = [];
  const identities = await db.selectFrom('identities').selectAll().execute();
  const verifiable = await db.selectFrom('identity_verifiable_addresses').select(['identity_id', 'value']).execute();
  const recovery = await db.selectFrom('identity_recovery_addresses').select(['identity_id', 'value']).execute();
  for (const identity of identities) {
    let traits: Record<string, unknown>;
    try {
      traits = JSON.parse(identity.traits);
    } catch {
      problems.push(`identity ${identity.id}: traits are not JSON`);
      continue;
    }
    const email = typeof traits.email === 'string' ? traits.email.trim().toLowerCase() : null;
    // The default schema makes the email a verification and a recovery address: both rows exist with the identity.
    if (identity.schema_id === 'default' && email) {
      if (!verifiable.some((v) => v.identity_id === identity.id && v.value.toLowerCase() === email)) problems.push(`identity ${identity.id}: no verifiable address row for its email`);
      if (!recovery.some((r) => r.identity_id === identity.id && r.value.toLowerCase() === email)) problems.push(`identity ${identity.id}: no recovery address row for its email`);
    }
  }
  const credentials = await db.selectFrom('identity_credentials').select(['id', 'identity_id', 'type', 'config']).execute();
  const identifiers = await db.selectFrom('identity_credential_identifiers').select(['credential_id']).execute();
  const totpRows = await db.selectFrom('totp_credentials').select(['credential_id']).execute();
  const lookupRows = await db.selectFrom('lookup_secret_codes').select(['credential_id']).execute();
  for (const credential of credentials) {
    try {
      JSON.parse(credential.config);
    } catch {
      problems.push(`credential ${credential.id}: config is not JSON`);
    }
    if (credential.type === 'password' && !identifiers.some((i) => i.credential_id === credential.id)) problems.push(`password credential ${credential.id}: no identifier`);
    if (credential.type === 'totp' && !totpRows.some((t) => t.credential_id === credential.id)) problems.push(`totp credential ${credential.id}: no secret row`);
    if (credential.type === 'lookup_secret' && !lookupRows.some((l) => l.credential_id === credential.id)) problems.push(`lookup_secret credential ${credential.id}: no codes`);
  }
  for (const flow of await db.selectFrom('selfservice_flows').select(['id', 'ui', 'internal']).execute()) {
    try {
      JSON.parse(flow.ui);
      JSON.parse(flow.internal);
    } catch {
      problems.push(`flow ${flow.id}: ui or internal is not JSON`);
    }
  }
  return problems;
}

describe.each(DIALECTS)('fuzzing every route (%s)', (dialect) => {
  let k: TestKairos;
  const known: Known = { flowIds: [], identityIds: [], sessionIds: [], tokens: [], messageIds: [] };

  beforeAll(async () => {
    k = await startKairos({
      dialect,
      config: {
        // The limits are fuzzed too (their store is in the path), but high enough that answers are not all 429s.
        serve: { public: { rate_limit: { max_per_minute: 100_000, identity_max_per_minute: 100_000 } } },
        selfservice: { methods: { totp: { enabled: true } } },
        log: { level: 'warn' },
      },
    });
    // Two users (so each one's flows are foreign ids to the other), and a flow of every kind.
    for (let i = 0; i < 2; i++) {
      const user = await registerWithPassword(k, `fuzz${i}-${randomUUID().slice(0, 8)}@example.com`, PASSWORD);
      known.identityIds.push(user.identityId);
      known.tokens.push(user.token);
      known.flowIds.push((await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token })).id);
    }
    known.sessionIds.push(...(await k.deps.db.selectFrom('sessions').select('id').execute()).map((r) => r.id));
    known.flowIds.push((await k.frontend.createNativeLoginFlow()).id, (await k.frontend.createNativeRegistrationFlow()).id);
    known.flowIds.push((await k.frontend.createNativeRecoveryFlow()).id, (await k.frontend.createNativeVerificationFlow()).id);
    known.messageIds.push(...(await k.deps.db.selectFrom('courier_messages').select('id').execute()).map((r) => r.id));
  });
  afterAll(async () => k?.close());

  it(`answers ${RUNS} generated requests over every public and admin route without a 5xx or a hang, and leaves no partial rows`, async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(routes(known), query(known), body(known), headers(known), async (target, q, b, h) => {
        const app = target.app === 'public' ? k.server.publicApp : k.server.adminApp;
        const sendsBody = target.method !== 'GET' && b.payload !== undefined;
        const request = app.inject({
          method: target.method as 'GET',
          url: target.path + q,
          headers: { ...h, ...(sendsBody && b.contentType !== null ? { 'content-type': b.contentType } : {}) },
          ...(sendsBody ? { payload: b.payload } : {}),
        });
        let timer: NodeJS.Timeout | undefined;
        const hung = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)), REQUEST_TIMEOUT_MS);
        });
        const response = await Promise.race([request, hung]).finally(() => clearTimeout(timer));
        seen.set(response.statusCode, (seen.get(response.statusCode) ?? 0) + 1);
        if (response.statusCode >= 500) {
          throw new Error(`${target.method} ${target.path}${q.slice(0, 300)} → ${response.statusCode} ${response.body.slice(0, 300)}`);
        }
      }),
      { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}), endOnFailure: true },
    );
    // The run reached past validation: some requests succeeded and some were refused.
    expect([...seen.keys()].some((s) => s < 300)).toBe(true);
    expect([...seen.keys()].some((s) => s >= 400)).toBe(true);
    expect(await databaseInvariants(k)).toEqual([]);
    expect(k.logs.text()).not.toContain('unhandled error');
  }, 30 * 60_000);
});
