/**
 * Kratos's courier HTTP channel (the SMS provider connection for codes by SMS) against a real local HTTP receiver
 * standing in for the SMS provider: the Jsonnet body built from Kratos's data model, basic and API-key auth, form
 * bodies, and provider failures surfaced. The whole path (outbox, worker, codes by SMS) is test/integration/sms-codes.test.ts.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpChannel, HttpChannelError } from '../../src/courier/http-channel.js';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** Kratos's documented Twilio-style SMS body. */
const TWILIO_BODY = `function(ctx) {
  To: ctx.recipient,
  Body: ctx.body,
  Kind: ctx.template_type,
  Code: ctx.template_data.login_code,
}`;

describe('courier HTTP channel (SMS provider)', () => {
  let server: Server;
  let url: string;
  const received: Received[] = [];
  let status = 201;
  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        received.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(status, { 'content-type': 'application/json' }).end(status < 300 ? '{"sid":"SM1"}' : '{"message":"quota exceeded"}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/2010-04-01/Messages.json`;
  });
  afterAll(async () => new Promise<void>((resolve) => server.close(() => resolve())));

  const message = { recipient: '+15551234567', body: 'Your code is 123456', template_type: 'login_code_valid', template_data: { login_code: '123456' }, message_type: 'sms' as const };

  it('posts the Jsonnet-rendered body with basic auth (base64:// template, as in Kratos configs)', async () => {
    status = 201;
    const channel = new HttpChannel('sms', { url, method: 'post', body: `base64://${Buffer.from(TWILIO_BODY).toString('base64')}`, auth: { type: 'basic_auth', config: { user: 'AC123', password: 'token' } } });
    await channel.dispatch(message);
    const last = received.at(-1)!;
    expect(last.method).toBe('POST');
    expect(last.url).toBe('/2010-04-01/Messages.json');
    expect(last.headers['content-type']).toBe('application/json');
    expect(last.headers.authorization).toBe(`Basic ${Buffer.from('AC123:token').toString('base64')}`);
    expect(JSON.parse(last.body)).toEqual({ To: '+15551234567', Body: 'Your code is 123456', Kind: 'login_code_valid', Code: '123456' });
  });

  it('sends an API key in a header or a cookie', async () => {
    status = 200;
    await new HttpChannel('sms', { url, body: TWILIO_BODY, auth: { type: 'api_key', config: { name: 'X-Api-Key', value: 'k1', in: 'header' } } }).dispatch(message);
    expect(received.at(-1)!.headers['x-api-key']).toBe('k1');
    await new HttpChannel('sms', { url, body: TWILIO_BODY, auth: { type: 'api_key', config: { name: 'session', value: 'k2', in: 'cookie' } } }).dispatch(message);
    expect(received.at(-1)!.headers.cookie).toBe('session=k2');
  });

  it('a Content-Type: application/x-www-form-urlencoded header makes the template\'s object a form (Kratos\'s phone quickstart, Twilio)', async () => {
    status = 201;
    const form = `function(ctx) { To: ctx.recipient, Body: ctx.body }`;
    await new HttpChannel('sms', { url, body: form, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }).dispatch(message);
    const last = received.at(-1)!;
    expect(last.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(last.body))).toEqual({ To: '+15551234567', Body: 'Your code is 123456' });
    const before = received.length;
    const notStrings = await new HttpChannel('sms', { url, body: 'function(ctx) { n: 1 }', headers: { 'content-type': 'application/x-www-form-urlencoded' } }).dispatch(message).catch((e) => e);
    expect(notStrings).toBeInstanceOf(HttpChannelError);
    expect(received.length).toBe(before);
  });

  it('a provider error is an error with its status (the outbox retries it), never a silent success', async () => {
    status = 429;
    const error = await new HttpChannel('sms', { url, body: TWILIO_BODY }).dispatch(message).catch((e) => e);
    expect(error).toBeInstanceOf(HttpChannelError);
    expect(error.status).toBe(429);
    expect(error.message).toContain('quota exceeded');
    expect(error.message).not.toContain('123456');
  });

  it('a provider that echoes the request gets the code redacted from the error (dispatch record, log line)', async () => {
    const echo = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => res.writeHead(400).end(`invalid request: ${Buffer.concat(chunks).toString('utf8')}`));
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const address = echo.address();
    try {
      const error = await new HttpChannel('sms', { url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`, body: TWILIO_BODY }).dispatch(message).catch((e) => e);
      expect(error).toBeInstanceOf(HttpChannelError);
      expect(error.message).toContain('[redacted]');
      expect(error.message).not.toContain('123456');
    } finally {
      await new Promise<void>((resolve) => echo.close(() => resolve()));
    }
  });

  it('a broken template fails before anything is sent', async () => {
    const before = received.length;
    const error = await new HttpChannel('sms', { url, body: 'function(ctx) { To: ctx.recipient, ' }).dispatch(message).catch((e) => e);
    expect(error).toBeInstanceOf(HttpChannelError);
    expect(error.status).toBeNull();
    expect(received.length).toBe(before);
  });
});
