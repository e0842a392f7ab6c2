/**
 * A real local HTTP server standing in for an SMS provider (Twilio-like): it records every request Kairos's `sms`
 * courier channel makes, and answers with a configurable status, so tests read codes from the "phone" the way a
 * person would, and exercise provider failures.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface ReceivedSms {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The request body as sent (JSON from the channel's Jsonnet template). */
  raw: string;
  json: Record<string, any>;
}

/** Kratos-style Jsonnet body: the recipient, the message text, and the template's type and data (ctx = Kratos's data model). */
export const SMS_BODY_TEMPLATE = `function(ctx) {
  To: ctx.recipient,
  Body: ctx.body,
  Kind: ctx.template_type,
  Data: ctx.template_data,
  MessageType: ctx.message_type,
}`;

export class TestSmsReceiver {
  readonly received: ReceivedSms[] = [];
  /** The status the provider answers with (2xx: accepted). */
  status = 201;
  private server: Server;
  private waiters: { to: string; resolve: (m: ReceivedSms) => void }[] = [];
  port = 0;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, any> = {};
        try {
          json = JSON.parse(raw);
        } catch {
          // a form body; tests look at `raw`
        }
        const message: ReceivedSms = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, raw, json };
        const ok = this.status >= 200 && this.status < 300;
        res.writeHead(this.status, { 'content-type': 'application/json' }).end(ok ? '{"sid":"SM1","status":"queued"}' : '{"message":"provider unavailable"}');
        if (!ok) return;
        this.received.push(message);
        for (const waiter of [...this.waiters]) {
          if (json.To === waiter.to) {
            this.waiters.splice(this.waiters.indexOf(waiter), 1);
            this.received.splice(this.received.indexOf(message), 1);
            waiter.resolve(message);
            break;
          }
        }
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/2010-04-01/Accounts/AC1/Messages.json`;
  }

  /** The courier channel config for Kairos (`courier.channels`), with basic auth as Twilio uses. */
  channel(): Record<string, unknown> {
    return {
      id: 'sms',
      type: 'http',
      request_config: {
        url: this.url,
        method: 'POST',
        body: `base64://${Buffer.from(SMS_BODY_TEMPLATE).toString('base64')}`,
        auth: { type: 'basic_auth', config: { user: 'AC1', password: 'provider-token' } },
      },
    };
  }

  /** The next (or an already received, not yet taken) text message to `to`; rejects after `timeoutMs`. */
  waitFor(to: string, timeoutMs = 10_000): Promise<ReceivedSms> {
    const already = this.received.find((m) => m.json.To === to);
    if (already) {
      this.received.splice(this.received.indexOf(already), 1);
      return Promise.resolve(already);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no text message to ${to} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        to,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The six-digit code in a text message's body (as a person reads it). */
export const smsCode = (sms: ReceivedSms): string => /\b(\d{6})\b/.exec(String(sms.json.Body ?? ''))?.[1] ?? '';
