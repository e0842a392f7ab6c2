/**
 * Kratos's `web_hook` executor (ory/kratos selfservice/hook/web_hook.go, request/builder.go, request/auth.go) as a
 * standalone module: `execute(config, context)` calls the receiver and returns a typed outcome; the flows decide
 * what an outcome does (see `WebHookOutcome`). Nothing here knows a flow's or an identity's internals.
 *
 * Behaviour, as Kratos:
 * - Body: the Jsonnet template at `body` (`file://`, `base64://`, `http(s)://`, or a bare path, Kratos's deprecated
 *   form) rendered with `ctx` (jsonnet.ts); `error "cancel"` in the template cancels the call and the hook succeeds.
 *   `Content-Type` defaults to `application/json`; `application/x-www-form-urlencoded` sends the rendered object's
 *   string values as a form. TRACE sends no body.
 * - `ctx.request_headers` keeps only `clients.web_hook.header_allowlist` (Kratos's default list below).
 * - `auth`: `{type: api_key, config: {name, value, in: header|cookie}}` or `{type: basic_auth, config: {user, password}}`.
 * - HTTP: each attempt times out after 30 s (Kratos's resilient client); connection errors and 5xx answers (except
 *   501) are retried twice (go-retryablehttp's default policy with Kratos's `ResilientClientWithMaxRetry(2)`); at
 *   most 5 MB of the answer is read.
 * - `response.ignore`: the call runs in the background and never fails the flow (failures are logged).
 * - `response.parse` and 2xx: a 200 body `{identity: {traits, metadata_public, metadata_admin, schema_id, state,
 *   verifiable_addresses, recovery_addresses, external_id}}` becomes a `patch` (only the fields present); 204 or no
 *   `identity` is `ok`.
 * - `can_interrupt` or `response.parse` and a 4xx/5xx: a body `{messages: [{instance_ptr, messages: [{id, text, type,
 *   context}]}]}` becomes an `interrupt` with those messages.
 * - Everything else that goes wrong is an `error` carrying Kratos's error envelope: a timeout is 504 ("A third-party
 *   upstream service could not be reached"), an error status or an unreadable answer is 502 ("responded
 *   improperly"). Where Kratos answers 500 (an unreadable answer to a parsing hook, a refused connection) Kairos
 *   answers 502: the fault is upstream, and a 500 would say Kairos broke.
 * - Kratos runs a hook that parses or can interrupt before the identity is stored (pre-persist), any other after it
 *   (post-persist) — `runsBeforePersist`. Kairos waits for every hook without `response.ignore` before the step
 *   writes (web-hook-flow.ts `WebHookHook`), so a failing receiver never leaves a half-done step.
 * - Destinations: `clients.http.*` through outbound-http.ts (private ranges refused after DNS resolution).
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { HttpError } from '../errors/http-error.js';
import { JsonnetCancelled, renderJsonnet } from './jsonnet.js';
import { OutboundHttp, PrivateAddressError } from './outbound-http.js';

export interface WebHookConfig {
  id?: string;
  url: string;
  method: string;
  headers?: Record<string, string>;
  /** URI of the Jsonnet body template. */
  body?: string;
  auth?: { type: 'api_key'; config: { name: string; value: string; in?: 'header' | 'cookie' } } | { type: 'basic_auth'; config: { user: string; password: string } };
  response?: { ignore?: boolean; parse?: boolean };
  /** Deprecated in Kratos in favour of `response.parse`; same effect on error answers. */
  can_interrupt?: boolean;
  emit_analytics_event?: boolean;
}

/** What Kratos passes to the template as `ctx` (`templateContext` in web_hook.go). */
export interface WebHookContext {
  flow: unknown;
  request_headers: Record<string, string | string[]>;
  request_method: string;
  request_url: string;
  request_cookies: Record<string, string>;
  identity?: unknown;
  session?: unknown;
}

export interface WebHookMessage {
  id: number;
  text: string;
  type: 'error' | 'info';
  context?: unknown;
}

export interface WebHookMessageGroup {
  /** JSON pointer into the submitted form (`#/traits/email`), `#/` or empty for the whole flow. */
  instancePtr: string;
  /** The UI node the messages belong to (`traits.email`), or null for flow-level messages. */
  field: string | null;
  messages: WebHookMessage[];
}

/** Identity fields a parsing hook may set (only those present in the answer). */
export interface IdentityPatch {
  traits?: Record<string, unknown>;
  schema_id?: string;
  state?: string;
  metadata_public?: unknown;
  metadata_admin?: unknown;
  verifiable_addresses?: unknown[];
  recovery_addresses?: unknown[];
  external_id?: string | null;
}

export type WebHookOutcome =
  /** Nothing to change. `settled` resolves when a background (`response.ignore`) call has finished. */
  | { kind: 'ok'; cancelled?: boolean; settled?: Promise<void> }
  | { kind: 'interrupt'; messages: WebHookMessageGroup[] }
  | { kind: 'patch'; identity: IdentityPatch }
  /** The flow step fails with this error (Kratos's envelope). */
  | { kind: 'error'; error: HttpError };

/** `clients.web_hook.header_allowlist` default (ory/kratos embedx/config.schema.json). */
export const DEFAULT_HEADER_ALLOWLIST = [
  'Accept', 'Accept-Encoding', 'Accept-Language', 'Content-Length', 'Content-Type', 'Origin', 'Priority', 'Referer',
  'Sec-Ch-Ua', 'Sec-Ch-Ua-Mobile', 'Sec-Ch-Ua-Platform', 'Sec-Fetch-Dest', 'Sec-Fetch-Mode', 'Sec-Fetch-Site',
  'Sec-Fetch-User', 'True-Client-Ip', 'User-Agent',
];
/** Kratos's web hook client: `ResilientClientWithConnectionTimeout(30 * time.Second)` (driver/registry_default.go). */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** `ResilientClientWithMaxRetry(2)` (driver/registry_default.go). */
export const DEFAULT_MAX_RETRIES = 2;
/** web_hook.go: `io.LimitReader(resp.Body, 5<<20)`. */
export const MAX_RESPONSE_BYTES = 5 << 20;

const UNREACHABLE = 'A third-party upstream service could not be reached. Please try again later.';
const IMPROPER = 'A third-party upstream service responded improperly. Please try again later.';

const gatewayTimeout = (message: string) => new HttpError(504, { code: 504, status: 'Gateway Timeout', reason: UNREACHABLE, message });
const badGateway = (message: string, reason = IMPROPER) => new HttpError(502, { code: 502, status: 'Bad Gateway', reason, message });
const misconfigured = (message: string) =>
  new HttpError(500, { code: 500, status: 'Internal Server Error', reason: 'The web_hook is misconfigured.', message });

/** Problems with a web_hook config (for the config loader); empty when it can run. Mirrors Kratos's schema. */
export function webHookConfigProblems(config: Partial<WebHookConfig>): string[] {
  const problems: string[] = [];
  if (typeof config.url !== 'string' || !/^https?:\/\//.test(config.url)) problems.push('url must be an http(s) URL');
  if (typeof config.method !== 'string' || config.method === '') problems.push('method is required');
  if (config.response?.ignore && (config.response.parse || config.can_interrupt)) {
    problems.push('response.ignore cannot be combined with response.parse or can_interrupt (Kratos: "A webhook is configured to ignore the response but also to parse the response")');
  }
  const auth = config.auth as { type?: string; config?: Record<string, unknown> } | undefined;
  if (auth) {
    if (auth.type === 'api_key') {
      if (typeof auth.config?.name !== 'string' || typeof auth.config?.value !== 'string') problems.push('auth.config of api_key needs string name and value');
      if (auth.config?.in !== undefined && auth.config.in !== 'header' && auth.config.in !== 'cookie') problems.push('auth.config.in must be header or cookie');
    } else if (auth.type === 'basic_auth') {
      if (typeof auth.config?.user !== 'string' || typeof auth.config?.password !== 'string') problems.push('auth.config of basic_auth needs string user and password');
    } else {
      problems.push(`unsupported auth type: ${String(auth.type)}`);
    }
  }
  return problems;
}

/** Kratos: parsing/interrupting hooks run before the identity is persisted, others after (Kairos: see WebHookHook). */
export const runsBeforePersist = (config: WebHookConfig) => Boolean(config.can_interrupt || config.response?.parse);

/** Go's `textproto.CanonicalMIMEHeaderKey` for the header names used here: `x-foo-bar` → `X-Foo-Bar`. */
const canonicalHeader = (name: string) => name.toLowerCase().replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());

/** Kratos's `RemoveDisallowedHeaders`, with Go's `http.Header` shape (canonical names, lists of values). */
export function allowedHeaders(headers: Record<string, string | string[]>, allowlist: readonly string[]): Record<string, string[]> {
  const allowed = new Set(allowlist.map(canonicalHeader));
  const result: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    const key = canonicalHeader(name);
    if (allowed.has(key)) result[key] = [...(result[key] ?? []), ...(Array.isArray(value) ? value : [value])];
  }
  return result;
}

/** `#/traits/email` → `traits.email`; `#/`, `#` or empty → null (flow-level). */
export function fieldOf(instancePtr: string): string | null {
  const path = instancePtr.replace(/^#?\/?/, '');
  if (path === '') return null;
  return path.split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~')).join('.');
}

export interface WebHookExecutorOptions {
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
  timeoutMs?: number;
  maxRetries?: number;
  /** Wait before retry n (0-based); default 100 ms · 2^n (go-retryablehttp backs off exponentially too). */
  retryDelayMs?: (attempt: number) => number;
  headerAllowlist?: readonly string[];
  /** Base directory for `file://./relative` and bare template paths (Kratos: the working directory). */
  baseDir?: string;
  /** The outgoing client (`clients.http.*`); default: no restriction on destinations. */
  http?: OutboundHttp;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export class WebHookExecutor {
  private readonly templates = new Map<string, string>();
  private readonly http: OutboundHttp;

  constructor(private readonly options: WebHookExecutorOptions = {}) {
    this.http = options.http ?? new OutboundHttp({ disallowPrivateIpRanges: false });
  }

  async execute(config: WebHookConfig, context: WebHookContext): Promise<WebHookOutcome> {
    const problems = webHookConfigProblems(config);
    if (problems.length > 0) return { kind: 'error', error: misconfigured(problems.join('; ')) };
    if (config.response?.ignore) {
      const settled = this.call(config, context).then(
        (outcome) => {
          if (outcome.kind === 'error') this.options.logger?.warn({ web_hook: config.id ?? config.url, error: outcome.error.body }, 'Webhook request failed but the error was ignored because the configuration indicated that the upstream response should be ignored');
        },
        (err: unknown) => {
          this.options.logger?.warn({ web_hook: config.id ?? config.url, err: (err as Error).message }, 'Webhook request failed but the error was ignored');
        },
      );
      return { kind: 'ok', settled };
    }
    const outcome = await this.call(config, context);
    if (outcome.kind === 'error') this.options.logger?.error({ web_hook: config.id ?? config.url, error: outcome.error.body }, 'Webhook request failed');
    return outcome;
  }

  private async call(config: WebHookConfig, context: WebHookContext): Promise<WebHookOutcome> {
    const method = config.method.toUpperCase();
    const headers = new Headers(config.headers ?? {});
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    const contentType = headers.get('content-type')!.split(';')[0]!.trim().toLowerCase();
    const ctx = { ...context, request_headers: allowedHeaders(context.request_headers, this.options.headerAllowlist ?? DEFAULT_HEADER_ALLOWLIST) };

    let body: string | undefined;
    if (method !== 'TRACE' && config.body) {
      let rendered: unknown;
      try {
        rendered = renderJsonnet(await this.template(config.body), ctx);
      } catch (err) {
        if (err instanceof JsonnetCancelled) return { kind: 'ok', cancelled: true };
        return { kind: 'error', error: misconfigured(`the web_hook body template could not be rendered: ${(err as Error).message}`) };
      }
      if (contentType === 'application/x-www-form-urlencoded') {
        if (!isObject(rendered) || !Object.values(rendered).every((v) => typeof v === 'string')) {
          return { kind: 'error', error: misconfigured('a form-encoded web_hook body template must produce an object of strings') };
        }
        body = new URLSearchParams(rendered as Record<string, string>).toString();
      } else if (contentType === 'application/json') {
        body = JSON.stringify(rendered);
      } else {
        return { kind: 'error', error: misconfigured('invalid config - incorrect Content-Type for request with body') };
      }
    }

    const auth = config.auth;
    if (auth?.type === 'basic_auth') headers.set('authorization', `Basic ${Buffer.from(`${auth.config.user}:${auth.config.password}`).toString('base64')}`);
    if (auth?.type === 'api_key') {
      if (auth.config.in === 'cookie') headers.append('cookie', `${auth.config.name}=${auth.config.value}`);
      else headers.set(auth.config.name, auth.config.value);
    }
    if (config.emit_analytics_event !== false) headers.set('ory-webhook-trigger-id', randomUUID());

    const response = await this.send(config.url, method, headers, body, config.emit_analytics_event !== false);
    if ('error' in response) return { kind: 'error', error: response.error };
    const { status, text } = response;
    const parses = Boolean(config.can_interrupt || config.response?.parse);
    if (status >= 400) {
      if (!parses) return { kind: 'error', error: badGateway(`webhook failed with status code ${status}`) };
      const messages = parseMessages(text);
      return messages ? { kind: 'interrupt', messages } : { kind: 'error', error: badGateway(`webhook failed with status code ${status} and an answer without messages`) };
    }
    if (!config.response?.parse || status !== 200) return { kind: 'ok' };
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { kind: 'error', error: badGateway('webhook response could not be unmarshalled properly from JSON') };
    }
    if (!isObject(parsed)) return { kind: 'error', error: badGateway('webhook response could not be unmarshalled properly from JSON') };
    if (parsed.identity === undefined || parsed.identity === null) return { kind: 'ok' };
    if (!isObject(parsed.identity)) return { kind: 'error', error: badGateway('webhook response identity is not an object') };
    const patch = identityPatch(parsed.identity);
    return patch ? { kind: 'patch', identity: patch } : { kind: 'error', error: badGateway('webhook response identity has fields of the wrong type') };
  }

  /** One request with Kratos's retries; the answer (status and at most 5 MB of text) or the error for the flow. */
  private async send(url: string, method: string, headers: Headers, body: string | undefined, requestIds: boolean): Promise<{ status: number; text: string } | { error: HttpError }> {
    const maxRetries = this.options.maxRetries ?? DEFAULT_MAX_RETRIES;
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let last: { status: number; text: string } | { error: HttpError } = { error: badGateway('webhook was not sent', UNREACHABLE) };
    for (let attempt = 0; attempt <= maxRetries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, (this.options.retryDelayMs ?? ((n) => 100 * 2 ** n))(attempt - 1)));
      if (requestIds) headers.set('ory-webhook-request-id', randomUUID());
      try {
        // Redirects are followed (outbound-http.ts, each hop checked), as Go's http.Client does under Kratos's client.
        const response = await this.http.request(url, { method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
        const text = await readLimited(response.body, MAX_RESPONSE_BYTES);
        last = { status: response.status, text };
        // go-retryablehttp's DefaultRetryPolicy: retry 5xx except 501 Not Implemented.
        if (response.status >= 500 && response.status !== 501) continue;
        return last;
      } catch (err) {
        const name = (err as Error).name;
        // A refused destination is the configuration's answer, not a passing failure: never retried.
        if (err instanceof PrivateAddressError) return { error: badGateway(`webhook was not sent: ${err.message}`, UNREACHABLE) };
        last = name === 'TimeoutError' || name === 'AbortError'
          ? { error: gatewayTimeout(`webhook did not answer within ${timeoutMs} ms`) }
          : { error: badGateway(`webhook could not be reached: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`, UNREACHABLE) };
      }
    }
    return last;
  }

  private async template(uri: string): Promise<string> {
    const cached = this.templates.get(uri);
    if (cached !== undefined) return cached;
    let text: string;
    if (uri.startsWith('base64://')) text = Buffer.from(uri.slice('base64://'.length), 'base64').toString('utf8');
    else if (/^https?:\/\//.test(uri)) {
      const response = await this.http.request(uri, { method: 'GET', headers: new Headers(), signal: AbortSignal.timeout(this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS) });
      const fetched = await readLimited(response.body, MAX_RESPONSE_BYTES);
      if (response.status < 200 || response.status >= 300) throw new Error(`fetching ${uri} answered ${response.status}`);
      text = fetched;
    } else {
      const path = uri.replace(/^file:\/\//, '');
      text = await readFile(path.startsWith('/') ? path : `${this.options.baseDir ?? process.cwd()}/${path}`, 'utf8');
    }
    this.templates.set(uri, text);
    return text;
  }
}

async function readLimited(stream: AsyncIterable<Uint8Array> | null, maxBytes: number): Promise<string> {
  if (!stream) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const room = maxBytes - size;
    chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
    size += Math.min(chunk.length, room);
    if (size >= maxBytes) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Kratos's `rawHookResponse`; null when the answer is not one or carries no message group. */
function parseMessages(text: string): WebHookMessageGroup[] | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(parsed) || !Array.isArray(parsed.messages) || parsed.messages.length === 0) return null;
  const groups: WebHookMessageGroup[] = [];
  for (const group of parsed.messages) {
    if (!isObject(group)) return null;
    const instancePtr = typeof group.instance_ptr === 'string' ? group.instance_ptr : '';
    const list = Array.isArray(group.messages) ? group.messages : [];
    const messages: WebHookMessage[] = [];
    for (const m of list) {
      if (!isObject(m)) return null;
      messages.push({
        id: typeof m.id === 'number' ? m.id : 0,
        text: typeof m.text === 'string' ? m.text : '',
        // Kratos: "error" stays an error, anything else is info.
        type: m.type === 'error' ? 'error' : 'info',
        ...(m.context !== undefined ? { context: m.context } : {}),
      });
    }
    groups.push({ instancePtr, field: fieldOf(instancePtr), messages });
  }
  return groups;
}

/** The fields Kratos's `parseWebhookResponse` copies onto the identity, checked for their JSON types. */
function identityPatch(identity: Record<string, unknown>): IdentityPatch | null {
  const patch: IdentityPatch = {};
  const present = (key: string) => identity[key] !== undefined && identity[key] !== null;
  if (present('traits')) {
    if (!isObject(identity.traits)) return null;
    patch.traits = identity.traits;
  }
  if (present('schema_id')) {
    if (typeof identity.schema_id !== 'string') return null;
    if (identity.schema_id !== '') patch.schema_id = identity.schema_id;
  }
  if (present('state')) {
    if (typeof identity.state !== 'string') return null;
    if (identity.state !== '') patch.state = identity.state;
  }
  if (present('metadata_public')) patch.metadata_public = identity.metadata_public;
  if (present('metadata_admin')) patch.metadata_admin = identity.metadata_admin;
  for (const key of ['verifiable_addresses', 'recovery_addresses'] as const) {
    if (present(key)) {
      if (!Array.isArray(identity[key])) return null;
      if ((identity[key] as unknown[]).length > 0) patch[key] = identity[key] as unknown[];
    }
  }
  // Kratos: external_id is taken whenever the key exists (null clears it).
  if ('external_id' in identity) {
    if (identity.external_id !== null && typeof identity.external_id !== 'string') return null;
    patch.external_id = identity.external_id as string | null;
  }
  return patch;
}
