/**
 * Kratos's `PATCH /admin/identities` (identity/handler.go batchPatchIdentities): create up to 1000 identities in one
 * request, at most 200 of them with a plaintext password (each costs a hash). Body
 * `{identities: [{create: <POST /admin/identities body>, patch_id?: uuid}]}`; answer
 * `{identities: [{action: "create", identity: <id>, patch_id} | {action: "error", patch_id, error}]}` in request
 * order. Kratos's batch has no delete (its `ActionDelete` is commented out), and neither does Kairos's.
 *
 * Each entry goes through the same code as `POST /admin/identities` (injected into this listener with the caller's
 * authorization, so the same validation, import, audit event and actor apply) and is committed on its own: like
 * Kratos, one conflicting identity fails as an `error` entry without undoing the others; an entry is never half
 * written.
 */
import type { FastifyInstance } from 'fastify';
import { errors } from '../../errors/http-error.js';
import { batchPatchIdentitiesBodySchema, type BatchPatchIdentitiesBody } from '../bodies.js';

/** identity/handler.go: BatchPatchIdentitiesLimit and BatchPatchIdentitiesWithPasswordLimit. */
export const BATCH_PATCH_IDENTITIES_LIMIT = 1000;
export const BATCH_PATCH_IDENTITIES_WITH_PASSWORD_LIMIT = 200;
/** 1000 identities with traits and imported credentials need more than the admin listener's default 1 MiB. */
const BATCH_BODY_LIMIT_BYTES = 16 * 1024 * 1024;

export async function adminIdentityBatchRoutes(app: FastifyInstance) {
  // The schema checks the envelope and each entry (unknown fields, patch_id a UUID, create a createIdentityBody).
  const schema = { body: batchPatchIdentitiesBodySchema };
  app.patch<{ Body: BatchPatchIdentitiesBody }>('/admin/identities', { bodyLimit: BATCH_BODY_LIMIT_BYTES, schema }, async (request, reply) => {
    const patches = request.body.identities;
    if (patches.length > BATCH_PATCH_IDENTITIES_LIMIT)
      throw errors.badRequest(`The maximum number of identities per request that can be created or deleted at once is ${BATCH_PATCH_IDENTITIES_LIMIT}.`);
    let plaintextPasswords = 0;
    for (const patch of patches) {
      const password = patch.create?.credentials?.password?.config.password;
      if (typeof password === 'string' && password !== '') plaintextPasswords++;
    }
    if (plaintextPasswords > BATCH_PATCH_IDENTITIES_WITH_PASSWORD_LIMIT)
      throw errors.badRequest(`The maximum number of identities per request that can be created with a plaintext password is ${BATCH_PATCH_IDENTITIES_WITH_PASSWORD_LIMIT}.`);

    const results: Record<string, unknown>[] = [];
    for (const patch of patches) {
      if (!patch.create) {
        // Kratos leaves an entry without `create` empty (null) in its answer.
        results.push(null as unknown as Record<string, unknown>);
        continue;
      }
      const created = await app.inject({
        method: 'POST',
        url: '/admin/identities',
        headers: { 'content-type': 'application/json', ...(request.headers.authorization ? { authorization: request.headers.authorization } : {}) },
        remoteAddress: request.ip,
        payload: JSON.stringify(patch.create),
      });
      const answer = created.json() as Record<string, unknown>;
      if (created.statusCode === 201) results.push({ action: 'create', identity: answer.id, ...(patch.patch_id ? { patch_id: patch.patch_id } : {}) });
      else results.push({ action: 'error', ...(patch.patch_id ? { patch_id: patch.patch_id } : {}), error: answer.error ?? answer });
    }
    return reply.send({ identities: results });
  });
}
