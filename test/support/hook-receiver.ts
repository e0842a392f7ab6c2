/**
 * A real web hook receiver for integration tests: a node:http server on loopback that records every request (path,
 * headers, body parsed as JSON when it is JSON) and answers with the handler set for its path (204 by default).
 * Tests set `handlers` per path, read `received`, and build web_hook configs with `hook(path, extra)`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: any;
}

export type Handler = (request: Received, response: ServerResponse) => void;

export class HookReceiver {
  readonly handlers = new Map<string, Handler>();
  received: Received[] = [];
  port = 0;
  private server: Server | null = null;

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // a form body or nothing
        }
        const request = { path: req.url!, headers: req.headers, body };
        this.received.push(request);
        (this.handlers.get(req.url!) ?? ((_r, response) => response.writeHead(204).end()))(request, res);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server!.close(resolve));
  }

  /** Forgets what was received and every handler (call before each test). */
  reset(): void {
    this.received = [];
    this.handlers.clear();
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** A web_hook entry of a hook list, calling `path` with the template below. */
  hook(path: string, extra: Record<string, unknown> = {}): { hook: 'web_hook'; config: Record<string, unknown> } {
    return { hook: 'web_hook', config: { url: this.url(path), method: 'POST', body: BODY, ...extra } };
  }

  /** The requests that arrived at `path`. */
  to(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }
}

export const json = (res: ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
export const base64 = (text: string) => `base64://${Buffer.from(text).toString('base64')}`;

/** Polls `check` until it returns a value (a background hook, a log line), or fails after 5 s. */
export async function until<T>(check: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The template of Kratos's docs, passing on what a receiver usually wants from `ctx`. */
export const BODY = base64(`function(ctx) {
  identity_id: if std.objectHas(ctx, 'identity') then ctx.identity.id else null,
  traits: if std.objectHas(ctx, 'identity') then ctx.identity.traits else null,
  verifiable_addresses: if std.objectHas(ctx, 'identity') then ctx.identity.verifiable_addresses else null,
  flow_id: ctx.flow.id,
  flow_type: ctx.flow.type,
  flow_state: ctx.flow.state,
  session_id: if std.objectHas(ctx, 'session') then ctx.session.id else null,
  method: ctx.request_method,
  url: ctx.request_url,
  headers: ctx.request_headers,
  cookies: ctx.request_cookies,
}`);
