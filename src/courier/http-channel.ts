/**
 * Kratos's courier HTTP channel (`courier.channels[{id, type: http, request_config}]`, Kratos `courier/http_channel.go`
 * and `request/builder.go`): a message (an SMS, typically) is delivered by one HTTP request to a provider, whose JSON
 * body a Jsonnet template builds from Kratos's data model `ctx = {recipient, subject, body, template_type,
 * template_data, message_type}`. Auth as Kratos: `basic_auth {user, password}` or `api_key {name, value, in: header |
 * cookie}`.
 *
 * Jsonnet is evaluated by the web_hook renderer (src/hooks/jsonnet.ts: jrsonnet compiled to WebAssembly), with `ctx`
 * as Kratos's top-level argument. Templates are Kratos's: `function(ctx) { … }`.
 *
 * The outbox worker (courier/worker.ts) delivers `sms` messages through the channel configured with `id: sms`.
 * A `Content-Type: application/x-www-form-urlencoded` header makes the body a form, as in Kratos.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderJsonnet } from '../hooks/jsonnet.js';

export interface HttpChannelAuth {
  type: 'basic_auth' | 'api_key';
  config: { user?: string; password?: string; name?: string; value?: string; in?: 'header' | 'cookie' };
}

export interface HttpRequestConfig {
  url: string;
  method?: string;
  /** Jsonnet source: `base64://…`, `file://…`, or the template itself. */
  body?: string;
  headers?: Record<string, string>;
  auth?: HttpChannelAuth;
}

/** Kratos's `httpDataModel`. */
export interface HttpChannelMessage {
  recipient: string;
  subject?: string;
  body: string;
  template_type: string;
  template_data: Record<string, unknown>;
  message_type: 'email' | 'sms';
}

export class HttpChannelError extends Error {
  constructor(
    message: string,
    /** The provider's HTTP status, when it answered. */
    readonly status: number | null,
  ) {
    super(message);
  }
}

/** Kratos: the response body is read up to 1 KiB (for the error message only). */
const RESPONSE_BYTES_READ = 1024;
/** Kratos: `ResilientClientWithConnectionTimeout(10*time.Second)`. */
const REQUEST_TIMEOUT_MS = 10_000;

function loadTemplate(source: string): string {
  if (source.startsWith('base64://')) return Buffer.from(source.slice('base64://'.length), 'base64').toString('utf8');
  if (source.startsWith('file://')) return readFileSync(fileURLToPath(source), 'utf8');
  return source;
}

/** Evaluates a Kratos body template (`function(ctx) {…}`, or a plain value) with `ctx`. */
export function renderBody(template: string, ctx: unknown): unknown {
  try {
    return renderJsonnet(template, ctx);
  } catch (err) {
    throw new HttpChannelError(`courier body template: ${(err as Error).message.slice(0, 300)}`, null);
  }
}

/** The message's codes (template data fields named `…code`, and the digits of the text), replaced in `text`. */
function redactCodes(text: string, message: HttpChannelMessage): string {
  const secrets = new Set<string>();
  for (const [key, value] of Object.entries(message.template_data)) if (/code$/i.test(key) && typeof value === 'string' && value.length >= 4) secrets.add(value);
  for (const digits of message.body.match(/\b\d{6,8}\b/g) ?? []) secrets.add(digits);
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('[redacted]');
  return out;
}

export class HttpChannel {
  private readonly template: string | null;

  constructor(
    readonly id: string,
    private readonly config: HttpRequestConfig,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {
    this.template = config.body ? loadTemplate(config.body) : null;
  }

  /** Sends one message; throws HttpChannelError unless the provider answers 2xx. Never logs the body (it holds the code). */
  async dispatch(message: HttpChannelMessage): Promise<void> {
    const headers = new Headers(this.config.headers ?? {});
    const auth = this.config.auth;
    if (auth?.type === 'basic_auth') headers.set('authorization', `Basic ${Buffer.from(`${auth.config.user ?? ''}:${auth.config.password ?? ''}`).toString('base64')}`);
    if (auth?.type === 'api_key' && auth.config.name) {
      if (auth.config.in === 'cookie') headers.append('cookie', `${auth.config.name}=${auth.config.value ?? ''}`);
      else headers.set(auth.config.name, auth.config.value ?? '');
    }
    let body: string | undefined;
    if (this.template !== null) {
      const rendered = renderBody(this.template, { subject: '', ...message });
      const contentType = headers.get('content-type')?.split(';')[0]?.trim().toLowerCase() ?? '';
      if (contentType === 'application/x-www-form-urlencoded') {
        // Kratos (request/builder.go addURLEncodedBody): the template's object of strings becomes the form.
        if (typeof rendered !== 'object' || rendered === null || Array.isArray(rendered) || Object.values(rendered).some((v) => typeof v !== 'string')) {
          throw new HttpChannelError(`courier channel ${this.id}: a form body template must produce an object of strings`, null);
        }
        body = new URLSearchParams(rendered as Record<string, string>).toString();
      } else if (contentType === '' || contentType === 'application/json') {
        body = JSON.stringify(rendered);
        if (!headers.has('content-type')) headers.set('content-type', 'application/json');
      } else {
        throw new HttpChannelError(`courier channel ${this.id}: Content-Type ${contentType} cannot carry a body (use application/json or application/x-www-form-urlencoded)`, null);
      }
    }
    let response: Response;
    try {
      response = await this.fetchImpl(this.config.url, { method: (this.config.method ?? 'POST').toUpperCase(), headers, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), redirect: 'manual' });
    } catch (err) {
      throw new HttpChannelError(`courier channel ${this.id}: ${(err as Error).message}`, null);
    }
    const text = (await response.text()).slice(0, RESPONSE_BYTES_READ);
    if (response.status < 200 || response.status >= 300) {
      // The provider's answer goes into the dispatch record and a log line: a provider that echoes the request must
      // not put the code there.
      throw new HttpChannelError(`courier channel ${this.id}: the provider answered ${response.status}: ${redactCodes(text.slice(0, 200), message)}`, response.status);
    }
  }
}
