import { describe, expect, it } from 'vitest';
import { decodeBase32, encodeBase32 } from './base32.js';

const ascii = (text: string) => new TextEncoder().encode(text);

describe('base32', () => {
  // RFC 4648 §10 test vectors, without the padding authenticators omit.
  const VECTORS: Array<[string, string]> = [
    ['f', 'MY'],
    ['fo', 'MZXQ'],
    ['foo', 'MZXW6'],
    ['foob', 'MZXW6YQ'],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI'],
  ];

  for (const [plain, encoded] of VECTORS) {
    it(`RFC 4648 §10: "${plain}" <-> ${encoded}`, () => {
      expect(encodeBase32(ascii(plain))).toBe(encoded);
      expect(decodeBase32(encoded)).toEqual(ascii(plain));
    });
  }

  it('decodes what people type: lowercase, spaces between groups, trailing padding', () => {
    expect(decodeBase32('mzxw 6ytb oi======')).toEqual(ascii('foobar'));
    expect(decodeBase32(' MZXW\t6YTB\nOI ')).toEqual(ascii('foobar'));
  });

  it('encodes a view into a larger buffer using only the viewed bytes', () => {
    const backing = ascii('xxfoobarxx');
    expect(encodeBase32(backing.subarray(2, 8))).toBe('MZXW6YTBOI');
  });

  it('rejects other characters, inner padding, impossible lengths and empty input', () => {
    expect(() => decodeBase32('MZXW6YTB0I')).toThrow(TypeError); // zero is not base32
    expect(() => decodeBase32('MZ=XW6YTBOI')).toThrow(TypeError);
    expect(() => decodeBase32('MZXW6YTBO')).toThrow(TypeError); // 9 chars: 1 leftover
    expect(() => decodeBase32(' = ')).toThrow(TypeError);
  });

  it('secret disclosure: an error never quotes the secret', () => {
    const secretWithTypo = 'JBSWY3DPEHPK3PX1';
    try {
      decodeBase32(secretWithTypo);
      expect.unreachable();
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('1');
      expect(String((error as Error).message)).not.toContain('JBSW');
    }
  });
});
