/**
 * `fetch` for integration tests that routes requests to Kairos's Fastify apps in this process (`app.inject()`, no
 * socket), and every other URL to the real `fetch`. The harness registers each test server's public and admin
 * origins (http://127.0.0.1:<port>) and hands this function to `@ory/client-fetch` (Configuration `fetchApi`); it is
 * also installed as the global `fetch` of the test worker, so plain `fetch(`${k.publicUrl}/…`)` in a test takes the
 * same path. The request goes through everything Fastify does for a socket request (routing, hooks, content-type
 * parsers, body limits, the error handler, serialization); only the TCP connection is skipped.
 *
 * Fidelity kept on purpose: the Host header is the URL's, the client address is 127.0.0.1 (light-my-request's
 * default, the same as a loopback socket), redirects are followed like `fetch` does (`redirect: 'follow'` by default:
 * 303, and 301/302 after a POST, become GETs without a body; 307/308 keep both; at most 20), and `redirect: 'manual'`
 * returns the 3xx itself, as Node's fetch does. `response.url` and `response.redirected` are set as fetch sets them.
 */
import type { FastifyInstance } from 'fastify';

const realFetch: typeof fetch = globalThis.fetch.bind(globalThis);
const apps = new Map<string, FastifyInstance>();

/** Routes requests for `origin` (e.g. http://127.0.0.1:4433) to `app` until the returned function is called. */
export function routeInProcess(origin: string, app: FastifyInstance): () => void {
  const key = new URL(origin).origin;
  if (apps.has(key)) throw new Error(`in-process fetch: ${key} is already routed to another server`);
  apps.set(key, app);
  return () => {
    if (apps.get(key) === app) apps.delete(key);
  };
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);
const MAX_REDIRECTS = 20; // the Fetch standard's limit

interface PlainRequest {
  method: string;
  url: string;
  headers: Headers;
  body: Uint8Array | undefined;
}

async function injectOnce(app: FastifyInstance, request: PlainRequest): Promise<Response> {
  const url = new URL(request.url);
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => (headers[name] = value));
  headers.host = url.host;
  const res = await app.inject({ method: request.method as 'GET', url: url.pathname + url.search, headers, ...(request.body ? { payload: Buffer.from(request.body) } : {}) });
  const responseHeaders = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(name, String(v));
  }
  const body = NULL_BODY_STATUSES.has(res.statusCode) || request.method === 'HEAD' ? null : new Uint8Array(res.rawPayload);
  const response = new Response(body, { status: res.statusCode, statusText: res.statusMessage, headers: responseHeaders });
  Object.defineProperty(response, 'url', { value: request.url });
  return response;
}

/** `fetch` with in-process routing for registered origins (see the module comment). */
export const inProcessFetch: typeof fetch = async (input, init) => {
  const first = new Request(input, init);
  if (!apps.has(new URL(first.url).origin)) return realFetch(input, init);
  const mode = first.redirect;
  const hasBody = first.method !== 'GET' && first.method !== 'HEAD' && first.body !== null;
  let request: PlainRequest = { method: first.method, url: first.url, headers: first.headers, body: hasBody ? new Uint8Array(await first.arrayBuffer()) : undefined };
  for (let hops = 0; ; hops++) {
    const app = apps.get(new URL(request.url).origin);
    // A redirect may leave the in-process servers (an external return_to): from there on it is a real fetch.
    const response = app
      ? await injectOnce(app, request)
      : await realFetch(request.url, { method: request.method, headers: request.headers, body: request.body as BodyInit | undefined, redirect: mode });
    const location = response.headers.get('location');
    if (mode === 'manual' || !REDIRECT_STATUSES.has(response.status) || location === null || !app) {
      if (hops > 0) Object.defineProperty(response, 'redirected', { value: true });
      return response;
    }
    if (mode === 'error') throw new TypeError('fetch failed: redirect with redirect mode "error"');
    if (hops >= MAX_REDIRECTS) throw new TypeError('fetch failed: too many redirects');
    const toGet = response.status === 303 ? request.method !== 'HEAD' : (response.status === 301 || response.status === 302) && request.method === 'POST';
    const headers = new Headers(request.headers);
    if (toGet) for (const name of ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location']) headers.delete(name);
    request = { method: toGet ? 'GET' : request.method, url: new URL(location, request.url).toString(), headers, body: toGet ? undefined : request.body };
  }
};

/** Makes `inProcessFetch` the worker's global `fetch` (idempotent). */
export function installInProcessFetch(): void {
  globalThis.fetch = inProcessFetch;
}
