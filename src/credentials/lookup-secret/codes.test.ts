import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig, ConfigError } from '../../config/load.js';
import { cryptoRandom, type Random } from '../../support/random.js';
import { CODE_ALPHABET, CODE_ENTROPY_BITS, codeHashes, generateCode, generateCodes, hashCode, normalizeCode } from './codes.js';

/** A Random that replays given bytes (then zeros), to pin generation. */
function replay(bytes: number[]): Random {
  let offset = 0;
  return {
    bytes: (length) => {
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) out[i] = bytes[offset++] ?? 0;
      return out;
    },
    uuid: () => '00000000-0000-4000-8000-000000000000',
  };
}

describe('recovery code generation', () => {
  it('carries at least 60 bits, in lower case without i, l, o, u, grouped xxxx-xxxx-xxxx', () => {
    expect(CODE_ENTROPY_BITS).toBeGreaterThanOrEqual(60);
    expect(CODE_ALPHABET).toHaveLength(32);
    expect(CODE_ALPHABET).not.toMatch(/[ilou]/);
    for (let i = 0; i < 200; i++) expect(generateCode(cryptoRandom)).toMatch(/^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$/);
  });

  it('maps each byte to one symbol (32 divides 256: no byte is rejected, no symbol favoured)', () => {
    expect(generateCode(replay([0, 1, 2, 3, 31, 32, 33, 63, 255, 224, 100, 7]))).toBe('0123-z01z-z047');
  });

  it('uses every symbol about equally often', () => {
    const counts = new Map<string, number>();
    for (const code of generateCodes(cryptoRandom, 2000)) for (const ch of code.replaceAll('-', '')) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    expect(counts.size).toBe(32);
    const expected = (2000 * 12) / 32;
    for (const count of counts.values()) expect(Math.abs(count - expected)).toBeLessThan(expected * 0.25);
  });

  it('generates the requested number of distinct codes', () => {
    expect(new Set(generateCodes(cryptoRandom, 16)).size).toBe(16);
  });
});

describe('recovery code input', () => {
  it('ignores case, spaces and dashes, and accepts Crockford substitutions (o → 0, i/l → 1)', () => {
    expect(normalizeCode('ab12-cd34-ef56')).toBe('ab12cd34ef56');
    expect(normalizeCode(' AB12 CD34 EF56 ')).toBe('ab12cd34ef56');
    expect(normalizeCode('ab12cd34ef56')).toBe('ab12cd34ef56');
    expect(normalizeCode('abl2-cdo4-eF56')).toBe('ab12cd04ef56');
    expect(normalizeCode('ab12–cd34—ef56')).toBe('ab12cd34ef56');
  });

  it('rejects what cannot be a code', () => {
    for (const bad of ['', '   ', '----', 'ab12-cd34-ef5!', 'x'.repeat(65), 'ab12\u0000cd34', 'ä'.repeat(12)]) expect(normalizeCode(bad)).toBeNull();
  });

  it('every way a person may type a generated code normalises to the same value (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 12, maxLength: 12 }), fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }), fc.constantFrom('', ' ', '-', '  '), (bytes, upper, separator) => {
        const code = generateCode(replay(bytes));
        const typed = code
          .replaceAll('-', separator)
          .split('')
          .map((ch, i) => (upper[i % 12] ? ch.toUpperCase() : ch))
          .join('');
        expect(normalizeCode(typed)).toBe(normalizeCode(code));
      }),
    );
  });
});

describe('recovery code hashing', () => {
  const secret = 'test-secret-default-0123456789';

  it('is HMAC-SHA256 under the server secret, bound to the identity', () => {
    const expected = createHmac('sha256', secret).update('kairos/lookup_secret/v1\0id-1\0ab12cd34ef56').digest('hex');
    expect(hashCode(secret, 'id-1', 'ab12cd34ef56')).toBe(expected);
    expect(hashCode(secret, 'id-2', 'ab12cd34ef56')).not.toBe(expected);
    expect(hashCode('another-secret-0123456789', 'id-1', 'ab12cd34ef56')).not.toBe(expected);
  });

  it('hashes under every listed secret, the first one first (rotation)', () => {
    const other = randomBytes(16).toString('hex');
    expect(codeHashes([secret, other], 'id', 'x')).toEqual([hashCode(secret, 'id', 'x'), hashCode(other, 'id', 'x')]);
  });
});

describe('recovery code configuration', () => {
  const secrets = { default: ['0123456789abcdef0123'], cipher: ['0123456789abcdef0123456789abcdef'] };
  const load = (methods: Record<string, unknown>) => loadConfig({ overrides: { dsn: 'memory', secrets, selfservice: { methods } }, env: {} }).config;

  it('follows TOTP by default, with 12 codes, and makes them mandatory at TOTP enrollment', () => {
    const on = load({ totp: { enabled: true } });
    expect(on.selfservice.methods.lookup_secret).toEqual({ enabled: true, config: { count: 12 } });
    expect(on.selfservice.methods.totp.config.require_recovery_codes).toBe(true);
    const off = load({});
    expect(off.selfservice.methods.lookup_secret.enabled).toBe(false);
    expect(off.selfservice.methods.totp.config.require_recovery_codes).toBe(false);
    expect(load({ totp: { enabled: true }, lookup_secret: { enabled: false } }).selfservice.methods.totp.config.require_recovery_codes).toBe(false);
    expect(load({ totp: { enabled: true, config: { require_recovery_codes: false } } }).selfservice.methods.lookup_secret.enabled).toBe(true);
  });

  it('allows 8 to 16 codes', () => {
    expect(load({ lookup_secret: { enabled: true, config: { count: 8 } } }).selfservice.methods.lookup_secret.config.count).toBe(8);
    expect(() => load({ lookup_secret: { enabled: true, config: { count: 7 } } })).toThrow(/lookup_secret\.config\.count/);
    expect(() => load({ lookup_secret: { enabled: true, config: { count: 17 } } })).toThrow(/lookup_secret\.config\.count/);
  });

  it('refuses require_recovery_codes without lookup secrets', () => {
    expect(() => load({ totp: { enabled: true, config: { require_recovery_codes: true } }, lookup_secret: { enabled: false } })).toThrow(ConfigError);
  });
});
