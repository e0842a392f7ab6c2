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
 *   501) are retried twice (go-retryablehttp's default policy with Kratos's `ResilientClientWithMaxRetry(2)`).
 * - The answer's body is read only when it is acted on (an error status of a hook that can interrupt or parses, a
 *   200 of a parsing hook), and then at most MAX_RESPONSE_BYTES of it, nested at most MAX_JSON_DEPTH deep; anything
 *   else is dropped unread. A body past either bound fails the step (502), as any answer that is not the JSON Kratos
 *   defines (`rawHookResponse`, the identity's fields with their JSON types) does: it is never half-used.
 * - Failures are logged with the hook's `id`, its URL without credentials or query, and its config key; never with
 *   the answer's body (a receiver's error page may echo what it was sent).
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
import { OutboundHttp, PrivateAddressError, ResponseTooLargeError } from './outbound-http.js';
import type { IdentityPatch } from '../identity/patch.js';
import type { WebHookConfig } from '../config/web-hook.js';

export type { IdentityPatch, WebHookConfig };
import { webHookConfigProblems } from '../config/web-hook.js';
export { webHookConfigProblems };


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
/**
 * The most of a receiver's answer Kairos reads: 1 MiB. What a hook's answer may carry is an identity's fields (traits,
 * metadata, addresses) or messages for a form, and the other way to write one identity, the admin API, accepts it in
 * at most 1 MiB (server.ts, the admin listener's body limit for POST/PUT /admin/identities): a larger answer could only
 * store an identity no other API could write. It also bounds the memory each waiting step holds. Kratos reads at most 5 MB
 * (web_hook.go `io.LimitReader(resp.Body, 5<<20)`) and then fails on the cut JSON; Kairos fails at once with a
 * message that says why (README, "Hooks and web hooks").
 */
export const MAX_RESPONSE_BYTES = 1 << 20;
/**
 * The deepest nesting of JSON read from a receiver: 128 levels, far more than an identity document or a message
 * needs, and far below where Node's recursive JSON.stringify and structuredClone overflow the stack (~10 000
 * levels, where Go's encoding/json, Kratos's parser, stops too). A deeper answer fails the step (502) instead of
 * crashing it later.
 */
export const MAX_JSON_DEPTH = 128;

const UNREACHABLE = 'A third-party upstream service could not be reached. Please try again later.';
const IMPROPER = 'A third-party upstream service responded improperly. Please try again later.';

const gatewayTimeout = (message: string) => new HttpError(504, { code: 504, status: 'Gateway Timeout', reason: UNREACHABLE, message });
const badGateway = (message: string, reason = IMPROPER) => new HttpError(502, { code: 502, status: 'Bad Gateway', reason, message });
const unreadable = (why: string) => badGateway(`webhook response could not be unmarshalled properly from JSON: ${why}`);
const misconfigured = (message: string) =>
  new HttpError(500, { code: 500, status: 'Internal Server Error', reason: 'The web_hook is misconfigured.', message });


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

  /** `key`: where the hook is configured (`selfservice.flows.registration.after.password.hooks[0]`), for the log. */
  async execute(config: WebHookConfig, context: WebHookContext, key?: string): Promise<WebHookOutcome> {
    const hook = describeWebHook(config, key);
    const problems = webHookConfigProblems(config);
    if (problems.length > 0) return { kind: 'error', error: misconfigured(problems.join('; ')) };
    if (config.response?.ignore) {
      const settled = this.call(config, context).then(
        (outcome) => {
          if (outcome.kind === 'error') this.options.logger?.warn({ web_hook: hook, error: outcome.error.body }, 'Webhook request failed but the error was ignored because the configuration indicated that the upstream response should be ignored');
        },
        (err: unknown) => {
          this.options.logger?.warn({ web_hook: hook, err: (err as Error).message }, 'Webhook request failed but the error was ignored');
        },
      );
      return { kind: 'ok', settled };
    }
    const outcome = await this.call(config, context);
    // The error carries what went wrong (status, size, which field had the wrong type), never the answer's body.
    if (outcome.kind === 'error') this.options.logger?.error({ web_hook: hook, error: outcome.error.body }, 'Webhook request failed');
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
        // The template's error stays in the server log: it can quote the template and the context it was given.
        this.options.logger?.error({ web_hook: config.id ?? null, err: (err as Error).message }, 'web_hook body template could not be rendered');
        return { kind: 'error', error: misconfigured('The web_hook body template could not be rendered; the server log has the details.') };
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

    const parses = Boolean(config.can_interrupt || config.response?.parse);
    // Kratos reads the answer only for an error status of a hook that can interrupt or parses, and for a 200 of a
    // parsing hook; any other answer's body is dropped unread.
    const reads = (status: number) => (status >= 400 && parses) || (status === 200 && Boolean(config.response?.parse));
    const response = await this.send(config.url, method, headers, body, config.emit_analytics_event !== false, reads);
    if ('error' in response) return { kind: 'error', error: response.error };
    const { status, text } = response;
    if (status >= 400) {
      if (!parses) return { kind: 'error', error: badGateway(`webhook failed with status code ${status}`) };
      const messages = parseMessages(text);
      if ('problem' in messages) return { kind: 'error', error: badGateway(`webhook failed with status code ${status} and an answer without messages: ${messages.problem}`) };
      return { kind: 'interrupt', messages: messages.groups };
    }
    if (!reads(status)) return { kind: 'ok' };
    const parsed = parseJson(text);
    if ('problem' in parsed) return { kind: 'error', error: unreadable(parsed.problem) };
    if (!isObject(parsed.value)) return { kind: 'error', error: unreadable('the answer is not an object') };
    const identity = parsed.value.identity;
    if (identity === undefined || identity === null) return { kind: 'ok' };
    if (!isObject(identity)) return { kind: 'error', error: unreadable('identity is not an object') };
    const patch = identityPatch(identity);
    return 'problem' in patch ? { kind: 'error', error: unreadable(patch.problem) } : { kind: 'patch', identity: patch.patch };
  }

  /**
   * One request with Kratos's retries; the answer (its status, and its body when `reads(status)`, at most
   * MAX_RESPONSE_BYTES) or the error for the flow.
   */
  private async send(url: string, method: string, headers: Headers, body: string | undefined, requestIds: boolean, reads: (status: number) => boolean): Promise<{ status: number; text: string } | { error: HttpError }> {
    const maxRetries = this.options.maxRetries ?? DEFAULT_MAX_RETRIES;
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let last: { status: number; text: string } | { error: HttpError } = { error: badGateway('webhook was not sent', UNREACHABLE) };
    for (let attempt = 0; attempt <= maxRetries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, (this.options.retryDelayMs ?? ((n) => 100 * 2 ** n))(attempt - 1)));
      if (requestIds) headers.set('ory-webhook-request-id', randomUUID());
      try {
        // Redirects are followed (outbound-http.ts, each hop checked), as Go's http.Client does under Kratos's client.
        const response = await this.http.request(url, { method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
        // go-retryablehttp's DefaultRetryPolicy: retry 5xx except 501 Not Implemented.
        const retried = response.status >= 500 && response.status !== 501 && attempt < maxRetries;
        if (retried || !reads(response.status)) {
          await response.discard();
          last = { status: response.status, text: '' };
          if (retried) continue;
          return last;
        }
        return { status: response.status, text: await response.text(MAX_RESPONSE_BYTES) };
      } catch (err) {
        const name = (err as Error).name;
        // An answer past the bound is the receiver's, not a passing failure: never retried, never read further.
        if (err instanceof ResponseTooLargeError) return { error: badGateway(`webhook response is larger than ${err.maxBytes} bytes`) };
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
      if (response.status < 200 || response.status >= 300) {
        await response.discard();
        throw new Error(`fetching ${redactedUrl(uri)} answered ${response.status}`);
      }
      text = await response.text(MAX_RESPONSE_BYTES);
    } else {
      const path = uri.replace(/^file:\/\//, '');
      text = await readFile(path.startsWith('/') ? path : `${this.options.baseDir ?? process.cwd()}/${path}`, 'utf8');
    }
    this.templates.set(uri, text);
    return text;
  }
}

/** A URL as logs may show it: no user name or password, no query (either may carry a secret). */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    parsed.search = parsed.search ? '?[redacted]' : '';
    parsed.hash = '';
    return parsed.toString();
  } catch {
    return '[unparsable url]';
  }
}

/** How a hook is named in logs: its `id`, its URL redacted, and where it is configured. */
export function describeWebHook(config: Pick<WebHookConfig, 'id' | 'url'>, key?: string): Record<string, string> {
  return { ...(config.id ? { id: config.id } : {}), url: redactedUrl(config.url), ...(key ? { key } : {}) };
}

/** Whether `text` (JSON) nests arrays and objects deeper than `max`; strings are skipped. Linear, no recursion. */
export function jsonDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** A receiver's answer as JSON, within MAX_JSON_DEPTH; the reason when it is not (never the text itself). */
function parseJson(text: string): { value: unknown } | { problem: string } {
  if (jsonDeeperThan(text, MAX_JSON_DEPTH)) return { problem: `nested deeper than ${MAX_JSON_DEPTH} levels` };
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return { problem: 'the answer is not JSON' };
  }
}

/**
 * Kratos's `rawHookResponse`: `{messages: [{instance_ptr, messages: [{id, text, type, context}]}]}` with Go's
 * types (a field of another JSON type fails Kratos's decoder, and fails here), and at least one group (Kratos: "got no
 * validation errors"). Missing fields take Go's zero values.
 */
function parseMessages(text: string): { groups: WebHookMessageGroup[] } | { problem: string } {
  const parsed = parseJson(text);
  if ('problem' in parsed) return parsed;
  if (!isObject(parsed.value)) return { problem: 'the answer is not an object' };
  const list = parsed.value.messages;
  if (list === undefined || list === null || (Array.isArray(list) && list.length === 0)) return { problem: 'messages is missing or empty' };
  if (!Array.isArray(list)) return { problem: 'messages is not an array' };
  const groups: WebHookMessageGroup[] = [];
  for (const group of list) {
    if (!isObject(group)) return { problem: 'a message group is not an object' };
    if (group.instance_ptr !== undefined && group.instance_ptr !== null && typeof group.instance_ptr !== 'string') return { problem: 'instance_ptr is not a string' };
    const instancePtr = typeof group.instance_ptr === 'string' ? group.instance_ptr : '';
    const entries = group.messages ?? [];
    if (!Array.isArray(entries)) return { problem: 'a group\'s messages is not an array' };
    const messages: WebHookMessage[] = [];
    for (const m of entries) {
      if (!isObject(m)) return { problem: 'a message is not an object' };
      if (m.id !== undefined && m.id !== null && !Number.isSafeInteger(m.id)) return { problem: 'a message id is not an integer' };
      if (m.text !== undefined && m.text !== null && typeof m.text !== 'string') return { problem: 'a message text is not a string' };
      if (m.type !== undefined && m.type !== null && typeof m.type !== 'string') return { problem: 'a message type is not a string' };
      messages.push({
        id: typeof m.id === 'number' ? m.id : 0,
        text: typeof m.text === 'string' ? m.text : '',
        // Kratos: "error" stays an error, anything else is info.
        type: m.type === 'error' ? 'error' : 'info',
        ...(m.context !== undefined && m.context !== null ? { context: m.context } : {}),
      });
    }
    groups.push({ instancePtr, field: fieldOf(instancePtr), messages });
  }
  return { groups };
}

/**
 * The fields Kratos's `parseWebhookResponse` copies onto the identity, checked for their JSON types (Kratos's
 * decoder refuses other types). `state` must be one Kairos stores (`active`, `inactive`); addresses must be objects
 * whose `value` is a string.
 */
function identityPatch(identity: Record<string, unknown>): { patch: IdentityPatch } | { problem: string } {
  const patch: IdentityPatch = {};
  const present = (key: string) => identity[key] !== undefined && identity[key] !== null;
  if (present('traits')) {
    if (!isObject(identity.traits)) return { problem: 'identity.traits is not an object' };
    patch.traits = identity.traits;
  }
  if (present('schema_id')) {
    if (typeof identity.schema_id !== 'string') return { problem: 'identity.schema_id is not a string' };
    if (identity.schema_id !== '') patch.schema_id = identity.schema_id;
  }
  if (present('state')) {
    if (typeof identity.state !== 'string') return { problem: 'identity.state is not a string' };
    if (identity.state !== '' && identity.state !== 'active' && identity.state !== 'inactive') return { problem: 'identity.state is neither active nor inactive' };
    if (identity.state !== '') patch.state = identity.state;
  }
  if (present('metadata_public')) patch.metadata_public = identity.metadata_public;
  if (present('metadata_admin')) patch.metadata_admin = identity.metadata_admin;
  for (const key of ['verifiable_addresses', 'recovery_addresses'] as const) {
    if (!present(key)) continue;
    const list = identity[key];
    if (!Array.isArray(list)) return { problem: `identity.${key} is not an array` };
    for (const entry of list) {
      if (!isObject(entry) || typeof entry.value !== 'string') return { problem: `identity.${key} holds an entry without a string value` };
      if (entry.verified !== undefined && entry.verified !== null && typeof entry.verified !== 'boolean') return { problem: `identity.${key} holds a verified that is not a boolean` };
      if (entry.via !== undefined && entry.via !== null && typeof entry.via !== 'string') return { problem: `identity.${key} holds a via that is not a string` };
    }
    if (list.length > 0) patch[key] = list;
  }
  // Kratos: external_id is taken whenever the key exists (null clears it).
  if ('external_id' in identity) {
    if (identity.external_id !== null && typeof identity.external_id !== 'string') return { problem: 'identity.external_id is not a string' };
    patch.external_id = identity.external_id as string | null;
  }
  return { patch };
}
