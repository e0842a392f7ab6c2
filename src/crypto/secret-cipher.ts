import { createCipheriv, createDecipheriv, createHash, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import type { Random } from '../support/random.js';

/**
 * Encryption of secrets at rest (TOTP secrets) with the keys from `secrets.cipher`.
 *
 * - AES-256-GCM with a 96-bit random IV (NIST SP 800-38D §8.2.2; random IVs are safe for up to 2^32 encryptions per
 *   key, far beyond the number of credentials) and the full 128-bit tag.
 * - The caller's additional data (the credential row id) is authenticated, so a ciphertext copied into another row
 *   does not decrypt there. The token header (version and key id) is authenticated too.
 * - The first secret encrypts, every secret decrypts: rotation is "prepend the new secret, run
 *   `kairos secrets rotate`, later drop the old one".
 * - Token: `v1.<keyId>.<iv>.<ciphertext>.<tag>`, base64url without padding. The key id is a fingerprint of the
 *   derived key, so decryption goes straight to the right key and the id reveals nothing about the secret.
 */

/** Kratos's config schema requires `secrets.cipher` entries of 32 characters; Kairos accepts 32 or more. */
export const MIN_CIPHER_SECRET_LENGTH = 32;

const TOKEN_VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_ID_BYTES = 6;
/** HKDF (RFC 5869) turns a configured string of any length into a uniform AES key; salt and info are Kairos's own. */
const HKDF_SALT = 'kairos/secret-cipher/v1';
const HKDF_INFO = 'kairos aes-256-gcm key for secrets at rest';
const KEY_ID_DOMAIN = 'kairos/secret-cipher/key-id/v1\0';
/** Domain of `deriveBytes` outputs: never equal to the AES key's own HKDF info. */
const DERIVE_INFO_PREFIX = 'kairos/secret-cipher/derive/v1\0';
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** A token could not be decrypted: malformed, unknown key, wrong additional data, or tampered. Deliberately vague. */
export class SecretCipherError extends Error {
  override readonly name = 'SecretCipherError';
  constructor() {
    super('secret could not be decrypted');
  }
}

interface CipherKey {
  id: string;
  key: KeyObject;
}

export class SecretCipher {
  private readonly primary: CipherKey;
  private readonly keysById = new Map<string, CipherKey[]>();
  /** Every distinct key, primary first. */
  private readonly keys: CipherKey[] = [];

  /**
   * @param secrets `secrets.cipher` in order: the first encrypts, all decrypt.
   * @param random source of IVs.
   */
  constructor(
    secrets: readonly string[],
    private readonly random: Random,
  ) {
    if (!Array.isArray(secrets) || secrets.length === 0) throw new TypeError('secrets.cipher must list at least one secret');
    const keys = secrets.map((secret, index) => {
      if (typeof secret !== 'string' || [...secret].length < MIN_CIPHER_SECRET_LENGTH) {
        throw new TypeError(`secrets.cipher[${index}] must be a string of at least ${MIN_CIPHER_SECRET_LENGTH} characters`);
      }
      return deriveKey(secret);
    });
    this.primary = keys[0]!;
    for (const key of keys) {
      const sameId = this.keysById.get(key.id) ?? [];
      // Two secrets with the same fingerprint are (all but certainly) the same secret listed twice.
      if (!sameId.some((known) => known.key.equals(key.key))) {
        sameId.push(key);
        this.keys.push(key);
      }
      this.keysById.set(key.id, sameId);
    }
  }

  /** The key id new tokens carry (not secret; useful in `kairos secrets rotate` output). */
  get primaryKeyId(): string {
    return this.primary.id;
  }

  /** Encrypts with the primary key, binding the token to `aad` (the credential row id). */
  encrypt(plaintext: Uint8Array, aad: string): string {
    assertAad(aad);
    const iv = this.random.bytes(IV_BYTES);
    if (iv.length !== IV_BYTES) throw new TypeError(`Random returned ${iv.length} bytes for an IV, expected ${IV_BYTES}`);
    const cipher = createCipheriv('aes-256-gcm', this.primary.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(additionalData(this.primary.id, aad));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [TOKEN_VERSION, this.primary.id, b64(iv), b64(ciphertext), b64(tag)].join('.');
  }

  /** Decrypts a token made by any configured key for the same `aad`; throws SecretCipherError otherwise. */
  decrypt(token: string, aad: string): Uint8Array {
    assertAad(aad);
    const parts = parseToken(token);
    if (parts === null) throw new SecretCipherError();
    for (const candidate of this.keysById.get(parts.keyId) ?? []) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', candidate.key, parts.iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(additionalData(parts.keyId, aad));
        decipher.setAuthTag(parts.tag);
        return new Uint8Array(Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]));
      } catch {
        // Authentication failed with this key; a fingerprint collision is the only reason to try another.
      }
    }
    throw new SecretCipherError();
  }

  /**
   * Key material for a secret that is computed instead of stored (a TOTP enrollment offer: settings show a secret
   * that exists nowhere until the person confirms it): HKDF-SHA256 (RFC 5869) over each configured key, with
   * `salt` (a per-use random nonce, kept server-side) and `info` (the purpose and what the secret is bound to).
   * One result per key, the primary key's first: the primary derives what is shown, the others let a secret shown
   * before a key rotation still be confirmed after it.
   */
  deriveBytes(info: string, salt: Uint8Array, length: number): Uint8Array[] {
    if (typeof info !== 'string' || info.length === 0) throw new TypeError('info must be a non-empty string');
    if (!(salt instanceof Uint8Array) || salt.length < 16) throw new TypeError('salt must be at least 16 bytes');
    if (!Number.isSafeInteger(length) || length < 1 || length > 255 * 32) throw new TypeError('length must be 1..8160 bytes');
    return this.keys.map((k) => new Uint8Array(hkdfSync('sha256', k.key, salt, `${DERIVE_INFO_PREFIX}${info}`, length)));
  }

  /** Whether the token names the primary key (header only, not authenticated): false means "re-encrypt me". */
  isEncryptedWithPrimary(token: string): boolean {
    return parseToken(token)?.keyId === this.primary.id;
  }
}

function deriveKey(secret: string): CipherKey {
  const keyBytes = Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), HKDF_SALT, HKDF_INFO, KEY_BYTES));
  const id = createHash('sha256').update(KEY_ID_DOMAIN).update(keyBytes).digest().subarray(0, KEY_ID_BYTES);
  return { id: b64(id), key: createSecretKey(keyBytes) };
}

function additionalData(keyId: string, aad: string): Buffer {
  return Buffer.from(`${TOKEN_VERSION}.${keyId}.${aad}`, 'utf8');
}

function assertAad(aad: string): void {
  if (typeof aad !== 'string' || aad.length === 0) {
    throw new TypeError('additional authenticated data (the credential id) must be a non-empty string');
  }
}

function parseToken(token: string): { keyId: string; iv: Buffer; ciphertext: Buffer; tag: Buffer } | null {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length !== 5 || parts[0] !== TOKEN_VERSION) return null;
  const [, keyId, ivText, ciphertextText, tagText] = parts as [string, string, string, string, string];
  const iv = strictBase64url(ivText);
  const ciphertext = strictBase64url(ciphertextText);
  const tag = strictBase64url(tagText);
  if (keyId === '' || iv?.length !== IV_BYTES || ciphertext === null || tag?.length !== TAG_BYTES) return null;
  return { keyId, iv, ciphertext, tag };
}

/** Node's base64url decoder skips junk characters; accept only the canonical encoding. */
function strictBase64url(text: string): Buffer | null {
  if (!BASE64URL.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  return b64(bytes) === text ? bytes : null;
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}
