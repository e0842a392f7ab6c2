import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';

/** `Algorithm.Argon2id` of @node-rs/argon2 (a const enum, which isolated modules cannot import). */
const ARGON2ID = 2;
import bcrypt from 'bcryptjs';
import { isImportedHash, verifyImportedHash } from './imported-hashes.js';

export interface Argon2Parameters {
  memoryKib: number;
  iterations: number;
  parallelism: number;
}

/**
 * argon2id with parameters from config (OWASP Password Storage Cheat Sheet minimum by default: m=19 MiB, t=2, p=1).
 * Verifies imported argon2 (any variant), bcrypt and Kratos's other import formats (imported-hashes.ts) too, so identities can move over from other systems;
 * `needsRehash` tells the login to upgrade such hashes to the configured argon2id.
 */
export class PasswordHasher {
  private dummyHash: Promise<string> | null = null;

  constructor(private readonly parameters: Argon2Parameters) {}

  hash(password: string): Promise<string> {
    return argon2Hash(password, {
      algorithm: ARGON2ID,
      memoryCost: this.parameters.memoryKib,
      timeCost: this.parameters.iterations,
      parallelism: this.parameters.parallelism,
    });
  }

  static isSupportedHash(hashed: string): boolean {
    return /^\$argon2(id|i|d)\$/.test(hashed) || /^\$2[aby]\$\d{2}\$/.test(hashed) || isImportedHash(hashed);
  }

  async verify(hashed: string, password: string): Promise<boolean> {
    try {
      if (hashed.startsWith('$argon2')) return await argon2Verify(hashed, password);
      if (/^\$2[aby]\$/.test(hashed)) return await bcrypt.compare(password, hashed);
      if (isImportedHash(hashed)) return await verifyImportedHash(hashed, password);
    } catch {
      return false;
    }
    return false;
  }

  /** Spends the same time as a real verification, for identifiers that do not exist (no account enumeration). */
  async dummyVerify(password: string): Promise<void> {
    this.dummyHash ??= this.hash('kairos-dummy-password-for-timing');
    await argon2Verify(await this.dummyHash, password).catch(() => false);
  }

  needsRehash(hashed: string): boolean {
    if (!hashed.startsWith('$argon2id$')) return true;
    const m = /\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(hashed);
    if (!m) return true;
    return Number(m[1]) !== this.parameters.memoryKib || Number(m[2]) !== this.parameters.iterations || Number(m[3]) !== this.parameters.parallelism;
  }
}
