/**
 * Verification of the legacy password hash formats Kratos imports (ory/kratos `hash/hash_comparator.go`), so that
 * identities imported from Kratos (or from what Kratos imported) keep their passwords. Only verification: a login
 * that succeeds against one of these re-hashes the password with the configured argon2id (`needsRehash`).
 *
 * Formats (Kratos's PHC-like encodings; digests are compared in constant time with `timingSafeEqual`):
 * - `$pbkdf2-sha1|sha224|sha256|sha384|sha512$i=<iterations>,l=<key length>$<salt b64 raw>$<key b64 raw>`
 * - `$scrypt$ln=<N>,r=<r>,p=<p>$<salt b64>$<key b64>` (Kratos passes `ln` to scrypt as N itself, not as log2 N)
 * - `{SSHA}`, `{SSHA256}`, `{SSHA512}` + base64(digest ‖ salt) (LDAP salted SHA)
 * - `$sha1|sha256|sha512$pf=<b64 format>$<salt b64>$<digest b64>`: digest of the format with `{SALT}`/`{PASSWORD}`
 * - `$md5$<digest b64>` and `$md5$pf=<b64 format>$<salt b64>$<digest b64>`
 * - `$hmac-md5|sha1|sha224|sha256|sha384|sha512$<hex digest b64>$<key b64>`
 *
 * Not verified (refused at import, so no identity is imported with a password it can never use): md5-crypt,
 * sha256-crypt, sha512-crypt, Firebase scrypt and HMAC-MD4 (MD4 is not in OpenSSL 3's default provider).
 */
import { createHash, createHmac, pbkdf2, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);
const scryptAsync = promisify<string, Buffer, number, ScryptOptions, Buffer>(scrypt);

/** Kratos's floor for imported PBKDF2 (`validatePbkdf2Params`): fewer iterations are refused. */
const PBKDF2_MIN_ITERATIONS = 1;
/** Upper bounds so a crafted hash cannot make one login burn minutes of CPU or gigabytes of memory. */
const PBKDF2_MAX_ITERATIONS = 10_000_000;
const SCRYPT_MAX_MEMORY_BYTES = 1024 * 1024 * 1024;

const PBKDF2 = /^\$pbkdf2-(sha1|sha224|sha256|sha384|sha512)\$i=(\d+),l=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;
const SCRYPT = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;
const SSHA = /^\{(SSHA|SSHA256|SSHA512)\}([A-Za-z0-9+/=]+)$/;
const SHA = /^\$(sha1|sha256|sha512)\$pf=([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]*)\$([A-Za-z0-9+/=]+)$/;
const MD5_PLAIN = /^\$md5\$([A-Za-z0-9+/=]+)$/;
const MD5_FORMAT = /^\$md5\$pf=([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]*)\$([A-Za-z0-9+/=]+)$/;
const HMAC = /^\$hmac-(md5|sha1|sha224|sha256|sha384|sha512)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

/** Digest sizes of the SSHA variants (bytes before the salt), from Kratos's `decodeSSHAHash`. */
const SSHA_DIGEST_BYTES = { SSHA: 20, SSHA256: 32, SSHA512: 64 } as const;
const SSHA_ALGORITHM = { SSHA: 'sha1', SSHA256: 'sha256', SSHA512: 'sha512' } as const;

const b64 = (s: string) => Buffer.from(s, 'base64');

function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `{SALT}` and `{PASSWORD}` substituted in a salting format, as Kratos's `strings.NewReplacer` does (one pass). */
function applyFormat(format: string, salt: string, password: string): Buffer {
  return Buffer.from(format.replace(/\{SALT\}|\{PASSWORD\}/g, (token) => (token === '{SALT}' ? salt : password)), 'utf8');
}

export function isImportedHash(hashed: string): boolean {
  return [PBKDF2, SCRYPT, SSHA, SHA, MD5_PLAIN, MD5_FORMAT, HMAC].some((re) => re.test(hashed));
}

/**
 * Whether `password` matches a hash in one of the formats above; false for anything else or malformed. PBKDF2 and
 * scrypt run on libuv's thread pool, so a legacy login does not block the event loop.
 */
export async function verifyImportedHash(hashed: string, password: string): Promise<boolean> {
  let m: RegExpExecArray | null;
  if ((m = PBKDF2.exec(hashed))) {
    const iterations = Number(m[2]);
    if (iterations < PBKDF2_MIN_ITERATIONS || iterations > PBKDF2_MAX_ITERATIONS) return false;
    const expected = b64(m[5]!);
    return equal(await pbkdf2Async(password, b64(m[4]!), iterations, expected.length, m[1]!), expected);
  }
  if ((m = SCRYPT.exec(hashed))) {
    const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const memoryBytes = 128 * N * r;
    if (memoryBytes > SCRYPT_MAX_MEMORY_BYTES) return false;
    const expected = b64(m[5]!);
    return equal(await scryptAsync(password, b64(m[4]!), expected.length, { N, r, p, maxmem: memoryBytes * 2 + 1024 * 1024 }), expected);
  }
  if ((m = SSHA.exec(hashed))) {
    const variant = m[1] as keyof typeof SSHA_DIGEST_BYTES;
    const decoded = b64(m[2]!);
    const digestBytes = SSHA_DIGEST_BYTES[variant];
    if (decoded.length <= digestBytes) return false;
    const salt = decoded.subarray(digestBytes);
    const actual = createHash(SSHA_ALGORITHM[variant]).update(Buffer.concat([Buffer.from(password, 'utf8'), salt])).digest();
    return equal(actual, decoded.subarray(0, digestBytes));
  }
  if ((m = SHA.exec(hashed))) {
    const raw = applyFormat(b64(m[2]!).toString('utf8'), b64(m[3]!).toString('utf8'), password);
    return equal(createHash(m[1]!).update(raw).digest(), b64(m[4]!));
  }
  if ((m = MD5_PLAIN.exec(hashed))) return equal(createHash('md5').update(password, 'utf8').digest(), b64(m[1]!));
  if ((m = MD5_FORMAT.exec(hashed))) {
    const raw = applyFormat(b64(m[1]!).toString('utf8'), b64(m[2]!).toString('utf8'), password);
    return equal(createHash('md5').update(raw).digest(), b64(m[3]!));
  }
  if ((m = HMAC.exec(hashed))) {
    // Kratos compares the hex encoding of the MAC with the base64-decoded stored value.
    const actual = Buffer.from(createHmac(m[1]!, b64(m[3]!)).update(password, 'utf8').digest('hex'), 'utf8');
    return equal(actual, b64(m[2]!));
  }
  return false;
}
