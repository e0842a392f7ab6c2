import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Random } from '../support/random.js';
import { SecretCipher, SecretCipherError } from './secret-cipher.js';

const OLD_SECRET = 'old-cipher-secret-0123456789abcdef';
const NEW_SECRET = 'new-cipher-secret-0123456789abcdef';
const ROW_ID = '7f7c1c52-2f5e-4d6b-9a43-2b1f5e0f3a10';
const OTHER_ROW_ID = 'c0a8012e-8d7e-4c1f-b2a4-53d8f1f2e9b7';
const PLAINTEXT = new TextEncoder().encode('totp secret: JBSWY3DPEHPK3PXP');

/** Deterministic but never-repeating bytes, so tests are reproducible. */
function countingRandom(): Random {
  let counter = 0;
  return {
    bytes: (length) => new Uint8Array(createHash('sha512').update(String(counter++)).digest().subarray(0, length)),
    uuid: () => '00000000-0000-4000-8000-000000000000',
  };
}

const cipherWith = (...secrets: string[]) => new SecretCipher(secrets, countingRandom());

/** Replaces one base64url part of the token, keeping the rest. */
function withPart(token: string, index: number, transform: (bytes: Buffer) => Buffer): string {
  const parts = token.split('.');
  parts[index] = transform(Buffer.from(parts[index]!, 'base64url')).toString('base64url');
  return parts.join('.');
}
const flipFirstBit = (bytes: Buffer) => {
  const copy = Buffer.from(bytes);
  copy[0]! ^= 1;
  return copy;
};

describe('SecretCipher', () => {
  it('round-trips and produces a v1.<keyId>.<iv>.<ciphertext>.<tag> token', () => {
    const cipher = cipherWith(NEW_SECRET);
    const token = cipher.encrypt(PLAINTEXT, ROW_ID);
    expect(token).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(token.split('.')[1]).toBe(cipher.primaryKeyId);
    expect(cipher.decrypt(token, ROW_ID)).toEqual(PLAINTEXT);
  });

  it('never repeats an IV: encrypting the same secret twice gives different tokens', () => {
    const cipher = cipherWith(NEW_SECRET);
    expect(cipher.encrypt(PLAINTEXT, ROW_ID)).not.toBe(cipher.encrypt(PLAINTEXT, ROW_ID));
  });

  it('secret disclosure: the plaintext (raw, base64url, hex) never appears in the token', () => {
    const token = cipherWith(NEW_SECRET).encrypt(PLAINTEXT, ROW_ID);
    const plain = Buffer.from(PLAINTEXT);
    for (const form of [plain.toString('utf8'), 'JBSWY3DPEHPK3PXP', plain.toString('base64url'), plain.toString('hex')]) {
      expect(token).not.toContain(form);
    }
  });

  it('ciphertext moved to another credential row: decryption with a different AAD fails', () => {
    const cipher = cipherWith(NEW_SECRET);
    const token = cipher.encrypt(PLAINTEXT, ROW_ID);
    expect(() => cipher.decrypt(token, OTHER_ROW_ID)).toThrow(SecretCipherError);
  });

  it('tampering: a changed ciphertext, tag, IV, key id or version fails', () => {
    const cipher = cipherWith(NEW_SECRET);
    const token = cipher.encrypt(PLAINTEXT, ROW_ID);
    const tampered = [
      withPart(token, 3, flipFirstBit),
      withPart(token, 4, flipFirstBit),
      withPart(token, 2, flipFirstBit),
      withPart(token, 1, flipFirstBit),
      token.replace(/^v1\./, 'v2.'),
      withPart(token, 4, (tag) => tag.subarray(0, 12)), // truncated tag: GCM must not accept short tags
      token.split('.').slice(0, 4).join('.'),
      `${token}x`,
      '',
    ];
    for (const candidate of tampered) {
      expect(() => cipher.decrypt(candidate, ROW_ID)).toThrow(SecretCipherError);
    }
  });

  it('secret disclosure: a decryption failure says nothing specific', () => {
    const cipher = cipherWith(NEW_SECRET);
    const token = cipher.encrypt(PLAINTEXT, ROW_ID);
    try {
      cipher.decrypt(token, OTHER_ROW_ID);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(SecretCipherError);
      expect((error as Error).message).toBe('secret could not be decrypted');
      expect((error as Error).cause).toBeUndefined();
    }
  });

  it('key rotation: old tokens decrypt with [new, old] and are reported until re-encrypted', () => {
    const before = cipherWith(OLD_SECRET);
    const oldToken = before.encrypt(PLAINTEXT, ROW_ID);
    expect(before.isEncryptedWithPrimary(oldToken)).toBe(true);

    const rotated = cipherWith(NEW_SECRET, OLD_SECRET);
    expect(rotated.primaryKeyId).not.toBe(before.primaryKeyId);
    expect(rotated.decrypt(oldToken, ROW_ID)).toEqual(PLAINTEXT);
    expect(rotated.isEncryptedWithPrimary(oldToken)).toBe(false);

    const reEncrypted = rotated.encrypt(rotated.decrypt(oldToken, ROW_ID), ROW_ID);
    expect(rotated.isEncryptedWithPrimary(reEncrypted)).toBe(true);
    expect(cipherWith(NEW_SECRET).decrypt(reEncrypted, ROW_ID)).toEqual(PLAINTEXT);
  });

  it('a removed key no longer decrypts its tokens', () => {
    const oldToken = cipherWith(OLD_SECRET).encrypt(PLAINTEXT, ROW_ID);
    expect(() => cipherWith(NEW_SECRET).decrypt(oldToken, ROW_ID)).toThrow(SecretCipherError);
  });

  it('key ids are stable fingerprints and do not contain the secret', () => {
    expect(cipherWith(NEW_SECRET).primaryKeyId).toBe(cipherWith(NEW_SECRET, OLD_SECRET).primaryKeyId);
    expect(NEW_SECRET).not.toContain(cipherWith(NEW_SECRET).primaryKeyId);
  });

  it('isEncryptedWithPrimary is false for anything that is not a v1 token', () => {
    const cipher = cipherWith(NEW_SECRET);
    expect(cipher.isEncryptedWithPrimary('otpauth://totp/x?secret=JBSWY3DPEHPK3PXP')).toBe(false);
    expect(cipher.isEncryptedWithPrimary('')).toBe(false);
  });

  it('misuse throws a TypeError naming the problem: no secrets, a short secret, an empty AAD', () => {
    expect(() => cipherWith()).toThrow(/at least one secret/);
    const shortSecret = 'too-short-secret';
    expect(() => cipherWith(NEW_SECRET, shortSecret)).toThrow(/secrets\.cipher\[1\] must be a string of at least 32 characters/);
    expect(() => cipherWith(shortSecret)).toThrow(expect.objectContaining({ message: expect.not.stringContaining(shortSecret) }));
    expect(() => cipherWith(NEW_SECRET).encrypt(PLAINTEXT, '')).toThrow(TypeError);
  });

  it('accepts exactly 32 characters, counted as characters (Kratos requires 32)', () => {
    expect(() => cipherWith('a'.repeat(32))).not.toThrow();
    expect(() => cipherWith('a'.repeat(31))).toThrow(TypeError);
    expect(() => cipherWith('é'.repeat(31))).toThrow(TypeError); // 62 bytes but 31 characters
  });

  it('round-trips an empty and a 64-byte plaintext', () => {
    const cipher = cipherWith(NEW_SECRET);
    for (const plaintext of [new Uint8Array(), new Uint8Array(64).fill(0xab)]) {
      expect(cipher.decrypt(cipher.encrypt(plaintext, ROW_ID), ROW_ID)).toEqual(plaintext);
    }
  });
});
