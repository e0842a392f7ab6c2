/**
 * serve.public.cors with Kratos's keys: preflights from an allowed origin (exact and wildcard) get the configured
 * methods, headers, credentials and max age; a refused origin gets no CORS headers, so the browser blocks it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { corsOriginMatcher } from '../../src/config/cors.js';

const list = (header: string | null) => (header ?? '').split(/,\s*/);
const dialect = DIALECTS[0]!; // CORS does not touch the database; one dialect is enough.

function preflight(k: TestKairos, origin: string, method = 'POST', headers = 'content-type,x-session-token') {
  return fetch(`${k.publicUrl}/self-service/login/api`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
  });
}

describe(`serve.public.cors (${dialect})`, () => {
  let k: TestKairos;
  beforeAll(async () => {
    k = await startKairos({
      dialect,
      config: {
        serve: {
          public: {
            cors: {
              enabled: true,
              allowed_origins: ['https://app.example.org', 'https://*.tenant.example.org'],
              allowed_methods: ['GET', 'POST'],
              allowed_headers: ['Content-Type', 'X-Session-Token'],
              exposed_headers: ['Content-Type', 'Set-Cookie'],
              allow_credentials: true,
              max_age: 600,
            },
          },
        },
      },
    });
  });
  afterAll(async () => k?.close());

  it('answers a preflight from an allowed origin with the configured methods, headers, credentials and max age', async () => {
    const answer = await preflight(k, 'https://app.example.org');
    expect(answer.status).toBe(204);
    expect(answer.headers.get('access-control-allow-origin')).toBe('https://app.example.org');
    expect(answer.headers.get('access-control-allow-credentials')).toBe('true');
    expect(list(answer.headers.get('access-control-allow-methods'))).toEqual(['GET', 'POST']);
    expect(list(answer.headers.get('access-control-allow-headers'))).toEqual(['Content-Type', 'X-Session-Token']);
    expect(answer.headers.get('access-control-max-age')).toBe('600');
    expect(answer.headers.get('vary')).toMatch(/origin/i);
  });

  it('allows wildcard subdomains of a wildcard origin, and the actual request carries the CORS headers', async () => {
    expect((await preflight(k, 'https://acme.tenant.example.org')).headers.get('access-control-allow-origin')).toBe('https://acme.tenant.example.org');
    const actual = await fetch(`${k.publicUrl}/self-service/login/api`, { headers: { origin: 'https://acme.tenant.example.org' } });
    expect(actual.status).toBe(200);
    expect(actual.headers.get('access-control-allow-origin')).toBe('https://acme.tenant.example.org');
    expect(list(actual.headers.get('access-control-expose-headers'))).toEqual(['Content-Type', 'Set-Cookie']);
  });

  it('a refused origin (a look-alike, another scheme, the bare parent of a wildcard) gets no CORS headers', async () => {
    for (const origin of ['https://app.example.org.evil.test', 'http://app.example.org', 'https://tenant.example.org', 'https://evil.test']) {
      const answer = await preflight(k, origin);
      expect(answer.headers.get('access-control-allow-origin'), origin).toBeNull();
      expect(answer.headers.get('access-control-allow-credentials'), origin).toBeNull();
    }
    const actual = await fetch(`${k.publicUrl}/sessions/whoami`, { headers: { origin: 'https://evil.test' } });
    expect(actual.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('serve.public.cors disabled (the default)', () => {
  let k: TestKairos;
  beforeAll(async () => {
    k = await startKairos({ dialect });
  });
  afterAll(async () => k?.close());

  it('sends no CORS headers at all', async () => {
    const answer = await preflight(k, 'https://app.example.org');
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('allowed_origins "*" (the quickstart)', () => {
  it('answers a literal "*", never an echo of the origin, so credentialed reads from any site stay blocked', async () => {
    const k = await startKairos({ dialect, config: { serve: { public: { cors: { enabled: true } } } } });
    try {
      const answer = await preflight(k, 'https://anything.test');
      expect(answer.headers.get('access-control-allow-origin')).toBe('*');
    } finally {
      await k.close();
    }
  });

  it('matches origins case-insensitively and keeps a wildcard inside the host', () => {
    const allowed = corsOriginMatcher(['https://*.example.org']);
    expect(allowed('https://A.Example.org')).toBe(true);
    expect(allowed('https://a.b.example.org')).toBe(true);
    expect(allowed('https://evil.test/x.example.org')).toBe(false);
    expect(allowed('https://.example.org')).toBe(false);
  });
});
