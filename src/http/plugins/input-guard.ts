/**
 * Input checks that run before any handler, so malformed input never reaches the database (issue 14, finding 5):
 *
 * - Control characters: query strings and route parameters may not hold any C0 or C1 control character or DEL
 *   (they carry ids, codes, tokens and URLs, none of which has one); request bodies may not hold NUL or C0 controls
 *   other than TAB, LF and CR in any string or key. PostgreSQL cannot store NUL in text at all (it answered
 *   `invalid byte sequence` → 500), and a control character in `return_to` reached `Location`. → 400.
 * - Ids: every `:id` route parameter and the `flow` and `id` query parameters of the API (`/self-service/`,
 *   `/sessions/`, `/admin/`) are UUIDs; anything else cannot name a row, so it is a 404 in Kratos's shape without
 *   a query. (`/schemas/:id` takes base64url schema ids and is excluded.)
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errors } from '../../errors/http-error.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** C0, DEL and C1 controls. */
const QUERY_FORBIDDEN = /[\u0000-\u001f\u007f-\u009f]/;
/** NUL and the C0 controls other than TAB, LF, CR; DEL. */
const BODY_FORBIDDEN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
/** Bodies nest a few levels (traits, transient_payload, metadata); deeper is refused rather than walked. */
const MAX_BODY_DEPTH = 32;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

const ID_QUERY_KEYS = ['flow', 'id'];
const hasIdSemantics = (url: string) => url.startsWith('/self-service/') || url.startsWith('/sessions/') || url.startsWith('/admin/');

function badCharacters(where: string) {
  return errors.badRequest(`The ${where} contains a control character, which no field accepts.`);
}

/** Walks a parsed body; true when some string or key holds a forbidden character (or nesting is absurd). */
function bodyHasForbidden(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return BODY_FORBIDDEN.test(value);
  if (value === null || typeof value !== 'object') return false;
  if (depth > MAX_BODY_DEPTH) return true;
  if (Array.isArray(value)) return value.some((v) => bodyHasForbidden(v, depth + 1));
  for (const [key, v] of Object.entries(value)) if (BODY_FORBIDDEN.test(key) || bodyHasForbidden(v, depth + 1)) return true;
  return false;
}

function queryHasForbidden(query: unknown): boolean {
  if (query === null || typeof query !== 'object') return false;
  for (const [key, value] of Object.entries(query)) {
    if (QUERY_FORBIDDEN.test(key)) return true;
    const values = Array.isArray(value) ? value : [value];
    if (values.some((v) => typeof v === 'string' && QUERY_FORBIDDEN.test(v))) return true;
  }
  return false;
}

export function checkRequestInput(request: FastifyRequest): void {
  const routeUrl = request.routeOptions.url ?? '';
  if (queryHasForbidden(request.query)) throw badCharacters('query string');
  const params = (request.params ?? {}) as Record<string, unknown>;
  for (const value of Object.values(params)) if (typeof value === 'string' && QUERY_FORBIDDEN.test(value)) throw badCharacters('path');
  if (routeUrl !== '/schemas/:id' && typeof params.id === 'string' && !isUuid(params.id)) throw errors.notFound();
  if (hasIdSemantics(routeUrl)) {
    const query = (request.query ?? {}) as Record<string, unknown>;
    for (const key of ID_QUERY_KEYS) {
      const value = query[key];
      if (typeof value === 'string' && value !== '' && !isUuid(value)) throw errors.notFound();
    }
  }
  if (bodyHasForbidden(request.body)) throw badCharacters('request body');
}

/** Adds the checks to every route of `app` (before validation and handlers). */
export function installInputGuard(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => checkRequestInput(request));
}
