/**
 * Kratos's configuration, key by key: the quickstart configs load unchanged (or are refused naming what Kairos
 * lacks), every key of Kratos's config schema is honoured by Kairos's schema or listed in
 * src/config/kratos-keys.ts, and the README's "Differences from Kratos" names every listed key.
 */
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { KRATOS_KEYS_NOT_HONOURED } from '../../src/config/kratos-keys.js';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;
const devDirectory = mkdtempSync(join(tmpdir(), 'kairos-compat-config-'));
const secrets = { default: ['0123456789abcdef0123'], cipher: ['0123456789abcdef0123456789abcdef'] };

/**
 * Kratos's quickstart mounts its identity schema at /etc/config/kratos/ in the container; here the same schema comes
 * from the fixture through Kratos's environment override (same schema id), and the config file itself stays unchanged.
 */
const quickstartSchema = new URL('./fixtures/quickstart-identity.schema.json', import.meta.url).href;
const envFor = (variant: string) => ({
  IDENTITY_SCHEMAS: JSON.stringify([{ id: variant === 'cloud' ? 'preset://email' : 'default', url: quickstartSchema }]),
});
const quickstartEnv = envFor('email-password');

function load(overrides: Record<string, unknown>) {
  return loadConfig({ overrides: { dsn: 'memory', secrets, ...overrides }, env: {} });
}

function refusal(overrides: Record<string, unknown>): string {
  try {
    load(overrides);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected the configuration to be refused');
}

type Json = Record<string, unknown>;
function kairosHas(path: string[]): boolean {
  let node = configSchema as unknown as Json;
  for (const key of path) {
    const properties = node.properties as Json | undefined;
    if (!properties || !(key in properties)) return false;
    node = properties[key] as Json;
  }
  return true;
}
const listedAt = (path: string[]) =>
  KRATOS_KEYS_NOT_HONOURED.some((e) => {
    const parts = e.path.split('.');
    return parts.length <= path.length && parts.every((p, i) => p === '*' || p === path[i]);
  });

describe("Kratos's quickstart configs (contrib/quickstart/kratos/*/kratos.yml, unchanged)", () => {
  it.each(['email-password', 'cloud'])('%s loads in --dev as Kratos\'s quickstart runs it', (variant) => {
    const { config, warnings } = loadConfig({ file: fixture(`quickstart-${variant}.kratos.yml`), dev: true, devDirectory, env: envFor(variant) });
    expect(config.dsn).toBe('memory');
    expect(config.hashers.algorithm).toBe('bcrypt');
    expect(config.hashers.bcrypt.cost).toBe(8);
    expect(config.log.format).toBe('text');
    expect(config.serve.public.cors.enabled).toBe(true);
    expect(warnings.filter((w) => w.startsWith('unknown config key'))).toEqual([]);
  });

  it('phone-password loads with its SMS channel (courier.channels, Kratos\'s HTTP channel with id sms)', () => {
    const { config } = loadConfig({ file: fixture('quickstart-phone-password.kratos.yml'), dev: true, devDirectory, env: envFor('phone-password') });
    expect(config.courier.channels).toHaveLength(1);
    expect(config.courier.channels[0]).toMatchObject({ id: 'sms', type: 'http', request_config: { method: 'POST', auth: { type: 'basic_auth' }, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } } });
    expect(config.courier.channels[0]!.request_config.url).toMatch(/^https:\/\/api\.twilio\.com\//);
  });

  it('courier.channels: only an HTTP channel with id sms; anything else is refused naming the key', () => {
    expect(refusal({ courier: { channels: [{ id: 'email', type: 'http', request_config: { url: 'http://127.0.0.1:1/' } }] } })).toMatch(/courier\.channels\.0\.id/);
    expect(refusal({ courier: { channels: [{ id: 'sms', type: 'smtp', request_config: { url: 'http://127.0.0.1:1/' } }] } })).toMatch(/courier\.channels\.0\.type/);
  });

  it('email-password: hooks, CORS defaults, custom-scheme return URLs and after-URLs are read as Kratos reads them', () => {
    const { config } = loadConfig({ file: fixture('quickstart-email-password.kratos.yml'), dev: true, devDirectory, env: quickstartEnv });
    expect(config.selfservice.flows.registration.after.password).toEqual({ hooks: [{ hook: 'session' }, { hook: 'show_verification_ui' }] });
    expect(config.serve.public.cors.allowed_origins).toEqual(['*']);
    expect(config.selfservice.allowed_return_urls).toContain('exp://localhost:8081/--/Callback');
    expect(config.selfservice.flows.verification.after.default_browser_return_url).toBe('http://127.0.0.1:4455/welcome');
  });

  it.each(['webauthn', 'passkey', 'all-strategies'])('%s (passwordless WebAuthn, `webauthn.config.passwordless: true`) loads as Kratos reads it', (variant) => {
    const { config } = loadConfig({ file: fixture(`quickstart-${variant}.kratos.yml`), dev: true, devDirectory, env: envFor(variant) });
    expect(config.selfservice.methods.webauthn.config.passwordless).toBe(true);
    expect(config.selfservice.methods.webauthn.config.rp.id).toBeTruthy();
  });
});

describe('every Kratos config key is honoured or refused by name', () => {
  const kratosKeys = readFileSync(fixture('kratos-config-keys.txt'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));

  it('each key of Kratos\'s config schema is in Kairos\'s schema or in the list of keys Kairos does not honour', () => {
    const uncovered = kratosKeys.filter((key) => {
      const path = key.split('.');
      return !kairosHas(path) && !listedAt(path);
    });
    expect(uncovered).toEqual([]);
  });

  it('each listed key is a key of Kratos\'s config schema (no stale entries)', () => {
    const stale = KRATOS_KEYS_NOT_HONOURED.filter((e) => !kratosKeys.some((k) => k === e.path || k.startsWith(e.path + '.')));
    expect(stale.map((e) => e.path)).toEqual([]);
  });

  it("the README's \"Differences from Kratos\" names every refused and every accepted-but-different key, and no other", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Differences from Kratos'), readme.indexOf('\n## ', readme.indexOf('## Differences from Kratos') + 5));
    const refusedList = section.slice(section.indexOf('### Kratos keys Kairos refuses'), section.indexOf('### Kratos keys Kairos accepts'));
    const acceptedList = section.slice(section.indexOf('### Kratos keys Kairos accepts'));
    const keysIn = (text: string) => [...text.matchAll(/^- `([a-z0-9_.*-]+)`/gm)].map((m) => m[1]);
    expect(keysIn(refusedList).sort()).toEqual(KRATOS_KEYS_NOT_HONOURED.filter((e) => e.kind === 'refused').map((e) => e.path).sort());
    expect(keysIn(acceptedList).sort()).toEqual(KRATOS_KEYS_NOT_HONOURED.filter((e) => e.kind === 'accepted').map((e) => e.path).sort());
  });
});

describe('refusals name the key; defaults and disabled values are accepted', () => {
  it('accepts keys left at Kratos\'s default or disabled value', () => {
    expect(() =>
      load({
        selfservice: {
          methods: { oidc: { enabled: false, config: { providers: [] } }, webauthn: { enabled: false }, code: { passwordless_enabled: false }, password: { config: { haveibeenpwned_enabled: false } } },
          flows: { logout: { clear_browser_data: false } },
        },
        courier: { delivery_strategy: 'smtp', channels: [] },
        feature_flags: { cacheable_sessions: false },
      }),
    ).not.toThrow();
  });

  it('accepts security keys, passkeys and emailed second-factor codes (their methods are supported)', () => {
    const rp = { id: 'localhost', display_name: 'Ory', origins: ['http://localhost:4455'] };
    const { config } = load({
      selfservice: { methods: { webauthn: { enabled: true, config: { passwordless: false, rp } }, passkey: { enabled: true, config: { rp } }, code: { mfa_enabled: true } } },
    });
    expect(config.selfservice.methods.webauthn.enabled).toBe(true);
    expect(config.selfservice.methods.passkey.enabled).toBe(true);
    expect(config.selfservice.methods.code.mfa_enabled).toBe(true);
  });

  it('accepts passwordless WebAuthn, and still refuses passkey options Kairos does not honour, naming each key', () => {
    const message = refusal({
      selfservice: { methods: { webauthn: { enabled: true, config: { passwordless: true } }, passkey: { enabled: true, config: { attestation: { preference: 'direct' } } } } },
    });
    expect(message).not.toContain('selfservice.methods.webauthn.config.passwordless');
    expect(message).toContain('selfservice.methods.passkey.config.attestation: Kairos does not support it yet');
    expect(message).not.toContain('selfservice.methods.webauthn: ');
    expect(message).not.toContain('selfservice.methods.passkey: ');
  });

  it('refuses haveibeenpwned_enabled: true (no network to Have I Been Pwned) and oidc.enabled, naming each key', () => {
    const message = refusal({ selfservice: { methods: { password: { config: { haveibeenpwned_enabled: true } }, oidc: { enabled: true } } } });
    expect(message).toContain('selfservice.methods.password.config.haveibeenpwned_enabled: Kairos does not support it yet');
    expect(message).toContain('selfservice.methods.oidc: Kairos does not support it yet');
  });

  it('accepts the hooks Kairos runs wherever Kratos allows them: web_hook, require_verified_address, revoke_active_sessions, session, show_verification_ui', () => {
    const webHook = { hook: 'web_hook', config: { url: 'https://hooks.example.org/login', method: 'POST', can_interrupt: true, auth: { type: 'api_key', config: { name: 'X-Key', value: 'k', in: 'header' } } } };
    const { config } = load({
      selfservice: {
        flows: {
          login: { before: { hooks: [webHook] }, after: { hooks: [{ hook: 'require_verified_address' }, { hook: 'revoke_active_sessions' }], password: { hooks: [webHook, { hook: 'revoke_active_sessions' }] } } },
          registration: { after: { password: { hooks: [webHook, { hook: 'session' }, { hook: 'show_verification_ui' }] } } },
          settings: { after: { password: { hooks: [{ hook: 'revoke_active_sessions' }] }, profile: { hooks: [webHook, { hook: 'show_verification_ui' }] } } },
          recovery: { after: { hooks: [{ hook: 'revoke_active_sessions' }, webHook] } },
          verification: { after: { hooks: [webHook] } },
        },
      },
      clients: { http: { disallow_private_ip_ranges: true, private_ip_exception_urls: ['http://10.0.0.1/hook'] } },
    });
    expect(config.clients.http).toEqual({ disallow_private_ip_ranges: true, private_ip_exception_urls: ['http://10.0.0.1/hook'] });
  });

  it('refuses a web_hook whose config cannot run (a url that is not http(s)), naming its key', () => {
    const message = refusal({ selfservice: { flows: { login: { after: { hooks: [{ hook: 'web_hook', config: { url: 'file:///etc/passwd', method: 'POST' } }] } } } } });
    expect(message).toContain('selfservice.flows.login.after.hooks[0].config: url must be an http(s) URL');
  });

  it('validates hooks where Kratos\'s schema allows them: a session hook after login is invalid', () => {
    expect(refusal({ selfservice: { flows: { login: { after: { password: { hooks: [{ hook: 'session' }] } } } } } })).toMatch(/selfservice\.flows\.login\.after\.password\.hooks/);
  });

  it('refuses hooks Kairos does not run yet (verification after login, organization), naming each key', () => {
    const message = refusal({ selfservice: { flows: { login: { after: { hooks: [{ hook: 'verification' }, { hook: 'organization' }] } } } } });
    expect(message).toContain('selfservice.flows.login.after.hooks[0] (hook: verification): Kairos does not support it yet');
    expect(message).toContain('selfservice.flows.login.after.hooks[1] (hook: organization): Kairos does not support it yet');
  });

  it("reads Kratos's log levels and argon2 memory", () => {
    const { config } = load({ log: { level: 'warning', format: 'text' }, hashers: { argon2: { memory: '64MB' } } });
    expect(config.log.level).toBe('warn');
    expect(config.hashers.argon2.memory_kib).toBe(65536);
  });

  it('refuses an unusable CORS origin, naming it', () => {
    expect(refusal({ serve: { public: { cors: { enabled: true, allowed_origins: ['https://*.*.example.org'] } } } })).toContain('serve.public.cors.allowed_origins');
  });
});
