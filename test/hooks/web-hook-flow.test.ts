/**
 * From a receiver's answer to what the flow shows or stores: the executor against a real node:http receiver, then
 * the bridge (web-hook-flow.ts) that turns its outcome into the engine's validation error (rendered into the flow's
 * nodes) or into changes on a Kairos identity. The flows' use of it is tested through the public API in
 * test/integration/hooks.test.ts.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebHookExecutor } from '../../src/hooks/web-hook.js';
import { applyIdentityPatch, interruptError, webHookContext } from '../../src/hooks/web-hook-flow.js';
import { applyProblems } from '../../src/flows/flow.js';
import { inputNode, type UiContainer } from '../../src/ui/nodes.js';
import type { Identity } from '../../src/identity/identity.js';

let server: Server;
let url: string;
let answer: { status: number; body: unknown } = { status: 204, body: null };
let lastBody: any = null;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      lastBody = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body === null ? '' : JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const BODY = `base64://${Buffer.from('function(ctx) { email: ctx.identity.traits.email, ua: ctx.request_headers["User-Agent"][0], has_cookie: std.objectHas(ctx.request_headers, "Cookie") }').toString('base64')}`;

function identity(): Identity {
  const now = Date.UTC(2026, 0, 1);
  return {
    id: 'a0000000-0000-4000-8000-000000000001',
    schemaId: 'default',
    state: 'active',
    stateChangedAtMs: now,
    traits: { email: 'ada@example.com' },
    metadataPublic: null,
    metadataAdmin: null,
    externalId: null,
    createdAtMs: now,
    updatedAtMs: now,
    credentials: {},
    verifiableAddresses: [{ id: 'v1', value: 'ada@example.com', via: 'email', verified: false, status: 'pending', verifiedAtMs: null, createdAtMs: now, updatedAtMs: now }],
    recoveryAddresses: [],
  };
}

const request = { method: 'POST', url: 'https://auth.example.com/self-service/registration?flow=x', headers: { 'user-agent': 'UA/1', cookie: 'a=b', 'x-empty': undefined }, cookies: { a: 'b' } };

describe('web_hook outcome in a flow', () => {
  const executor = new WebHookExecutor({ timeoutMs: 10_000 });

  it('can_interrupt: the receiver\'s messages are rendered on the named node and on the flow', async () => {
    answer = { status: 400, body: { messages: [{ instance_ptr: '#/traits/email', messages: [{ id: 4000300, text: 'Email domain not allowed', type: 'error' }] }, { instance_ptr: '', messages: [{ id: 1, text: 'Try again later', type: 'info' }] }] } };
    const subject = identity();
    const outcome = await executor.execute({ url, method: 'POST', body: BODY, can_interrupt: true }, webHookContext(request, { flow: { id: 'x' }, identity: subject }));
    expect(lastBody).toEqual({ email: 'ada@example.com', ua: 'UA/1', has_cookie: false });
    expect(outcome.kind).toBe('interrupt');
    if (outcome.kind !== 'interrupt') return;
    const ui: UiContainer = { action: '/self-service/registration?flow=x', method: 'POST', nodes: [inputNode('default', 'traits.email', 'email'), inputNode('password', 'password', 'password')] };
    applyProblems(ui, interruptError(outcome.messages, { 'traits.email': 'ada@example.com' }));
    expect(ui.nodes[0]!.messages).toEqual([{ id: 4000300, text: 'Email domain not allowed', type: 'error' }]);
    expect(ui.nodes[0]!.attributes).toMatchObject({ value: 'ada@example.com' });
    expect(ui.messages).toEqual([{ id: 1, text: 'Try again later', type: 'info' }]);
  });

  it('response.parse: traits, metadata and the verified state of a derived address change on the identity', async () => {
    answer = { status: 200, body: { identity: { traits: { email: 'ada@example.com', name: 'Ada' }, metadata_admin: { risk: 'low' }, verifiable_addresses: [{ value: 'ada@example.com', via: 'email', verified: true }, { value: 'other@example.com', verified: true }] } } };
    const subject = identity();
    const outcome = await executor.execute({ url, method: 'POST', body: BODY, response: { parse: true } }, webHookContext(request, { flow: { id: 'x' }, identity: subject }));
    expect(outcome.kind).toBe('patch');
    if (outcome.kind !== 'patch') return;
    const changed = applyIdentityPatch(subject, outcome.identity, Date.UTC(2026, 0, 2));
    expect(changed).toEqual(['traits', 'metadata_admin', 'verifiable_addresses']);
    expect(subject.traits).toEqual({ email: 'ada@example.com', name: 'Ada' });
    expect(subject.metadataAdmin).toEqual({ risk: 'low' });
    expect(subject.verifiableAddresses).toHaveLength(1);
    expect(subject.verifiableAddresses[0]).toMatchObject({ verified: true, status: 'completed', verifiedAtMs: Date.UTC(2026, 0, 2) });
  });
});
