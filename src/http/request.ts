import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FlowRequest } from '../flows/request.js';
import { stepOutcome } from '../flows/engine.js';

export { isJsonRequest, languagePreferenceOf, requestInfo, sessionTokenOf, submittedBody, unflatten } from '../flows/request.js';

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

/**
 * Runs a flow step (flows/engine.ts `runSubmit`, `runStep`) for a Fastify reply. A FastifyReply is a thenable that
 * settles once the response is written, which waits for the step's commit (`holdStepAnswers`): while the step runs,
 * the reply is made a plain object (its `then` shadowed), so flow code that returns it from an async function does
 * not wait for the response (which would wait for the commit, which waits for that code).
 */
export async function asStep<T>(reply: FastifyReply, run: () => Promise<T>): Promise<T> {
  Object.defineProperty(reply, 'then', { value: undefined, configurable: true, writable: true });
  try {
    return await run();
  } finally {
    delete (reply as { then?: unknown }).then;
  }
}

/**
 * onSend hook of the public app: a step's answer leaves only after its unit of work committed (flows/engine.ts
 * `stepOutcome`); if the step rolled back after its answer was prepared, the client gets a 500 instead of a
 * decision that was not stored.
 */
export async function holdStepAnswers(_request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  const outcome = stepOutcome(reply);
  if (!outcome || (await outcome)) return payload;
  reply.code(500).header('content-type', 'application/json; charset=utf-8').removeHeader('location');
  return JSON.stringify({ error: { code: 500, status: 'Internal Server Error', message: 'The request could not be completed; nothing was changed.' } });
}

export function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'private, no-cache, no-store, must-revalidate');
}
