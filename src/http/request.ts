import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FlowRequest } from '../flows/request.js';

export { isJsonRequest, requestInfo, sessionTokenOf, submittedBody, unflatten } from '../flows/request.js';

/**
 * The flows' description of a Fastify request (flows/request.ts). The cookies object is Fastify's own, so a cookie
 * the CSRF check sets is seen by both.
 */
export function flowRequestOf(request: FastifyRequest): FlowRequest {
  if (!request.cookies) (request as { cookies: Record<string, string | undefined> }).cookies = {};
  return {
    url: request.url,
    method: request.method,
    headers: request.headers,
    cookies: request.cookies,
    query: request.query,
    body: request.body,
    ip: request.ip,
    id: String(request.id),
  };
}

export function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'private, no-cache, no-store, must-revalidate');
}
