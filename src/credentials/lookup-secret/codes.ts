/**
 * Recovery codes: generation, normalisation and the keyed hash they are stored as.
 *
 * - Alphabet: Crockford's Base32 in lower case (https://www.crockford.com/base32.html): digits and letters without
 *   i, l, o and u. 32 symbols, so each character carries exactly 5 bits.
 * - Length: 12 characters = 60 bits of entropy (issue 4: "at least 60 bits"), shown as three groups of four
 *   (`xxxx-xxxx-xxxx`). With a per-flow attempt cap (mfa/attempts) guessing one of 16 codes succeeds with
 *   probability about 5·16/2^60.
 * - Typing: case, spaces and dashes are ignored, and the letters Crockford maps are accepted for their digits
 *   (o → 0, i and l → 1), so a code read aloud or copied by hand still works.
 * - Storage: HMAC-SHA256 under a server secret (`secrets.default`), with the identity id in the message so equal
 *   codes of two identities hash differently. A 60-bit random code under a secret key needs no slow hash
 *   (Copenhagen Book, "Storing tokens": high-entropy tokens are hashed with SHA-256); the lookup is one index probe,
 *   so verification stays O(1) in the number of codes.
 */
import type { Random } from '../../support/random.js';
import { randomString } from '../../support/random.js';
import { keyedHash } from '../../support/crypto.js';

export const CODE_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
export const CODE_LENGTH_CHARS = 12;
export const CODE_GROUP_CHARS = 4;
/** log2(32) × 12. */
export const CODE_ENTROPY_BITS = Math.log2(CODE_ALPHABET.length) * CODE_LENGTH_CHARS;

/** Imported codes (Kratos: 8 characters of [a-z0-9]) may be shorter; anything longer than this is not a code. */
export const MAX_CODE_INPUT_CHARS = 64;

const HASH_DOMAIN = 'kairos/lookup_secret/v1';

/** A new code, formatted for display (`xxxx-xxxx-xxxx`). */
export function generateCode(random: Random): string {
  const raw = randomString(random, CODE_LENGTH_CHARS, CODE_ALPHABET);
  return raw.match(new RegExp(`.{1,${CODE_GROUP_CHARS}}`, 'g'))!.join('-');
}

export function generateCodes(random: Random, count: number): string[] {
  const codes = new Set<string>();
  while (codes.size < count) codes.add(generateCode(random));
  return [...codes];
}

/**
 * The canonical form a code is hashed in: lower case, without whitespace and dashes, Crockford's substitutions
 * applied. Returns null for input that cannot be a code (empty, too long, other characters), so a malformed
 * submission is rejected before any lookup.
 */
export function normalizeCode(input: string): string | null {
  if (input.length > MAX_CODE_INPUT_CHARS * 2) return null;
  const compact = input.toLowerCase().replace(/[\s\-‐‑‒–—_]/g, '');
  if (compact.length === 0 || compact.length > MAX_CODE_INPUT_CHARS) return null;
  const mapped = compact.replace(/o/g, '0').replace(/[il]/g, '1');
  return /^[0-9a-z]+$/.test(mapped) ? mapped : null;
}

/** The stored form of a normalised code for one identity, under one secret. */
export function hashCode(secret: string, identityId: string, normalized: string): string {
  return keyedHash(secret, `${HASH_DOMAIN}\0${identityId}\0${normalized}`);
}

/** Hashes under every listed secret: the first is used to store, all are tried on lookup (rotation). */
export function codeHashes(secrets: readonly string[], identityId: string, normalized: string): string[] {
  return secrets.map((secret) => hashCode(secret, identityId, normalized));
}
