/**
 * Operations (issue 2): `serve.public.trusted_proxies` decides whose X-Forwarded-For is believed (rate limiting and
 * audit IPs), and SIGTERM shuts `kairos serve` down gracefully.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DIALECTS, freePort, startKairos, type TestKairos } from '../support/harness.js';
import { spawnKairos, writeConfig } from '../support/process.js';

const PASSWORD = 'a long enough passphrase';

/** POSTs an (invalid) registration submission; every POST under /self-service/ counts toward the per-IP limit. */
async function submit(k: TestKairos, forwardedFor: string): Promise<number> {
  const flow = await k.frontend.createNativeRegistrationFlow();
  const response = await fetch(`${k.publicUrl}/self-service/registration?flow=${flow.id}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
    body: JSON.stringify({ method: 'password' }),
  });
  return response.status;
}

async function registerVia(k: TestKairos, forwardedFor: string): Promise<string> {
  const flow = await k.frontend.createNativeRegistrationFlow();
  const email = `proxy-${Math.random().toString(36).slice(2, 10)}@example.com`;
  const response = await fetch(`${k.publicUrl}/self-service/registration?flow=${flow.id}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
    body: JSON.stringify({ method: 'password', traits: { email }, password: PASSWORD }),
  });
  expect(response.status).toBe(200);
  return (await response.json()).identity.id;
}

async function auditIp(k: TestKairos, identityId: string): Promise<string | null> {
  const event = await k.deps.db.selectFrom('audit_events').selectAll().where('identity_id', '=', identityId).where('type', '=', 'registration.succeeded').executeTakeFirstOrThrow();
  return event.ip_address;
}

const LIMIT = { serve: { public: { rate_limit: { enabled: true, max_per_minute: 3 } } } };

describe.each(DIALECTS)('trusted proxies (%s)', (dialect) => {
  it('X-Forwarded-For from a listed proxy is believed: rate limits and audit events use the forwarded client IP', async () => {
    const k = await startKairos({ dialect, config: { serve: { public: { trusted_proxies: ['127.0.0.1'], rate_limit: LIMIT.serve.public.rate_limit } } } });
    try {
      for (let i = 0; i < 3; i++) expect(await submit(k, '203.0.113.7')).not.toBe(429);
      expect(await submit(k, '203.0.113.7')).toBe(429);
      // Another client behind the same proxy has its own budget.
      expect(await submit(k, '203.0.113.8')).not.toBe(429);
      const id = await registerVia(k, '198.51.100.23');
      expect(await auditIp(k, id)).toBe('198.51.100.23');
    } finally {
      await k.close();
    }
  });

  it('X-Forwarded-For from anyone not listed is ignored: a client cannot dodge the limit or forge its audit IP', async () => {
    const k = await startKairos({ dialect, config: { serve: { public: { trusted_proxies: ['10.0.0.1'], rate_limit: LIMIT.serve.public.rate_limit } } } });
    try {
      const id = await registerVia(k, '198.51.100.23');
      expect(await auditIp(k, id)).toBe('127.0.0.1');
      for (let i = 0; i < 2; i++) expect(await submit(k, `203.0.113.${i}`)).not.toBe(429);
      // A fresh forged address every time changes nothing: the socket's address is the key.
      expect(await submit(k, '203.0.113.99')).toBe(429);
    } finally {
      await k.close();
    }
  });
});

describe('SIGTERM', () => {
  it('shuts kairos serve down gracefully: the in-flight request completes and the process exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kairos-sigterm-'));
    const publicPort = await freePort();
    const adminPort = await freePort();
    const file = writeConfig(dir, 'kairos.yml', {
      dsn: `sqlite://${join(dir, 'kairos.sqlite')}`,
      serve: { public: { port: publicPort, base_url: `http://127.0.0.1:${publicPort}/` }, admin: { port: adminPort } },
      secrets: { default: ['test-secret-default-0123456789'], cipher: ['test-cipher-secret-0123456789abcdef0123'] },
      hashers: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } },
    });
    const kairos = spawnKairos(['serve', '-c', file, '--migrate']);
    try {
      await kairos.waitFor(/kairos is listening/);
      const body = JSON.stringify({ schema_id: 'default', traits: { email: 'inflight@example.com' } });
      // A request the server has parsed (it answers "100 Continue" to the headers) but whose body is not sent yet.
      const socket = connect(adminPort, '127.0.0.1');
      let received = '';
      const gotContinue = new Promise<void>((resolve) =>
        socket.on('data', (chunk) => {
          received += chunk.toString('utf8');
          if (received.includes('100 Continue')) resolve();
        }),
      );
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      socket.write(
        `POST /admin/identities HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
      );
      await gotContinue;
      kairos.child.kill('SIGTERM');
      await kairos.waitFor(/shutting down/);
      socket.write(body);
      await closed;
      expect(received).toMatch(/HTTP\/1\.1 201 Created/);
      expect(received).toContain('inflight@example.com');
      expect(await kairos.exited).toBe(0);
      expect(kairos.output()).toMatch(/"msg":"stopped"/);
      // New connections are refused once it has stopped.
      await expect(fetch(`http://127.0.0.1:${publicPort}/health/alive`)).rejects.toThrow();
    } finally {
      await kairos.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
