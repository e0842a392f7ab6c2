/**
 * Kratos's legacy import formats verify in Kairos. The vectors were computed with Python's hashlib/hmac (an
 * independent implementation), in the encodings of ory/kratos hash/hash_comparator.go.
 */
import { describe, expect, it } from 'vitest';
import { isImportedHash, verifyImportedHash } from '../../src/credentials/password/imported-hashes.js';
import { PasswordHasher } from '../../src/credentials/password/hasher.js';

const PASSWORD = 'correct horse';
const VECTORS: Record<string, string> = {
  pbkdf2: '$pbkdf2-sha256$i=1000,l=32$c2FsdHNhbHQxMjM0NTY3OA$4k505osG8KMN4wotSosGJPlhKDtLiyB61aw4ZQGUPTA',
  scrypt: '$scrypt$ln=16384,r=8,p=1$c2FsdHNhbHQxMjM0NTY3OA==$YJ9i20qJ0wilb33zBOazOJKci8MSuH/dXXJGWKxayNw=',
  ssha: '{SSHA}lkJgqukhWBLFBuXgxvQT52mgnAdzYWx0c2FsdDEyMzQ1Njc4',
  ssha512: '{SSHA512}lORy9nTbyY2x+QW2Xv3UoK5rZubbDE2O2/GQb/sJSeC7grSVGQyL57+lwaOu0wgVv+o/D7lbQWvbWqB3JBW65HNhbHRzYWx0MTIzNDU2Nzg=',
  sha256: '$sha256$pf=e1NBTFR9e1BBU1NXT1JEfQ==$c2FsdHNhbHQxMjM0NTY3OA==$VIZqCDYL/EauU0pwulmGS293m9edLUDykinmeMXjiJc=',
  md5: '$md5$PLTnMmMfR+brlh80VUt83g==',
  md5WithFormat: '$md5$pf=e1NBTFR9e1BBU1NXT1JEfQ==$c2FsdHNhbHQxMjM0NTY3OA==$gjMccHpQsnHwwaoHL2rPyA==',
  hmac: '$hmac-sha256$YWU1ZGUzYmE2MThkMmE5NDJlZmUyMGU4N2EyN2QwNWM1MGRjNjE1NmVmNjBhY2IzZjM0YWVhYzI4YzA2NmI2Mg==$aG1hY2tleQ==',
};

describe('imported password hash formats (Kratos hash_comparator)', () => {
  const hasher = new PasswordHasher({ memoryKib: 19456, iterations: 2, parallelism: 1 });
  for (const [name, hashed] of Object.entries(VECTORS)) {
    it(`${name}: the right password verifies, a wrong one does not, and login re-hashes it`, async () => {
      expect(isImportedHash(hashed)).toBe(true);
      expect(PasswordHasher.isSupportedHash(hashed)).toBe(true);
      expect(await hasher.verify(hashed, PASSWORD)).toBe(true);
      expect(await hasher.verify(hashed, PASSWORD + 'x')).toBe(false);
      expect(hasher.needsRehash(hashed)).toBe(true);
    });
  }

  it('malformed or unsupported hashes never verify and are not accepted for import', async () => {
    for (const hashed of ['$md5-crypt$abc', '$sha512-crypt$x', '$firescrypt$ln=1,r=1,p=1$a$b$c$d', '$pbkdf2-sha256$i=0,l=32$AA$AA', '{SSHA}AA==', 'plain']) {
      expect(await hasher.verify(hashed, PASSWORD)).toBe(false);
    }
    expect(PasswordHasher.isSupportedHash('$md5-crypt$abc')).toBe(false);
  });

  it('denial of service: a crafted scrypt hash with a huge cost is refused before any work', async () => {
    expect(await verifyImportedHash('$scrypt$ln=1073741824,r=8,p=1$c2FsdA==$AAAA', PASSWORD)).toBe(false);
  });
});
