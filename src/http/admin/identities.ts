import type { FastifyInstance } from 'fastify';
import jsonPatch from 'fast-json-patch';
import type { Deps } from '../../deps.js';
import { errors } from '../../errors/http-error.js';
import { identityToJson, type Identity } from '../../identity/identity.js';
import { DuplicateIdentifierError, TraitsInvalidError } from '../../identity/identity-service.js';
import * as repo from '../../identity/repository.js';
import type { CredentialAdapter } from '../../identity/credential-adapters.js';
import { sessionToJson } from '../../session/session.js';
import {
  createIdentityBodySchema,
  deleteCredentialBodySchema,
  jsonPatchBodySchema,
  MAX_REASON_LENGTH,
  updateIdentityBodySchema,
  type CreateIdentityBody,
  type DeleteCredentialBody,
  type JsonPatchBody,
  type UpdateIdentityBody,
} from '../bodies.js';

const DEFAULT_PAGE_SIZE = 250;
const MAX_PAGE_SIZE = 1000;

export interface AdminIdentityOptions {
  deps: Deps;
  adapters: Record<string, CredentialAdapter>;
  /** Who is acting, for the audit trail (the admin API key's id, or `admin`). */
  actorOf(request: import('fastify').FastifyRequest): string;
  /** The modules' members of the `kairos` object (e.g. the MFA rule in force); Kratos clients ignore it. */
  extras?(identity: Identity): Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function encodeCursor(identity: { createdAtMs: number; id: string }): string {
  return Buffer.from(JSON.stringify({ c: identity.createdAtMs, i: identity.id })).toString('base64url');
}

function decodeCursor(token: string): { createdAtMs: number; id: string } {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (typeof parsed.c === 'number' && typeof parsed.i === 'string') return { createdAtMs: parsed.c, id: parsed.i };
  } catch {
    /* fall through */
  }
  throw errors.badRequest('page_token is malformed');
}

const asList = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : value === undefined ? [] : [String(value)]);

export async function adminIdentityRoutes(app: FastifyInstance, options: AdminIdentityOptions) {
  const { deps, adapters } = options;
  const { identities } = deps;

  async function toJson(identity: Identity, include: string[]): Promise<Record<string, unknown>> {
    const configs = new Map<string, Record<string, unknown>>();
    for (const type of include) {
      const credential = identity.credentials[type];
      if (!credential) continue;
      const adapter = adapters[type];
      configs.set(type, adapter?.adminConfig ? await adapter.adminConfig(credential, identity) : credential.config);
    }
    const json = identityToJson(identity, {
      schemaUrl: deps.schemas.urlFor(identity.schemaId),
      includeMetadataAdmin: true,
      credentials: {
        include: true,
        withConfigFor: include,
        redactConfig: (credential) => configs.get(credential.type) ?? {},
      },
    });
    const kairos = options.extras?.(identity) ?? {};
    if (Object.keys(kairos).length > 0) json.kairos = kairos;
    return json;
  }

  function traitsError(err: unknown): never {
    if (err instanceof TraitsInvalidError) {
      throw errors.badRequest(
        err.problems.map((p) => `${p.field ?? 'traits'}: ${p.message.text}`).join('; '),
        { problems: err.problems.map((p) => ({ field: p.field, message: p.message })) },
      );
    }
    if (err instanceof DuplicateIdentifierError) throw errors.conflict('This identity conflicts with another identity that already exists.');
    throw err;
  }

  const loadOr404 = async (id: string) => {
    const identity = await identities.get(id);
    if (!identity) throw errors.notFound('Unable to locate the resource');
    return identity;
  };

  app.get('/admin/identities', async (request, reply) => {
    const q = request.query as Record<string, unknown>;
    const pageSize = Math.min(Math.max(Number(q.page_size ?? q.per_page ?? DEFAULT_PAGE_SIZE) || DEFAULT_PAGE_SIZE, 1), MAX_PAGE_SIZE);
    const after = typeof q.page_token === 'string' && q.page_token ? decodeCursor(q.page_token) : null;
    const identifier = typeof q.credentials_identifier === 'string' ? q.credentials_identifier : undefined;
    const ids = q.ids === undefined ? undefined : asList(q.ids);
    let page = await identities.listPage({ pageSize, after, identifier: identifier?.trim(), ids });
    if (identifier && page.length === 0 && identifier !== identifier.toLowerCase()) {
      page = await identities.listPage({ pageSize, after, identifier: identifier.toLowerCase() });
    }
    const include = asList(q.include_credential);
    if (page.length === pageSize) {
      const next = new URL('/admin/identities', deps.config.serve.admin.base_url);
      next.searchParams.set('page_size', String(pageSize));
      next.searchParams.set('page_token', encodeCursor(page.at(-1)!));
      reply.header('link', `<${next.pathname}${next.search}>; rel="next"`);
    }
    return reply.send(await Promise.all(page.map((i) => toJson(i, include))));
  });

  app.post<{ Body: CreateIdentityBody }>('/admin/identities', { schema: { body: createIdentityBodySchema } }, async (request, reply) => {
    const body = request.body;
    const schemaId = body.schema_id ?? deps.config.identity.default_schema_id;
    if (!deps.schemas.get(schemaId)) throw errors.badRequest(`schema_id "${schemaId}" is not a known identity schema`);
    let identity: Identity;
    try {
      identity = identities.build({
        schemaId,
        traits: body.traits ?? {},
        state: body.state ?? 'active',
        metadataPublic: body.metadata_public,
        metadataAdmin: body.metadata_admin,
        externalId: body.external_id ?? null,
      });
    } catch (err) {
      traitsError(err);
    }
    const credentials = body.credentials ?? {};
    const imports: [CredentialAdapter, Record<string, unknown>][] = [];
    for (const [type, { config }] of Object.entries(credentials)) {
      const adapter = adapters[type];
      if (adapter?.prepareImport) {
        identity.credentials[type] = await adapter.prepareImport(identity, config);
        continue;
      }
      if (!adapter?.importCredential) throw errors.badRequest(`Importing credentials of type "${type}" is not supported.`);
      imports.push([adapter, config]);
    }
    // Addresses given explicitly (e.g. marked verified by an import) override the derived ones for the same value.
    try {
      await deps.storage.transaction(async (trx) => {
        await identities.create(identity, trx);
        await applyImportedAddresses(deps, identity, body, trx);
        for (const [adapter, config] of imports) await adapter.importCredential!(identity, config, trx);
        await deps.audit.record(trx, { type: 'identity.created', identityId: identity.id, actor: options.actorOf(request), ipAddress: request.ip, details: { imported_credentials: Object.keys(credentials) } });
      });
    } catch (err) {
      if (err instanceof Error && err.name === 'CredentialImportError') throw errors.badRequest(err.message);
      traitsError(err);
    }
    return reply.code(201).send(await toJson((await identities.get(identity.id))!, []));
  });

  app.get('/admin/identities/:id', async (request, reply) => {
    const identity = await loadOr404((request.params as { id: string }).id);
    return reply.send(await toJson(identity, asList((request.query as Record<string, unknown>).include_credential)));
  });

  /** A PUT body, or the document a JSON Patch produced (re-checked here: a patch can write any type anywhere). */
  async function replaceIdentity(identity: Identity, body: Record<string, unknown>, actor: string, ip: string) {
    if (body.state !== undefined && body.state !== 'active' && body.state !== 'inactive') throw errors.badRequest('state must be "active" or "inactive"');
    if (body.traits !== undefined && !isObject(body.traits)) throw errors.badRequest('traits must be a JSON object');
    if (body.schema_id !== undefined && typeof body.schema_id !== 'string') throw errors.badRequest('schema_id must be a string');
    if (typeof body.schema_id === 'string') {
      if (!deps.schemas.get(body.schema_id)) throw errors.badRequest(`schema_id "${body.schema_id}" is not a known identity schema`);
      identity.schemaId = body.schema_id;
    }
    if (isObject(body.traits)) identity.traits = body.traits;
    if (body.state && body.state !== identity.state) {
      identity.state = body.state as 'active' | 'inactive';
      identity.stateChangedAtMs = deps.clock.nowMs();
    }
    if ('metadata_public' in body) identity.metadataPublic = body.metadata_public;
    if ('metadata_admin' in body) identity.metadataAdmin = body.metadata_admin;
    if ('external_id' in body) identity.externalId = typeof body.external_id === 'string' ? body.external_id : null;
    const credentials = isObject(body.credentials) ? body.credentials : {};
    for (const [type, value] of Object.entries(credentials)) {
      const adapter = adapters[type];
      if (adapter?.prepareImport && isObject(value) && isObject(value.config)) identity.credentials[type] = await adapter.prepareImport(identity, value.config);
    }
    // One unit of work: the change, the sessions an inactive identity loses, and the audit event.
    await deps.storage.transaction(async (trx) => {
      try {
        await identities.update(identity, {}, trx);
      } catch (err) {
        traitsError(err);
      }
      if (identity.state === 'inactive') await deps.sessions.revokeAllForIdentity(identity.id);
      await deps.audit.record(trx, { type: 'identity.updated', identityId: identity.id, actor, ipAddress: ip, details: { via: 'admin' } });
    });
  }

  app.put<{ Body: UpdateIdentityBody }>('/admin/identities/:id', { schema: { body: updateIdentityBodySchema } }, async (request, reply) => {
    const identity = await loadOr404((request.params as { id: string }).id);
    await replaceIdentity(identity, request.body, options.actorOf(request), request.ip);
    return reply.send(await toJson((await identities.get(identity.id))!, []));
  });

  app.patch<{ Body: JsonPatchBody }>('/admin/identities/:id', { schema: { body: jsonPatchBodySchema } }, async (request, reply) => {
    const identity = await loadOr404((request.params as { id: string }).id);
    const operations = request.body;
    const denied = ['/id', '/credentials', '/created_at', '/updated_at', '/state_changed_at'];
    for (const op of operations) {
      if (denied.some((d) => op.path === d || op.path.startsWith(d + '/'))) throw errors.badRequest(`patch path ${op.path} is not allowed`);
    }
    const document = {
      schema_id: identity.schemaId,
      state: identity.state,
      traits: identity.traits,
      metadata_public: identity.metadataPublic,
      metadata_admin: identity.metadataAdmin,
      external_id: identity.externalId,
    };
    let patched: Record<string, unknown>;
    try {
      patched = jsonPatch.applyPatch(structuredClone(document), operations as jsonPatch.Operation[], true, false).newDocument as Record<string, unknown>;
    } catch (err) {
      throw errors.badRequest(`The JSON Patch could not be applied: ${(err as Error).message.split('\n')[0]}`);
    }
    await replaceIdentity(identity, patched, options.actorOf(request), request.ip);
    return reply.send(await toJson((await identities.get(identity.id))!, []));
  });

  app.delete('/admin/identities/:id', async (request, reply) => {
    const id = (request.params as { id: string }).id;
    await loadOr404(id);
    await deps.storage.transaction(async (trx) => {
      await identities.delete(id, trx);
      await deps.audit.record(trx, { type: 'identity.deleted', identityId: id, actor: options.actorOf(request), ipAddress: request.ip });
    });
    return reply.code(204).send();
  });

  app.delete<{ Body: DeleteCredentialBody }>('/admin/identities/:id/credentials/:type', { schema: { body: deleteCredentialBodySchema } }, async (request, reply) => {
    const { id, type } = request.params as { id: string; type: string };
    const identity = await loadOr404(id);
    if (!identity.credentials[type]) throw errors.notFound(`You tried to remove a ${type} but this user have no ${type} set up.`);
    if (adapters[type]?.firstFactor) {
      const others = Object.values(adapters).filter((a) => a.firstFactor && a.type !== type && identity.credentials[a.type]);
      if (others.length === 0) throw errors.badRequest(`You cannot remove the last first factor (${type}) of an identity.`);
    } else if (!adapters[type]?.deletable) {
      throw errors.badRequest(`Credentials type ${type} cannot be deleted.`);
    }
    const query = request.query as Record<string, unknown>;
    const reason = typeof query.reason === 'string' ? query.reason : (request.body?.reason ?? null);
    if (reason && reason.length > MAX_REASON_LENGTH) throw errors.badRequest(`reason must be at most ${MAX_REASON_LENGTH} characters`);
    await deps.storage.transaction(async (trx) => {
      await identities.deleteCredential(id, type, trx);
      await deps.audit.record(trx, { type: 'credential.deleted', identityId: id, actor: options.actorOf(request), ipAddress: request.ip, details: { credential_type: type, reason: reason ?? 'no reason given' } });
    });
    return reply.code(204).send();
  });

  app.get('/admin/identities/:id/sessions', async (request, reply) => {
    const id = (request.params as { id: string }).id;
    const identity = await loadOr404(id);
    const q = request.query as Record<string, unknown>;
    const activeOnly = q.active === 'true' ? true : undefined;
    const sessions = await deps.sessions.listForIdentity(id, { activeOnly });
    const filtered = q.active === 'false' ? sessions.filter((s) => !s.active || s.expiresAtMs <= deps.clock.nowMs()) : sessions;
    const identityJson = await toJson(identity, []);
    return reply.send(filtered.map((s) => sessionToJson(s, deps.clock.nowMs(), identityJson)));
  });

  app.delete('/admin/identities/:id/sessions', async (request, reply) => {
    const id = (request.params as { id: string }).id;
    await loadOr404(id);
    await deps.storage.transaction(async (trx) => {
      const count = await deps.sessions.revokeAllForIdentity(id);
      await deps.audit.record(trx, { type: 'session.revoked', identityId: id, actor: options.actorOf(request), ipAddress: request.ip, details: { via: 'admin', count } });
    });
    return reply.code(204).send();
  });

  app.get('/admin/sessions/:id', async (request, reply) => {
    const session = await deps.sessions.findById((request.params as { id: string }).id);
    if (!session) throw errors.notFound('Unable to locate the resource');
    const identity = await identities.get(session.identityId);
    return reply.send(sessionToJson(session, deps.clock.nowMs(), identity ? await toJson(identity, []) : null));
  });

  app.delete('/admin/sessions/:id', async (request, reply) => {
    const session = await deps.sessions.findById((request.params as { id: string }).id);
    if (!session) throw errors.notFound('Unable to locate the resource');
    await deps.storage.transaction(async (trx) => {
      await deps.sessions.revoke(session.id);
      await deps.audit.record(trx, { type: 'session.revoked', identityId: session.identityId, sessionId: session.id, actor: options.actorOf(request), ipAddress: request.ip, details: { via: 'admin' } });
    });
    return reply.code(204).send();
  });
}

async function applyImportedAddresses(deps: Deps, identity: Identity, body: CreateIdentityBody, trx: repo.Db) {
  let changed = false;
  for (const entry of body.verifiable_addresses ?? []) {
    const value = entry.value;
    const address = identity.verifiableAddresses.find((a) => a.value === value.toLowerCase() || a.value === value);
    if (address && entry.verified === true) {
      address.verified = true;
      address.status = 'completed';
      address.verifiedAtMs = deps.clock.nowMs();
      changed = true;
    }
  }
  if (changed) await repo.replaceAddresses(trx, identity.id, identity.verifiableAddresses, identity.recoveryAddresses);
}
