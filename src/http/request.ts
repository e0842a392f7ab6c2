import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../errors/http-error.js';
import type { RequestInfo, SubmittedBody } from '../flows/strategy.js';
import { LANGUAGE_COOKIE } from '../ui/i18n/catalogue.js';

/** Kratos `x.IsJSONRequest`: an SPA or API client, as opposed to a browser posting a form. */
export function isJsonRequest(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  const contentType = request.headers['content-type'] ?? '';
  return accept.includes('application/json') || contentType.includes('application/json');
}

export function requestInfo(request: FastifyRequest): RequestInfo {
  const ua = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof ua === 'string' ? ua : null, requestId: String(request.id), acceptLanguage: languagePreferenceOf(request) };
}

/**
 * The request's language preference as one `Accept-Language` value: the hosted UI's language cookie (the reader's
 * explicit choice) first, then the browser's header. Null when neither is present.
 */
export function languagePreferenceOf(request: FastifyRequest): string | null {
  const header = request.headers['accept-language'];
  const chosen = request.cookies?.[LANGUAGE_COOKIE];
  const parts = [typeof chosen === 'string' && /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(chosen) ? chosen : '', typeof header === 'string' ? header.slice(0, 256) : ''].filter(Boolean);
  return parts.length ? parts.join(', ') : null;
}

/** The session token from `X-Session-Token`, `Authorization: Bearer`, or the session cookie (in that order). */
export function sessionTokenOf(request: FastifyRequest, cookieName: string): { token: string; via: 'header' | 'cookie' } | null {
  const header = request.headers['x-session-token'];
  if (typeof header === 'string' && header) return { token: header, via: 'header' };
  const authorization = request.headers.authorization;
  if (authorization?.startsWith('Bearer ')) return { token: authorization.slice(7).trim(), via: 'header' };
  const cookie = request.cookies?.[cookieName];
  if (cookie) return { token: cookie, via: 'cookie' };
  return null;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** `traits.email=a` (form posts) → `{traits: {email: "a"}}`. */
export function unflatten(input: Record<string, unknown>): SubmittedBody {
  const out: Record<string, unknown> = Object.create(null);
  for (const [key, value] of Object.entries(input)) {
    const parts = key.split('.');
    if (parts.some((p) => FORBIDDEN_KEYS.has(p) || p === '')) throw errors.badRequest(`invalid field name "${key.slice(0, 64)}"`);
    let target = out;
    for (const part of parts.slice(0, -1)) {
      const next = target[part];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) target[part] = Object.create(null);
      target = target[part] as Record<string, unknown>;
    }
    target[parts.at(-1)!] = Array.isArray(value) && parts.length > 0 ? value.at(-1) : value;
  }
  return out;
}

/** The submitted body as an object, or a 400 in Kratos's shape. Form posts are unflattened. */
export function submittedBody(request: FastifyRequest): SubmittedBody {
  const body = request.body;
  if (body === undefined || body === null || body === '') return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw errors.badRequest('The request body must be a JSON object or a form.');
  const contentType = request.headers['content-type'] ?? '';
  if (contentType.includes('application/x-www-form-urlencoded')) return unflatten(body as Record<string, unknown>);
  return body as SubmittedBody;
}

export function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'private, no-cache, no-store, must-revalidate');
}
