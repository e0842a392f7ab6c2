import { describe, expect, it } from 'vitest';
import { loadConfig } from './config/load.js';
import { Urls } from './urls.js';

function urls(selfservice: Record<string, unknown>): Urls {
  const { config } = loadConfig({ overrides: { dsn: 'memory', secrets: { default: ['x'.repeat(32)] }, selfservice }, env: {} });
  return new Urls(config);
}

// The quickstart's lists (contrib/quickstart/kratos/email-password/kratos.yml).
const quickstart = urls({
  default_browser_return_url: 'http://127.0.0.1:4455/welcome',
  allowed_return_urls: ['http://127.0.0.1:4455', 'http://localhost:19006/Callback', 'exp://localhost:8081/--/Callback', 'myapp://callback', 'https://*.example.org/app'],
});

describe('return_to', () => {
  it('resolves a relative return_to against default_browser_return_url before checking it (reference UI: return_to=/sessions)', () => {
    expect(quickstart.resolveReturnUrl('/sessions')).toBe('http://127.0.0.1:4455/sessions');
  });

  it('open redirect: a protocol-relative or backslashed return_to resolves to the foreign host and is refused', () => {
    expect(quickstart.resolveReturnUrl('//evil.example/x')).toBeNull();
    expect(quickstart.resolveReturnUrl('/\\evil.example/x')).toBeNull();
    expect(quickstart.resolveReturnUrl('https://127.0.0.1:4455/')).toBeNull(); // another scheme
    expect(quickstart.resolveReturnUrl('http://127.0.0.1:4456/')).toBeNull(); // another port
    expect(quickstart.resolveReturnUrl('http://user@127.0.0.1:4455/')).toBeNull();
    expect(quickstart.resolveReturnUrl('javascript:alert(1)')).toBeNull();
  });

  it('compares custom schemes of native apps by scheme, host and path (they have no WHATWG origin)', () => {
    expect(quickstart.resolveReturnUrl('exp://localhost:8081/--/Callback')).toBe('exp://localhost:8081/--/Callback');
    expect(quickstart.resolveReturnUrl('exp://localhost:8081/--/Callback/more?x=1')).not.toBeNull();
    expect(quickstart.resolveReturnUrl('myapp://callback')).toBe('myapp://callback');
    expect(quickstart.resolveReturnUrl('exp://evil:8081/--/Callback')).toBeNull();
    expect(quickstart.resolveReturnUrl('exp://localhost:8081/--/Other')).toBeNull();
    expect(quickstart.resolveReturnUrl('otherapp://callback')).toBeNull();
  });

  it('paths match on a segment boundary and wildcards on a label boundary', () => {
    expect(quickstart.resolveReturnUrl('http://localhost:19006/Callback')).not.toBeNull();
    expect(quickstart.resolveReturnUrl('http://localhost:19006/CallbackEvil')).toBeNull();
    expect(quickstart.resolveReturnUrl('https://a.example.org/app/x')).not.toBeNull();
    expect(quickstart.resolveReturnUrl('https://evilexample.org/app')).toBeNull();
    expect(quickstart.resolveReturnUrl('https://example.org/app')).toBeNull();
  });
});
