import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, isLiteralLoopback, loadConfig } from './load.js';
import { parseDurationMs } from './duration.js';

const secrets = { default: ['0123456789abcdef0123'], cipher: ['0123456789abcdef0123456789abcdef'] };

function file(yaml: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'kairos-config-')), 'kairos.yml');
  writeFileSync(path, yaml);
  return path;
}

describe('configuration', () => {
  it('reads Kratos keys from YAML and fills defaults', () => {
    const { config } = loadConfig({ file: file('dsn: memory\nserve:\n  public:\n    port: 5000\n'), overrides: { secrets }, env: {} });
    expect(config.serve.public.port).toBe(5000);
    expect(config.serve.public.base_url).toBe('http://127.0.0.1:5000/');
    expect(config.selfservice.flows.login.ui_url).toBe('http://127.0.0.1:5000/ui/login');
    expect(config.session.whoami.required_aal).toBe('highest_available');
    expect(config.selfservice.methods.totp.config.issuer).toBe('127.0.0.1');
  });

  it('the default TOTP issuer is the brand name when one is set, else the public host; an explicit issuer wins', () => {
    const load = (overrides: Record<string, unknown>) => loadConfig({ overrides: { dsn: 'memory', secrets, ...overrides }, env: {} }).config;
    expect(load({ ui: { brand: { name: 'Acme Cloud' } } }).selfservice.methods.totp.config.issuer).toBe('Acme Cloud');
    const unbranded = load({});
    expect(unbranded.selfservice.methods.totp.config.issuer).toBe('127.0.0.1');
    expect(unbranded.ui.brand.name).toBe('Kairos');
    expect(load({ ui: { brand: { name: 'Acme' } }, selfservice: { methods: { totp: { config: { issuer: 'Acme Login' } } } } }).selfservice.methods.totp.config.issuer).toBe('Acme Login');
  });

  it('ui.languages: the hosted UI offers English and German by default; only shipped languages are accepted', () => {
    expect(loadConfig({ overrides: { dsn: 'memory', secrets }, env: {} }).config.ui.languages).toEqual(['en', 'de']);
    expect(loadConfig({ overrides: { dsn: 'memory', secrets, ui: { languages: ['de'] } }, env: {} }).config.ui.languages).toEqual(['de']);
    expect(() => loadConfig({ overrides: { dsn: 'memory', secrets, ui: { languages: ['fr'] } }, env: {} })).toThrow(/ui\.languages/);
  });

  it('lets environment variables override keys Kratos-style', () => {
    const { config } = loadConfig({
      overrides: { dsn: 'memory', secrets },
      env: { DSN: 'sqlite:///tmp/x.sqlite', SERVE_PUBLIC_PORT: '4555', SELFSERVICE_METHODS_TOTP_ENABLED: 'true', SECRETS_DEFAULT: 'aaaaaaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbbbbbb' },
    });
    expect(config.dsn).toBe('sqlite:///tmp/x.sqlite');
    expect(config.serve.public.port).toBe(4555);
    expect(config.selfservice.methods.totp.enabled).toBe(true);
    expect(config.selfservice.methods.lookup_secret.enabled).toBe(true);
    expect(config.secrets.default).toEqual(['aaaaaaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbbbbbb']);
  });

  it('fails naming the key and the problem', () => {
    expect(() => loadConfig({ overrides: { dsn: 'memory', secrets, selfservice: { methods: { totp: { config: { period: 5 } } } } }, env: {} })).toThrow(
      /selfservice\.methods\.totp\.config\.period: must be >= 15/,
    );
    expect(() => loadConfig({ overrides: { dsn: 'memory', secrets, session: { lifespan: 'forever' } }, env: {} })).toThrow(/session\.lifespan/);
    expect(() => loadConfig({ overrides: { dsn: 'memory', secrets }, env: { SERVE_PUBLIC_PORT: 'abc' } })).toThrow(ConfigError);
  });

  it('warns about unknown keys', () => {
    const { warnings } = loadConfig({ overrides: { dsn: 'memory', secrets, serve: { public: { colour: 'blue' } } }, env: {} });
    expect(warnings).toEqual(['unknown config key "serve.public.colour" is ignored']);
  });

  it('refuses production without secrets, and an admin API beyond loopback without keys', () => {
    expect(() => loadConfig({ overrides: { dsn: 'memory' }, env: {} })).toThrow(/secrets\.default: is required/);
    expect(() => loadConfig({ overrides: { dsn: 'memory', secrets, serve: { admin: { host: '0.0.0.0' } } }, env: {} })).toThrow(/serve\.admin\.api_keys/);
  });

  it('an admin API bound to a name (localhost) needs keys: only literal loopback addresses are trusted without one', () => {
    expect(() => loadConfig({ overrides: { dsn: 'memory', secrets, serve: { admin: { host: 'localhost' } } }, env: {} })).toThrow(/serve\.admin\.api_keys/);
    for (const host of ['127.0.0.1', '127.0.0.2', '::1', '[::1]', '::ffff:127.0.0.1']) {
      expect(() => loadConfig({ overrides: { dsn: 'memory', secrets, serve: { admin: { host } } }, env: {} })).not.toThrow();
    }
    for (const host of ['0.0.0.0', '::', '10.0.0.1', 'localhost.', 'example.org', '::ffff:10.0.0.1']) expect(isLiteralLoopback(host)).toBe(false);
  });

  it('dev mode generates secrets once and keeps them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kairos-dev-'));
    const first = loadConfig({ dev: true, devDirectory: dir, env: {} });
    const second = loadConfig({ dev: true, devDirectory: dir, env: {} });
    expect(first.config.secrets.default[0]).toBe(second.config.secrets.default[0]);
    expect(first.config.dsn).toBe(`sqlite://${join(dir, 'kairos.sqlite')}`);
    expect(first.config.selfservice.methods.totp.enabled).toBe(true);
  });

  it('warns when the TOTP window is widened', () => {
    const { warnings } = loadConfig({ overrides: { dsn: 'memory', secrets, selfservice: { methods: { totp: { config: { window: 2 } } } } }, env: {} });
    expect(warnings.join()).toMatch(/window is 2/);
  });

  it('parses Go durations', () => {
    expect(parseDurationMs('1h30m')).toBe(5_400_000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(() => parseDurationMs('10 minutes')).toThrow(TypeError);
  });
});
