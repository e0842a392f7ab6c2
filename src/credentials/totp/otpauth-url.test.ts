import { describe, expect, it } from 'vitest';
import { decodeBase32 } from '../../otp/base32.js';
import { buildOtpauthUrl, parseOtpauthUrl } from './otpauth-url.js';
import type { TotpParameters } from '../../otp/totp-parameters.js';

const SECRET_BASE32 = 'JBSWY3DPEHPK3PXP';
const SECRET = decodeBase32(SECRET_BASE32);
const DEFAULTS: TotpParameters = { algorithm: 'SHA1', digits: 6, periodSeconds: 30 };

describe('buildOtpauthUrl', () => {
  it('writes issuer in label and query, secret, algorithm, digits and period', () => {
    const url = buildOtpauthUrl({
      issuer: 'Kairos',
      accountName: 'alice@example.com',
      secret: SECRET,
      parameters: { algorithm: 'SHA256', digits: 8, periodSeconds: 60 },
    });
    expect(url).toBe(
      `otpauth://totp/Kairos:alice%40example.com?issuer=Kairos&secret=${SECRET_BASE32}&algorithm=SHA256&digits=8&period=60`,
    );
  });

  it('percent-encodes names: space is %20 (never +), and non-ASCII, + @ & # ? : are escaped', () => {
    const url = buildOtpauthUrl({ issuer: 'Kairos Café', accountName: 'alice+1@example.com', secret: SECRET, parameters: DEFAULTS });
    expect(url.startsWith('otpauth://totp/Kairos%20Caf%C3%A9:alice%2B1%40example.com?issuer=Kairos%20Caf%C3%A9&')).toBe(true);
    const tricky = buildOtpauthUrl({ issuer: 'A:B & C', accountName: 'x#y?z', secret: SECRET, parameters: DEFAULTS });
    const label = tricky.slice('otpauth://totp/'.length, tricky.indexOf('?'));
    expect(label).toBe('A%3AB%20%26%20C:x%23y%3Fz');
    expect(tricky).not.toContain('+');
  });

  it('leaves the issuer out when it is empty', () => {
    const url = buildOtpauthUrl({ issuer: '', accountName: 'alice', secret: SECRET, parameters: DEFAULTS });
    expect(url).toBe(`otpauth://totp/alice?secret=${SECRET_BASE32}&algorithm=SHA1&digits=6&period=30`);
  });

  it('misuse throws: empty account name, empty secret, unsupported digits', () => {
    expect(() => buildOtpauthUrl({ issuer: 'K', accountName: '', secret: SECRET, parameters: DEFAULTS })).toThrow(TypeError);
    expect(() => buildOtpauthUrl({ issuer: 'K', accountName: 'a', secret: new Uint8Array(), parameters: DEFAULTS })).toThrow(TypeError);
    expect(() =>
      buildOtpauthUrl({ issuer: 'K', accountName: 'a', secret: SECRET, parameters: { ...DEFAULTS, digits: 7 as 6 } }),
    ).toThrow(TypeError);
  });
});

describe('parseOtpauthUrl', () => {
  const parse = (query: string, label = 'Kairos:alice') => parseOtpauthUrl(`otpauth://totp/${label}?${query}`);

  it('round-trips names with colons, spaces, non-ASCII and URL metacharacters', () => {
    for (const [issuer, accountName] of [
      ['A:B & C', 'x#y?z'],
      ['Kairos Café', 'alice+1@example.com'],
      ['東京', 'ユーザー:1'],
      ['100% sure', 'a=b&c=d'],
    ] as const) {
      const url = buildOtpauthUrl({ issuer, accountName, secret: SECRET, parameters: DEFAULTS });
      expect(parseOtpauthUrl(url)).toEqual({ issuer, accountName, secret: SECRET, parameters: DEFAULTS });
    }
  });

  it('defaults missing algorithm, digits and period to SHA1, 6, 30', () => {
    expect(parse(`secret=${SECRET_BASE32}`).parameters).toEqual(DEFAULTS);
  });

  it('reads the issuer from the label alone, the query alone, or the query when both are present', () => {
    expect(parse(`secret=${SECRET_BASE32}`).issuer).toBe('Kairos');
    expect(parse(`secret=${SECRET_BASE32}&issuer=Acme`, 'alice').issuer).toBe('Acme');
    expect(parse(`secret=${SECRET_BASE32}&issuer=Acme%20Inc`, 'Acme:alice').issuer).toBe('Acme Inc');
    expect(parse(`secret=${SECRET_BASE32}`, 'alice')).toMatchObject({ issuer: null, accountName: 'alice' });
  });

  it('accepts an encoded colon separator and spaces before the account name', () => {
    expect(parse(`secret=${SECRET_BASE32}`, 'Acme%3Aalice')).toMatchObject({ issuer: 'Acme', accountName: 'alice' });
    expect(parse(`secret=${SECRET_BASE32}`, 'Acme:%20%20alice')).toMatchObject({ issuer: 'Acme', accountName: 'alice' });
  });

  it('accepts exporter variations: lowercase or padded secret, SHA-256 spelling, unknown parameters, a fragment', () => {
    const parsed = parse(`SECRET=${SECRET_BASE32.toLowerCase()}%3D%3D&Algorithm=sha-256&digits=8&period=60&image=x#frag`);
    expect(parsed.secret).toEqual(SECRET);
    expect(parsed.parameters).toEqual({ algorithm: 'SHA256', digits: 8, periodSeconds: 60 });
  });

  it('keeps + literally (RFC 3986, not form encoding)', () => {
    expect(parse(`secret=${SECRET_BASE32}`, 'Acme:alice+1@example.com').accountName).toBe('alice+1@example.com');
  });

  it.each([
    ['an HOTP URL', `otpauth://hotp/Acme:alice?secret=${SECRET_BASE32}&counter=0`],
    ['another scheme', `https://example.com/?secret=${SECRET_BASE32}`],
    ['garbage', 'not a url'],
    ['no query', 'otpauth://totp/Acme:alice'],
    ['no secret', 'otpauth://totp/Acme:alice?issuer=Acme'],
    ['an invalid secret', 'otpauth://totp/Acme:alice?secret=not*base32'],
    ['an unsupported algorithm', `otpauth://totp/Acme:alice?secret=${SECRET_BASE32}&algorithm=MD5`],
    ['7 digits', `otpauth://totp/Acme:alice?secret=${SECRET_BASE32}&digits=7`],
    ['period 0', `otpauth://totp/Acme:alice?secret=${SECRET_BASE32}&period=0`],
    ['a fractional period', `otpauth://totp/Acme:alice?secret=${SECRET_BASE32}&period=30.5`],
    ['a repeated secret', `otpauth://totp/Acme:alice?secret=${SECRET_BASE32}&secret=GEZDGNBV`],
    ['broken percent-encoding', `otpauth://totp/Acme%E0%A4%A:alice?secret=${SECRET_BASE32}`],
  ])('rejects %s with a TypeError', (_, url) => {
    expect(() => parseOtpauthUrl(url)).toThrow(TypeError);
  });

  it('secret disclosure: errors never quote the URL or its secret', () => {
    const url = `otpauth://totp/Acme:alice?secret=${SECRET_BASE32}&algorithm=MD5`;
    expect(() => parseOtpauthUrl(url)).toThrow(expect.objectContaining({ message: expect.not.stringContaining(SECRET_BASE32) }));
    expect(() => parseOtpauthUrl('otpauth://totp/Acme:alice?secret=JBSWY3DPEHPK3PX1')).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('JBSW') }),
    );
  });
});
