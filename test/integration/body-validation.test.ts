/**
 * Request bodies are validated by the route schemas (src/http/bodies.ts) before a handler runs. A wrong-typed field
 * sent to the admin API is a 400 in Kratos's envelope naming the field, and nothing is written: no identity,
 * credential, session, flow, recovery code or audit event. Values are never coerced ("true" is not true, 1 is not
 * "1"). Self-service submissions keep answering inside the flow: a wrong type there is never Fastify's 400 or a 500.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { registerWithPassword } from '../support/users.js';

const TABLES = [
  'audit_events', 'identities', 'identity_credentials', 'identity_credential_identifiers', 'identity_verifiable_addresses',
  'identity_recovery_addresses', 'sessions', 'selfservice_flows', 'recovery_codes', 'mfa_lockouts', 'courier_messages',
] as const;

describe.each(DIALECTS)('request body validation (%s)', (dialect) => {
  let k: TestKairos;
  let identityId: string;
  let sessionToken: string;
  beforeAll(async () => {
    k = await startKairos({ dialect });
    const registered = await registerWithPassword(k, `bodies-${dialect}@example.com`, 'a long enough passphrase');
    sessionToken = registered.token;
    identityId = (await k.deps.db.selectFrom('identities').select('id').executeTakeFirstOrThrow()).id;
  });
  afterAll(() => k?.close());

  async function rowCounts(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const table of TABLES) {
      const row = await k.deps.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      counts[table] = Number(row.n);
    }
    return counts;
  }

  /** Sends a bad body; expects Kratos's 400 whose reason names `field`, and no row written anywhere. */
  async function rejects(method: string, url: string, body: unknown, field: string | null, reason: RegExp) {
    const before = await rowCounts();
    const response = await fetch(`${k.adminUrl}${url}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const answer = (await response.json()) as { error: Record<string, unknown> };
    expect(response.status, `${method} ${url} ${JSON.stringify(answer)}`).toBe(400);
    expect(answer.error).toMatchObject({ code: 400, status: 'Bad Request', message: 'The request was malformed or contained invalid parameters' });
    expect(answer.error.reason).toMatch(reason);
    expect((answer.error.details as { field?: string | null }).field).toBe(field);
    expect(await rowCounts(), `${method} ${url} wrote nothing`).toEqual(before);
  }

  it('POST /admin/identities: wrong-typed traits, state, credentials, addresses and external_id are refused, nothing created', async () => {
    await rejects('POST', '/admin/identities', { traits: 'bob@example.com' }, 'traits', /^traits must be a JSON object$/);
    await rejects('POST', '/admin/identities', { traits: { email: 'c@example.com' }, state: 'disabled' }, 'state', /^state must be one of "active", "inactive"$/);
    await rejects('POST', '/admin/identities', { traits: { email: 'c@example.com' }, schema_id: 7 }, 'schema_id', /^schema_id must be a string$/);
    await rejects('POST', '/admin/identities', { traits: { email: 'c@example.com' }, credentials: { password: { config: 'secret' } } }, 'credentials.password.config', /must be a JSON object/);
    await rejects('POST', '/admin/identities', { traits: { email: 'c@example.com' }, verifiable_addresses: [{ value: 'c@example.com', verified: 'true' }] }, 'verifiable_addresses[0].verified', /must be a boolean/);
    await rejects('POST', '/admin/identities', { traits: { email: 'c@example.com' }, external_id: 42 }, 'external_id', /must be a string or null/);
    await rejects('POST', '/admin/identities', ['not', 'an', 'object'], null, /^The request body must be a JSON object$/);
  });

  it('PUT /admin/identities/{id}: state is required and typed, traits typed; the identity is unchanged', async () => {
    await rejects('PUT', `/admin/identities/${identityId}`, { traits: { email: 'x@example.com' } }, 'state', /^state is required$/);
    await rejects('PUT', `/admin/identities/${identityId}`, { state: 'active', traits: ['x'] }, 'traits', /^traits must be a JSON object$/);
    await rejects('PUT', `/admin/identities/${identityId}`, { state: true }, 'state', /^state must be a string$/);
    const identity = (await (await fetch(`${k.adminUrl}/admin/identities/${identityId}`)).json()) as { traits: { email: string }; state: string };
    expect(identity).toMatchObject({ state: 'active', traits: { email: `bodies-${dialect}@example.com` } });
  });

  it('PATCH /admin/identities/{id}: a JSON Patch must be an array of {op, path} with a known op', async () => {
    await rejects('PATCH', `/admin/identities/${identityId}`, { op: 'replace', path: '/state', value: 'inactive' }, null, /^The request body must be an array$/);
    await rejects('PATCH', `/admin/identities/${identityId}`, [{ op: 'replace', value: 'inactive' }], '[0].path', /^\[0\]\.path is required$/);
    await rejects('PATCH', `/admin/identities/${identityId}`, [{ op: 'delete', path: '/state' }], '[0].op', /must be one of "add", "remove"/);
    await rejects('PATCH', `/admin/identities/${identityId}`, [{ op: 'replace', path: 5, value: 'inactive' }], '[0].path', /must be a string/);
    // A patch that writes a wrong type into the document is refused by the handler, also without a write.
    const before = await rowCounts();
    const response = await fetch(`${k.adminUrl}/admin/identities/${identityId}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ op: 'replace', path: '/traits', value: 'bob' }]) });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { reason: string } }).error.reason).toMatch(/traits must be a JSON object/);
    expect(await rowCounts()).toEqual(before);
  });

  it('PATCH /admin/identities (batch): the envelope and every entry are checked before any identity is created', async () => {
    const good = { create: { traits: { email: `batch-ok-${dialect}@example.com` } } };
    await rejects('PATCH', '/admin/identities', { identities: 'all' }, 'identities', /^identities must be an array$/);
    await rejects('PATCH', '/admin/identities', { identities: [good], delete: [] }, 'delete', /^json: unknown field "delete"$/);
    await rejects('PATCH', '/admin/identities', { identities: [good, { create: good.create, patch_id: 'nope' }] }, 'identities[1].patch_id', /must be a UUID/);
    await rejects('PATCH', '/admin/identities', { identities: [good, { create: { traits: { email: 'y@example.com' }, state: 1 } }] }, 'identities[1].create.state', /must be a string/);
  });

  it('DELETE /admin/identities/{id}/credentials/{type}: a non-string reason is refused, the credential stays', async () => {
    await rejects('DELETE', `/admin/identities/${identityId}/credentials/password`, { reason: ['lost'] }, 'reason', /^reason must be a string$/);
  });

  it('POST /admin/identities/{id}/mfa/unlock: reason must be a string of at most 1000 characters', async () => {
    await rejects('POST', `/admin/identities/${identityId}/mfa/unlock`, { reason: 12 }, 'reason', /^reason must be a string or null$/);
    await rejects('POST', `/admin/identities/${identityId}/mfa/unlock`, { reason: 'x'.repeat(1001) }, 'reason', /^reason must be at most 1000 characters$/);
    await rejects('POST', `/admin/identities/${identityId}/mfa/unlock`, 'please', null, /^The request body must be a JSON object or null$/);
  });

  it('DELETE /admin/identities/{id}/remembered-devices: a non-string reason is refused, nothing revoked or audited', async () => {
    await rejects('DELETE', `/admin/identities/${identityId}/remembered-devices`, { reason: 5 }, 'reason', /^reason must be a string or null$/);
  });

  it('POST /admin/recovery/{code,link}: identity_id required and a string, expires_in a string, flow_type known; no code issued', async () => {
    await rejects('POST', '/admin/recovery/code', { expires_in: '1h' }, 'identity_id', /^identity_id is required$/);
    await rejects('POST', '/admin/recovery/code', { identity_id: [identityId] }, 'identity_id', /must be a string/);
    await rejects('POST', '/admin/recovery/code', { identity_id: identityId, expires_in: 3600 }, 'expires_in', /must be a string/);
    await rejects('POST', '/admin/recovery/code', { identity_id: identityId, flow_type: 'native' }, 'flow_type', /must be one of "browser", "api"/);
    await rejects('POST', '/admin/recovery/link', { identity_id: identityId, reason: { why: 'x' } }, 'reason', /must be a string/);
  });

  it('values are not coerced: "true" is not a boolean and 1 is not a string', async () => {
    await rejects('POST', '/admin/identities', { traits: { email: 'd@example.com' }, verifiable_addresses: [{ value: 'd@example.com', verified: 1 }] }, 'verifiable_addresses[0].verified', /must be a boolean/);
    await rejects('POST', '/admin/recovery/link', { identity_id: 12345 }, 'identity_id', /must be a string/);
  });

  it('valid bodies still work, and unknown fields Kratos ignores are accepted (organization_id from newer SDKs)', async () => {
    const created = await fetch(`${k.adminUrl}/admin/identities`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ schema_id: 'default', traits: { email: `valid-${dialect}@example.com` }, organization_id: null, unknown_extra: 1 }) });
    expect(created.status).toBe(201);
    const unlocked = await fetch(`${k.adminUrl}/admin/identities/${identityId}/mfa/unlock`, { method: 'POST' });
    expect(unlocked.status).toBe(200);
  });

  it('DELETE /self-service/logout/api: session_token is required and a string (JSON or form); the session survives', async () => {
    for (const body of [{}, { session_token: 5 }, { session_token: '' }]) {
      const response = await fetch(`${k.publicUrl}/self-service/logout/api`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { details: { field: string } } }).error.details.field).toBe('session_token');
    }
    const whoami = await fetch(`${k.publicUrl}/sessions/whoami`, { headers: { 'x-session-token': sessionToken } });
    expect(whoami.status).toBe(200);
    const form = await fetch(`${k.publicUrl}/self-service/logout/api`, { method: 'DELETE', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ session_token: sessionToken }).toString() });
    expect(form.status).toBe(204);
  });

  it('self-service submissions with wrong-typed fields are answered inside the flow, never with a 500 or a validation 400', async () => {
    const flow = (await (await fetch(`${k.publicUrl}/self-service/login/api`)).json()) as { id: string };
    for (const body of [{ method: 'password', identifier: 42, password: ['x'] }, { method: 7 }, { method: 'totp', totp_code: { a: 1 } }]) {
      const response = await fetch(`${k.publicUrl}/self-service/login?flow=${flow.id}`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) });
      expect(response.status, JSON.stringify(body)).toBeLessThan(500);
      const answer = (await response.json()) as { id?: string; ui?: unknown; error?: { details?: { field?: string } } };
      expect(answer.error?.details?.field, 'not a Fastify schema error').toBeUndefined();
    }
    // A form with flat traits.x keys still registers.
    const registration = (await (await fetch(`${k.publicUrl}/self-service/registration/api`)).json()) as { id: string };
    const form = new URLSearchParams({ method: 'password', 'traits.email': `form-${dialect}@example.com`, password: 'another long passphrase' });
    const registered = await fetch(`${k.publicUrl}/self-service/registration?flow=${registration.id}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: form.toString() });
    expect(registered.status).toBe(200);
  });
});
