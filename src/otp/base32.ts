import { Secret } from 'otpauth';

/**
 * Base32 (RFC 4648 §6) as authenticator apps use it for TOTP secrets: uppercase, no padding (the Key URI Format
 * says padding "should be omitted"). Encoding and decoding are otpauth's; this module only adds the tolerance and
 * the strictness Kairos wants around them.
 */

/** `bytes` as uppercase base32 without padding. */
export function encodeBase32(bytes: Uint8Array): string {
  return new Secret({ buffer: copyToArrayBuffer(bytes) }).base32;
}

/**
 * Decodes base32 as people and exporters write it: lowercase, spaces or other whitespace between groups, and
 * trailing `=` padding are accepted. Throws a TypeError for anything else: other characters, padding in the middle,
 * an impossible length (RFC 4648 §6: 1, 3 or 6 leftover characters cannot come from whole bytes), or nothing at all.
 * The message never quotes the input, because the input is a secret.
 */
export function decodeBase32(text: string): Uint8Array {
  const compact = text.replace(/\s+/g, '').replace(/=+$/, '').toUpperCase();
  if (compact.length === 0) throw new TypeError('base32 secret is empty');
  if (!/^[A-Z2-7]+$/.test(compact)) throw new TypeError('base32 secret contains characters outside A-Z and 2-7');
  if ([1, 3, 6].includes(compact.length % 8)) throw new TypeError('base32 secret has an impossible length');
  return new Uint8Array(Secret.fromBase32(compact).bytes);
}

/**
 * otpauth's Secret wants an ArrayBuffer; a Uint8Array may be a view into a larger (pooled) buffer, so copy exactly
 * the viewed bytes.
 */
export function copyToArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}
