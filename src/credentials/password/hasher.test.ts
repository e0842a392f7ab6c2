import { describe, expect, it } from 'vitest';
import { PasswordHasher, PasswordTooLongForBcryptError } from './hasher.js';
import { checkPassword } from './policy.js';

const argon2 = { memoryKib: 1024, iterations: 1, parallelism: 1 };

describe('hashers.algorithm', () => {
  it('bcrypt: new hashes are bcrypt with the configured cost, and verify', async () => {
    const hasher = new PasswordHasher({ ...argon2, algorithm: 'bcrypt', bcryptCost: 4 });
    const hashed = await hasher.hash('correct horse battery');
    expect(hashed).toMatch(/^\$2[aby]\$04\$/);
    expect(await hasher.verify(hashed, 'correct horse battery')).toBe(true);
    expect(await hasher.verify(hashed, 'wrong horse battery')).toBe(false);
    expect(hasher.needsRehash(hashed)).toBe(false);
  });

  it('switching algorithms re-hashes at the next login, in both directions and on a cost change', async () => {
    const bcrypt = new PasswordHasher({ ...argon2, algorithm: 'bcrypt', bcryptCost: 4 });
    const argon = new PasswordHasher({ ...argon2, algorithm: 'argon2' });
    const fromArgon = await argon.hash('pw-pw-pw-pw');
    const fromBcrypt = await bcrypt.hash('pw-pw-pw-pw');
    expect(bcrypt.needsRehash(fromArgon)).toBe(true);
    expect(argon.needsRehash(fromBcrypt)).toBe(true);
    expect(new PasswordHasher({ ...argon2, algorithm: 'bcrypt', bcryptCost: 5 }).needsRehash(fromBcrypt)).toBe(true);
    expect(await bcrypt.verify(fromArgon, 'pw-pw-pw-pw')).toBe(true);
  });

  it('truncation: bcrypt never hashes a password over 72 bytes (its tail would be ignored); the policy refuses it first', async () => {
    const hasher = new PasswordHasher({ ...argon2, algorithm: 'bcrypt', bcryptCost: 4 });
    const long = 'ä'.repeat(40); // 40 characters, 80 bytes
    await expect(hasher.hash(long)).rejects.toBeInstanceOf(PasswordTooLongForBcryptError);
    expect(checkPassword(long, [], { minLength: 8, maxLength: 1024, maxBytes: 72, identifierSimilarityCheck: false })?.id).toBe(4000033);
    expect(checkPassword(long, [], { minLength: 8, maxLength: 1024, identifierSimilarityCheck: false })).toBeNull();
    // An argon2 hash of such a password (from before the switch to bcrypt) is kept: it still verifies.
    const argonHash = await new PasswordHasher(argon2).hash(long);
    expect(hasher.needsRehash(argonHash, long)).toBe(false);
    expect(hasher.needsRehash(argonHash, 'short enough')).toBe(true);
  });
});

describe('password hashing concurrency', () => {
  it('a burst of sign-ins never holds more argon2id hashes in memory than the limit, and every one is answered', async () => {
    const hasher = new PasswordHasher(argon2, 2);
    const stored = await hasher.hash('correct horse battery');
    let maxRunning = 0;
    let sampling = true;
    const sample = () => {
      maxRunning = Math.max(maxRunning, hasher.load.running);
      if (sampling) setImmediate(sample);
    };
    sample();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => hasher.verify(stored, i % 2 ? 'correct horse battery' : 'wrong')));
    sampling = false;
    expect(results).toEqual([false, true, false, true, false, true, false, true]);
    expect(maxRunning).toBe(2);
    expect(hasher.load).toEqual({ running: 0, waiting: 0 });
  });
});
