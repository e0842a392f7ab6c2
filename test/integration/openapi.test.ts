/**
 * /openapi.json on both listeners: an OpenAPI 3.1 document generated from the registered routes. Every route a
 * listener serves is in it, and the responses to a set of representative requests (health, flows, sessions,
 * identities, errors) validate against the schema it declares for their status.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { registeredRoutes } from '../../src/http/openapi.js';
import { registerWithPassword } from '../support/users.js';

type Doc = { openapi: string; paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema: unknown }> }> }>>; components?: unknown };

/** Fastify's `/a/:id` is OpenAPI's `/a/{id}`. */
const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

describe.each(DIALECTS)('OpenAPI (%s)', (dialect) => {
  let k: TestKairos;
  const docs: Record<'public' | 'admin', Doc> = {} as never;
  let ajv: Ajv2020;
  beforeAll(async () => {
    k = await startKairos({ dialect, config: { selfservice: { methods: { totp: { enabled: true } } } } });
    docs.public = (await (await fetch(`${k.publicUrl}/openapi.json`)).json()) as Doc;
    docs.admin = (await (await fetch(`${k.adminUrl}/openapi.json`)).json()) as Doc;
    ajv = new Ajv2020({ strict: false, allErrors: true });
    (addFormats as unknown as (a: Ajv2020) => void)(ajv);
    ajv.addSchema({ ...docs.public, $id: 'public' });
    ajv.addSchema({ ...docs.admin, $id: 'admin' });
  });
  afterAll(() => k?.close());

  it('is OpenAPI 3.1 on each listener', () => {
    expect(docs.public.openapi).toBe('3.1.0');
    expect(docs.admin.openapi).toBe('3.1.0');
  });

  it('describes every route each listener registered', () => {
    for (const [listener, app] of [['public', k.server.publicApp], ['admin', k.server.adminApp]] as const) {
      const routes = registeredRoutes(app).filter((r) => !r.hidden && r.method !== 'HEAD');
      expect(routes.length).toBeGreaterThan(5);
      const missing = routes.filter((r) => !docs[listener].paths[openApiPath(r.url)]?.[r.method.toLowerCase()]).map((r) => `${r.method} ${r.url}`);
      expect(missing, `${listener} routes missing from /openapi.json`).toEqual([]);
    }
    expect(docs.admin.paths['/admin/identities']?.post).toBeTruthy();
    expect(docs.public.paths['/self-service/login/flows']?.get).toBeTruthy();
  });

  /**
   * Routes that take no body although their method could carry one: Kratos's extend has none, whoami answers every
   * method (Kratos), and the DELETEs that identify their target in the path.
   */
  const NO_BODY = new Set([
    'PATCH /admin/sessions/:id/extend',
    'POST /sessions/whoami', 'PUT /sessions/whoami', 'PATCH /sessions/whoami',
  ]);

  it('declares a request body schema for every route with a body (POST, PUT, PATCH, and DELETEs that read one)', () => {
    const withBody: string[] = [];
    for (const [listener, app] of [['public', k.server.publicApp], ['admin', k.server.adminApp]] as const) {
      for (const r of registeredRoutes(app)) {
        if (r.hidden || !['POST', 'PUT', 'PATCH'].includes(r.method) || NO_BODY.has(`${r.method} ${r.url}`)) continue;
        const operation = docs[listener].paths[openApiPath(r.url)]?.[r.method.toLowerCase()] as { requestBody?: { content?: Record<string, { schema?: unknown }> } } | undefined;
        if (!Object.values(operation?.requestBody?.content ?? {}).some((c) => c.schema)) withBody.push(`${listener}: ${r.method} ${r.url}`);
      }
    }
    expect(withBody, 'routes without a body schema').toEqual([]);
    for (const [listener, path] of [['public', '/self-service/logout/api'], ['admin', '/admin/identities/{id}/credentials/{type}'], ['admin', '/admin/identities/{id}/remembered-devices']] as const) {
      expect((docs[listener].paths[path]?.delete as { requestBody?: unknown } | undefined)?.requestBody, `DELETE ${path}`).toBeTruthy();
    }
    // The JSON Patch body is an array of operations; a flow submission is documented by method.
    const patch = (docs.admin.paths['/admin/identities/{id}']?.patch as { requestBody: { content: Record<string, { schema: { type: string } }> } }).requestBody;
    expect(patch.content['application/json']!.schema.type).toBe('array');
    const login = (docs.public.paths['/self-service/login']?.post as { requestBody: { content: Record<string, { schema: { oneOf: { properties: { method: { enum: string[] } } }[] } }> } }).requestBody;
    // Forms are documented beside JSON.
    expect(Object.keys(login.content)).toEqual(expect.arrayContaining(['application/json', 'application/x-www-form-urlencoded']));
    expect(login.content['application/json']!.schema.oneOf.map((m) => m.properties.method.enum[0])).toEqual(expect.arrayContaining(['password', 'totp', 'lookup_secret']));
  });

  /** Validates a response against the schema the document declares for its method, path and status. */
  async function conforms(listener: 'public' | 'admin', method: string, path: string, response: Response): Promise<void> {
    const responses = docs[listener].paths[path]?.[method]?.responses ?? {};
    const key = String(response.status) in responses ? String(response.status) : `${String(response.status)[0]}XX`;
    expect(responses[key], `${method.toUpperCase()} ${path} declares a ${response.status} response`).toBeTruthy();
    const pointer = ['paths', path, method, 'responses', key, 'content', 'application/json', 'schema'].map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');
    const validate = ajv.compile({ $ref: `${listener}#/${pointer}` });
    const body = await response.json();
    expect(validate(body), `${method.toUpperCase()} ${path} ${response.status}: ${JSON.stringify(validate.errors)}`).toBe(true);
  }

  it('health, readiness and version responses validate (public and admin)', async () => {
    await conforms('public', 'get', '/health/alive', await fetch(`${k.publicUrl}/health/alive`));
    await conforms('public', 'get', '/health/ready', await fetch(`${k.publicUrl}/health/ready`));
    await conforms('admin', 'get', '/health/ready', await fetch(`${k.adminUrl}/health/ready`));
    await conforms('public', 'get', '/version', await fetch(`${k.publicUrl}/version`));
  });

  it('flows, sessions and their errors validate', async () => {
    const created = await fetch(`${k.publicUrl}/self-service/login/api`, { headers: { accept: 'application/json' } });
    const flow = (await created.clone().json()) as { id: string };
    await conforms('public', 'get', '/self-service/login/api', created);
    await conforms('public', 'get', '/self-service/login/flows', await fetch(`${k.publicUrl}/self-service/login/flows?id=${flow.id}`));
    await conforms('public', 'get', '/self-service/registration/flows', await fetch(`${k.publicUrl}/self-service/registration/flows?id=00000000-0000-4000-8000-000000000000`));
    await conforms('public', 'get', '/sessions/whoami', await fetch(`${k.publicUrl}/sessions/whoami`));
    const { token } = await registerWithPassword(k, `openapi-${dialect}@example.com`, 'a long enough passphrase');
    await conforms('public', 'get', '/sessions/whoami', await fetch(`${k.publicUrl}/sessions/whoami`, { headers: { 'x-session-token': token } }));
  });

  it('admin identity responses (created, listed, fetched, not found, invalid) validate', async () => {
    const json = { 'content-type': 'application/json' };
    const created = await fetch(`${k.adminUrl}/admin/identities`, { method: 'POST', headers: json, body: JSON.stringify({ schema_id: 'default', traits: { email: `openapi-admin-${dialect}@example.com` } }) });
    const identity = (await created.clone().json()) as { id: string };
    await conforms('admin', 'post', '/admin/identities', created);
    await conforms('admin', 'get', '/admin/identities', await fetch(`${k.adminUrl}/admin/identities`));
    await conforms('admin', 'get', '/admin/identities/{id}', await fetch(`${k.adminUrl}/admin/identities/${identity.id}`));
    await conforms('admin', 'get', '/admin/identities/{id}', await fetch(`${k.adminUrl}/admin/identities/00000000-0000-4000-8000-000000000000`));
    await conforms('admin', 'post', '/admin/identities', await fetch(`${k.adminUrl}/admin/identities`, { method: 'POST', headers: json, body: '{"traits":' }));
  });
});
