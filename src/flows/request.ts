/**
 * What the flows know of HTTP: a plain description of the request and the few ways they answer. The HTTP layer
 * (http/public/self-service.ts `flowRequestOf`) describes each Fastify request this way, and Fastify's reply is one
 * `FlowReply`; nothing under flows/ imports the framework (a rule of .dependency-cruiser.cjs).
 */
import { errors } from '../errors/http-error.js';
import type { Flow, FlowType } from './flow.js';
import type { RequestInfo, SubmittedBody } from './strategy.js';
import { LANGUAGE_COOKIE } from '../ui/i18n/catalogue.js';

export interface FlowRequest {
  /** The path and query string as received (`/self-service/login/browser?return_to=…`). */
  readonly url: string;
  readonly method: string;
  /** Lower-case header names, as Node parses them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Parsed cookies. The CSRF check adds the cookie it sets, so later readers in the same request see it. */
  readonly cookies: Record<string, string | undefined>;
  /** The parsed query string. */
  readonly query: unknown;
  /** The parsed body: a JSON object, a form (flat `traits.email` keys), or nothing. */
  readonly body: unknown;
  /** The client's address (the socket's, or `X-Forwarded-For` from a trusted proxy). */
  readonly ip: string;
  /** The request id, for logs and audit events. */
  readonly id: string;
}

export interface CookieOptions {
  httpOnly?: boolean;
  secure?: boolean;
  sameSite?: 'lax' | 'strict' | 'none';
  path?: string;
  domain?: string;
  expires?: Date;
  maxAge?: number;
}

/** How a flow answers: a status and body, a redirect, headers and cookies. Fastify's reply is one. */
export interface FlowReply {
  /** True once the answer went out. */
  readonly sent: boolean;
  code(status: number): FlowReply;
  header(name: string, value: string): FlowReply;
  send(body?: unknown): FlowReply;
  redirect(url: string, status: number): FlowReply;
  setCookie(name: string, value: string, options?: CookieOptions): FlowReply;
  clearCookie(name: string, options?: CookieOptions): FlowReply;
}

/** CSRF for browser flows (http/plugins/csrf.ts): the token for this browser, and the check of a submitted one. */
export interface CsrfCheck {
  ensure(request: FlowRequest, reply: FlowReply): string;
  verify(request: FlowRequest, submitted: unknown): void;
}

/** A flow kind's handlers, which the HTTP layer routes to (`GET /self-service/<kind>/{browser,api}`, `POST /self-service/<kind>`). */
export interface FlowHandlers {
  init(request: FlowRequest, reply: FlowReply, type: FlowType): Promise<FlowReply>;
  submit(request: FlowRequest, reply: FlowReply): Promise<FlowReply>;
  /** Checks before a flow is shown by id (`GET /self-service/<kind>/flows?id=`), e.g. that it is this session's. */
  fetchCheck?(request: FlowRequest, flow: Flow): Promise<void>;
}

/** The query string's parameters (an object, whatever the parser gave). */
export function queryOf(request: FlowRequest): Record<string, unknown> {
  return (request.query ?? {}) as Record<string, unknown>;
}

function header(request: FlowRequest, name: string): string {
  const value = request.headers[name];
  return typeof value === 'string' ? value : '';
}

/** Kratos `x.IsJSONRequest`: an SPA or API client, as opposed to a browser posting a form. */
export function isJsonRequest(request: FlowRequest): boolean {
  return header(request, 'accept').includes('application/json') || header(request, 'content-type').includes('application/json');
}

export function requestInfo(request: FlowRequest): RequestInfo {
  const ua = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof ua === 'string' ? ua : null, requestId: String(request.id), acceptLanguage: languagePreferenceOf(request) };
}

/**
 * The request's language preference as one `Accept-Language` value (for mail and text messages sent in this step):
 * the hosted UI's language cookie (the reader's explicit choice) first, then the browser's header. Null when neither
 * is present.
 */
export function languagePreferenceOf(request: FlowRequest): string | null {
  const chosen = request.cookies?.[LANGUAGE_COOKIE];
  const parts = [typeof chosen === 'string' && /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(chosen) ? chosen : '', header(request, 'accept-language').slice(0, 256)].filter(Boolean);
  return parts.length ? parts.join(', ') : null;
}

/** The session token from `X-Session-Token`, `Authorization: Bearer`, or the session cookie (in that order). */
export function sessionTokenOf(request: FlowRequest, cookieName: string): { token: string; via: 'header' | 'cookie' } | null {
  const sessionHeader = request.headers['x-session-token'];
  if (typeof sessionHeader === 'string' && sessionHeader) return { token: sessionHeader, via: 'header' };
  const authorization = header(request, 'authorization');
  if (authorization.startsWith('Bearer ')) return { token: authorization.slice(7).trim(), via: 'header' };
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

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The submitted body as an object, or a 400 in Kratos's shape. Form posts are unflattened. The route documents the
 * fields by method (http/bodies.ts `flowSubmissionSchema`) without validating them: each value is checked by the
 * strategy that owns the submitted `method`, so a problem is answered inside the flow.
 */
export function submittedBody(request: FlowRequest): SubmittedBody {
  const body = request.body;
  if (body === undefined || body === null || body === '') return {};
  if (!isObject(body)) throw errors.badRequest('The request body must be a JSON object or a form.');
  return header(request, 'content-type').includes('application/x-www-form-urlencoded') ? unflatten(body) : body;
}
