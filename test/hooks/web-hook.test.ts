/**
 * The web_hook executor against a real local HTTP receiver (node:http on an ephemeral port), with bodies rendered
 * by the real Jsonnet implementation: what Kratos's receivers get (body from `ctx`, auth, allowed headers only),
 * and what each answer turns into (ok, patch, interrupt with messages, error in Kratos's envelope).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { describeWebHook, fieldOf, jsonDeeperThan, MAX_JSON_DEPTH, MAX_RESPONSE_BYTES, redactedUrl, runsBeforePersist, webHookConfigProblems, WebHookExecutor, type WebHookConfig, type WebHookContext } from '../../src/hooks/web-hook.js';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Handler = (request: Received, response: ServerResponse) => void;

let server: Server;
let baseUrl: string;
let received: Received[] = [];
let handler: Handler = (_r, res) => res.writeHead(204).end();
let dir: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(request);
      handler(request, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = mkdtempSync(join(tmpdir(), 'kairos-web-hook-'));
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  received = [];
  handler = (_r, res) => res.writeHead(204).end();
});

const json = (res: ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
const base64 = (text: string) => `base64://${Buffer.from(text).toString('base64')}`;

const CONTEXT: WebHookContext = {
  flow: { id: 'f0a1b2c3-0000-4000-8000-000000000001', type: 'browser', ui: { nodes: [] } },
  request_headers: { 'user-agent': 'Mozilla/5.0 test', 'accept-language': ['de-CH', 'en'], cookie: 'ory_kratos_session=secret', authorization: 'Bearer secret', 'x-forwarded-for': '10.0.0.1' },
  request_method: 'POST',
  request_url: 'https://auth.example.com/self-service/registration?flow=f0a1',
  request_cookies: { csrf_token_abc: 'x' },
  identity: { id: 'i0a1b2c3-0000-4000-8000-000000000002', schema_id: 'default', traits: { email: 'ada@example.com', name: { first: 'Ada', last: 'Lovelace' } }, metadata_public: null },
};

/** A Jsonnet body like the ones in Kratos's docs: uses ctx fields, std functions, conditionals and locals. */
const BODY = `
local fullName(n) = std.join(' ', [n.first, n.last]);
function(ctx) {
  user_id: ctx.identity.id,
  email: std.asciiLower(ctx.identity.traits.email),
  name: fullName(ctx.identity.traits.name),
  flow_id: ctx.flow.id,
  method: ctx.request_method,
  url: ctx.request_url,
  headers: ctx.request_headers,
  [if std.objectHas(ctx, 'session') then 'session_id']: ctx.session.id,
}`;

const hook = (extra: Partial<WebHookConfig> = {}): WebHookConfig => ({ url: `${baseUrl}/hook`, method: 'POST', body: base64(BODY), ...extra });
const executor = new WebHookExecutor({ timeoutMs: 10_000, retryDelayMs: () => 1 });

describe('web_hook request (what the receiver gets)', () => {
  it('renders the Jsonnet body with ctx as Kratos passes it, forwarding only allow-listed request headers', async () => {
    const outcome = await executor.execute(hook(), CONTEXT);
    expect(outcome).toEqual({ kind: 'ok' });
    expect(received).toHaveLength(1);
    expect(received[0]!.method).toBe('POST');
    expect(received[0]!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(received[0]!.body)).toEqual({
      user_id: 'i0a1b2c3-0000-4000-8000-000000000002',
      email: 'ada@example.com',
      name: 'Ada Lovelace',
      flow_id: 'f0a1b2c3-0000-4000-8000-000000000001',
      method: 'POST',
      url: 'https://auth.example.com/self-service/registration?flow=f0a1',
      // Credential leak: cookies, Authorization and X-Forwarded-For never reach the receiver.
      headers: { 'User-Agent': ['Mozilla/5.0 test'], 'Accept-Language': ['de-CH', 'en'] },
    });
  });

  it('reads the template from file:// and sends a form when the content type says so', async () => {
    const file = join(dir, 'form.jsonnet');
    writeFileSync(file, 'function(ctx) { email: ctx.identity.traits.email, source: "kairos" }');
    await executor.execute(hook({ body: `file://${file}`, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }), CONTEXT);
    expect(received[0]!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(received[0]!.body))).toEqual({ email: 'ada@example.com', source: 'kairos' });
  });

  it('api_key in a header, api_key in a cookie, and basic_auth', async () => {
    await executor.execute(hook({ auth: { type: 'api_key', config: { name: 'X-Hook-Key', value: 'k-123', in: 'header' } } }), CONTEXT);
    await executor.execute(hook({ auth: { type: 'api_key', config: { name: 'hook_key', value: 'k-456', in: 'cookie' } } }), CONTEXT);
    await executor.execute(hook({ auth: { type: 'basic_auth', config: { user: 'kairos', password: 'p@ss' } } }), CONTEXT);
    expect(received[0]!.headers['x-hook-key']).toBe('k-123');
    expect(received[1]!.headers.cookie).toBe('hook_key=k-456');
    expect(received[2]!.headers.authorization).toBe(`Basic ${Buffer.from('kairos:p@ss').toString('base64')}`);
  });

  it('error "cancel" in the template cancels the call without failing the flow (Kratos ErrCancel)', async () => {
    const outcome = await executor.execute(hook({ body: base64('function(ctx) if ctx.identity.traits.email == "ada@example.com" then error "cancel" else {}') }), CONTEXT);
    expect(outcome).toEqual({ kind: 'ok', cancelled: true });
    expect(received).toHaveLength(0);
  });

  it('a template that fails to evaluate is a misconfiguration: Jsonnet\'s message in the log, not in the answer', async () => {
    const logged: unknown[] = [];
    const logger = { info: () => {}, warn: () => {}, error: (o: unknown) => logged.push(o) };
    const outcome = await new WebHookExecutor({ timeoutMs: 10_000, logger }).execute(hook({ body: base64('function(ctx) ctx.identity.traits.phone') }), CONTEXT);
    expect(outcome.kind).toBe('error');
    if (outcome.kind !== 'error') return;
    expect(outcome.error.body.message).toMatch(/could not be rendered; the server log has the details/);
    expect(outcome.error.body.message).not.toMatch(/phone/);
    expect(JSON.stringify(logged)).toMatch(/phone/);
    expect(received).toHaveLength(0);
  });
});

describe('web_hook answers (what the flow does)', () => {
  it('response.parse: a 200 with identity fields becomes a patch of exactly those fields', async () => {
    handler = (_r, res) => json(res, 200, { identity: { traits: { email: 'ada@example.com', name: { first: 'Ada', last: 'King' } }, metadata_public: { tier: 'gold' }, metadata_admin: { crm: 7 } } });
    const outcome = await executor.execute(hook({ response: { parse: true } }), CONTEXT);
    expect(outcome).toEqual({ kind: 'patch', identity: { traits: { email: 'ada@example.com', name: { first: 'Ada', last: 'King' } }, metadata_public: { tier: 'gold' }, metadata_admin: { crm: 7 } } });
  });

  it('response.parse: 204, or 200 without identity, changes nothing', async () => {
    expect(await executor.execute(hook({ response: { parse: true } }), CONTEXT)).toEqual({ kind: 'ok' });
    handler = (_r, res) => json(res, 200, { hello: 'world' });
    expect(await executor.execute(hook({ response: { parse: true } }), CONTEXT)).toEqual({ kind: 'ok' });
  });

  it('can_interrupt: a 4xx with messages interrupts the flow with those messages, per field', async () => {
    handler = (_r, res) =>
      json(res, 409, {
        messages: [
          { instance_ptr: '#/traits/email', messages: [{ id: 4000123, text: 'This email is on the deny list.', type: 'error', context: { list: 'deny' } }] },
          { instance_ptr: '#/', messages: [{ id: 1000456, text: 'Contact support.', type: 'info' }] },
        ],
      });
    const outcome = await executor.execute(hook({ can_interrupt: true }), CONTEXT);
    expect(outcome).toEqual({
      kind: 'interrupt',
      messages: [
        { instancePtr: '#/traits/email', field: 'traits.email', messages: [{ id: 4000123, text: 'This email is on the deny list.', type: 'error', context: { list: 'deny' } }] },
        { instancePtr: '#/', field: null, messages: [{ id: 1000456, text: 'Contact support.', type: 'info' }] },
      ],
    });
  });

  it('a receiver answering 500 fails the step with 502 in Kratos\'s envelope, after Kratos\'s two retries', async () => {
    handler = (_r, res) => res.writeHead(500).end('boom');
    const outcome = await executor.execute(hook(), CONTEXT);
    expect(outcome.kind).toBe('error');
    if (outcome.kind !== 'error') return;
    expect(outcome.error.status).toBe(502);
    expect(outcome.error.toJSON()).toEqual({ error: { code: 502, status: 'Bad Gateway', reason: 'A third-party upstream service responded improperly. Please try again later.', message: 'webhook failed with status code 500' } });
    expect(received).toHaveLength(3);
  });

  it('a receiver that never answers fails the step with 504 (timeout), never hangs the flow', async () => {
    handler = () => {
      /* never answers */
    };
    const outcome = await new WebHookExecutor({ timeoutMs: 200, maxRetries: 0 }).execute(hook(), CONTEXT);
    expect(outcome.kind).toBe('error');
    if (outcome.kind !== 'error') return;
    expect(outcome.error.toJSON()).toMatchObject({ error: { code: 504, status: 'Gateway Timeout', reason: 'A third-party upstream service could not be reached. Please try again later.' } });
  });

  it('garbage from a parsing hook fails the step with 502, never a patch or a crash', async () => {
    handler = (_r, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('<html>not json');
    const garbage = await executor.execute(hook({ response: { parse: true } }), CONTEXT);
    expect(garbage.kind === 'error' && garbage.error.status).toBe(502);
    handler = (_r, res) => json(res, 200, { identity: { traits: 'not an object' } });
    const wrongType = await executor.execute(hook({ response: { parse: true } }), CONTEXT);
    expect(wrongType.kind === 'error' && wrongType.error.status).toBe(502);
    handler = (_r, res) => res.writeHead(400).end('nope');
    const noMessages = await executor.execute(hook({ can_interrupt: true }), CONTEXT);
    expect(noMessages.kind === 'error' && noMessages.error.status).toBe(502);
  });

  it('an answer is read only when acted on: a 200 to a hook that does not parse is dropped unread, however large', async () => {
    let sent = 0;
    handler = (_r, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = 'z'.repeat(64 * 1024);
      const pump = () => {
        while (!res.destroyed && sent < 64 * MAX_RESPONSE_BYTES && res.write(chunk)) sent += chunk.length;
        if (!res.destroyed && sent < 64 * MAX_RESPONSE_BYTES) res.once('drain', pump);
        else res.end();
      };
      pump();
    };
    const outcome = await executor.execute(hook({ can_interrupt: true }), CONTEXT);
    expect(outcome.kind).toBe('ok');
    expect(sent).toBeLessThan(16 * MAX_RESPONSE_BYTES);
  });

  it('a receiver that sends its headers and then drips the body never holds the step past the timeout (504)', async () => {
    handler = (_r, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.write('{"messages": [');
      const drip = setInterval(() => (res.destroyed ? clearInterval(drip) : res.write(' ')), 50);
    };
    const started = Date.now();
    const outcome = await new WebHookExecutor({ timeoutMs: 300, maxRetries: 0 }).execute(hook({ can_interrupt: true }), CONTEXT);
    expect(outcome.kind === 'error' && outcome.error.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('an answer past MAX_RESPONSE_BYTES or MAX_JSON_DEPTH fails with 502 saying which, and is not retried', async () => {
    handler = (_r, res) => res.writeHead(400, { 'content-type': 'application/json', 'content-length': String(MAX_RESPONSE_BYTES + 1) }).end('x'.repeat(MAX_RESPONSE_BYTES + 1));
    const large = await executor.execute(hook({ can_interrupt: true }), CONTEXT);
    expect(large.kind === 'error' && large.error.body.message).toBe(`webhook response is larger than ${MAX_RESPONSE_BYTES} bytes`);
    expect(received).toHaveLength(1);
    const nested = (n: number) => `{"identity":{"metadata_admin":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}}`;
    handler = (_r, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(nested(MAX_JSON_DEPTH));
    const deep = await executor.execute(hook({ response: { parse: true } }), CONTEXT);
    expect(deep.kind === 'error' && deep.error.body.message).toMatch(/nested deeper than 128 levels/);
    handler = (_r, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(nested(MAX_JSON_DEPTH - 2));
    expect((await executor.execute(hook({ response: { parse: true } }), CONTEXT)).kind).toBe('patch');
  });

  it('messages of the wrong JSON type fail as Kratos\'s decoder does (502); missing fields take Go\'s zero values', async () => {
    const answer = (body: unknown) => (handler = (_r, res) => json(res, 422, body));
    answer({ messages: [{ instance_ptr: 7, messages: [] }] });
    expect((await executor.execute(hook({ can_interrupt: true }), CONTEXT)).kind).toBe('error');
    answer({ messages: [{ instance_ptr: '#/', messages: [{ id: 1.5 }] }] });
    expect((await executor.execute(hook({ can_interrupt: true }), CONTEXT)).kind).toBe('error');
    answer({ messages: [{ instance_ptr: '#/', messages: [{ text: ['x'] }] }] });
    expect((await executor.execute(hook({ can_interrupt: true }), CONTEXT)).kind).toBe('error');
    answer({ messages: [{ messages: [{ text: 'Only a text.' }] }] });
    const minimal = await executor.execute(hook({ can_interrupt: true }), CONTEXT);
    expect(minimal).toEqual({ kind: 'interrupt', messages: [{ instancePtr: '', field: null, messages: [{ id: 0, text: 'Only a text.', type: 'info' }] }] });
  });

  it('a receiver that is down fails the step with 502', async () => {
    const outcome = await executor.execute(hook({ url: 'http://127.0.0.1:1/hook' }), CONTEXT);
    expect(outcome.kind === 'error' && outcome.error.status).toBe(502);
  });

  it('response.ignore: returns at once and never fails the flow, even when the receiver fails', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    handler = (_r, res) => void gate.then(() => res.writeHead(500).end());
    const outcome = await new WebHookExecutor({ timeoutMs: 2000, maxRetries: 0 }).execute(hook({ response: { ignore: true } }), CONTEXT);
    expect(outcome.kind).toBe('ok');
    // The flow has its outcome while the receiver is still holding the request.
    release();
    await (outcome as { settled?: Promise<void> }).settled;
    expect(received).toHaveLength(1);
  });
});

describe('web_hook config', () => {
  it('refuses ignore with parse (as Kratos), unknown auth types and non-http URLs', () => {
    expect(webHookConfigProblems({ url: 'http://x', method: 'POST', response: { ignore: true, parse: true } })[0]).toMatch(/ignore cannot be combined/);
    expect(webHookConfigProblems({ url: 'http://x', method: 'POST', auth: { type: 'oauth' } as never })).toEqual(['unsupported auth type: oauth']);
    expect(webHookConfigProblems({ url: 'ftp://x', method: 'POST' })).toEqual(['url must be an http(s) URL']);
    expect(webHookConfigProblems(hook())).toEqual([]);
  });

  it('parsing or interrupting hooks run before the identity is stored; others after', () => {
    expect(runsBeforePersist(hook({ response: { parse: true } }))).toBe(true);
    expect(runsBeforePersist(hook({ can_interrupt: true }))).toBe(true);
    expect(runsBeforePersist(hook())).toBe(false);
  });

  it('logs name a hook by id, URL without credentials or query, and config key', () => {
    expect(redactedUrl('https://user:pass@hooks.example.com/x/y?token=abc#f')).toBe('https://hooks.example.com/x/y?[redacted]');
    expect(redactedUrl('http://127.0.0.1:8080/hook')).toBe('http://127.0.0.1:8080/hook');
    expect(describeWebHook({ id: 'crm', url: 'https://h.example/x?k=1' }, 'selfservice.flows.login.after.hooks[0]')).toEqual({ id: 'crm', url: 'https://h.example/x?[redacted]', key: 'selfservice.flows.login.after.hooks[0]' });
  });

  it('measures JSON nesting without recursion, ignoring brackets inside strings', () => {
    expect(jsonDeeperThan('{"a":[[1]]}', 3)).toBe(false);
    expect(jsonDeeperThan('{"a":[[[1]]]}', 3)).toBe(true);
    expect(jsonDeeperThan('{"a":"[[[[[\\"[[["}', 1)).toBe(false);
    expect(jsonDeeperThan('['.repeat(1_000_000), 128)).toBe(true);
  });

  it('maps instance pointers to UI node names', () => {
    expect(fieldOf('#/traits/name/first')).toBe('traits.name.first');
    expect(fieldOf('#/')).toBeNull();
    expect(fieldOf('')).toBeNull();
  });
});
