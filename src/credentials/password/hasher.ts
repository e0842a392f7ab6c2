import { availableParallelism } from 'node:os';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import pLimit, { type LimitFunction } from 'p-limit';
import { isImportedHash, verifyImportedHash } from './imported-hashes.js';

/** `Algorithm.Argon2id` of @node-rs/argon2 (a const enum, which isolated modules cannot import). */
const ARGON2ID = 2;

/** bcrypt reads at most 72 bytes of a password (the rest is silently ignored); Kratos refuses longer ones. */
export const BCRYPT_MAX_PASSWORD_BYTES = 72;

export interface Argon2Parameters {
  memoryKib: number;
  iterations: number;
  parallelism: number;
  /** `hashers.algorithm`: what new hashes use (default argon2id). */
  algorithm?: 'argon2' | 'bcrypt';
  /** `hashers.bcrypt.cost` when the algorithm is bcrypt. */
  bcryptCost?: number;
}

/**
 * argon2id with parameters from config (OWASP Password Storage Cheat Sheet minimum by default: m=19 MiB, t=2, p=1).
 * Verifies imported argon2 (any variant), bcrypt and Kratos's other import formats (imported-hashes.ts) too, so identities can move over from other systems;
 * `needsRehash` tells the login to upgrade such hashes to the configured argon2id.
 */
export class PasswordHasher {
  private dummyHash: Promise<string> | null = null;
  /**
   * Hashes and verifications in flight at once: one per core (`os.availableParallelism()`). Each argon2id call holds
   * its `memoryKib` (19 MiB by default) on a libuv thread, and libuv runs four; on a two-core machine the extra two
   * add no throughput (the work is CPU-bound) but 38 MiB of peak memory, and they hold the thread pool that file and
   * DNS work also need. The others wait their turn in order.
   */
  private readonly inFlight: LimitFunction;

  constructor(
    private readonly parameters: Argon2Parameters,
    concurrency: number = availableParallelism(),
  ) {
    this.inFlight = pLimit(Math.max(1, concurrency));
  }

  /** Hashes and verifications running now (at most the concurrency) and waiting for a turn. */
  get load(): { running: number; waiting: number } {
    return { running: this.inFlight.activeCount, waiting: this.inFlight.pendingCount };
  }

  hash(password: string): Promise<string> {
    return this.inFlight(() => this.hashNow(password));
  }

  private hashNow(password: string): Promise<string> {
    if (this.parameters.algorithm === 'bcrypt') {
      if (Buffer.byteLength(password, 'utf8') > BCRYPT_MAX_PASSWORD_BYTES) return Promise.reject(new PasswordTooLongForBcryptError());
      return bcrypt.hash(password, this.parameters.bcryptCost ?? 12);
    }
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

  verify(hashed: string, password: string): Promise<boolean> {
    return this.inFlight(() => this.verifyNow(hashed, password));
  }

  private async verifyNow(hashed: string, password: string): Promise<boolean> {
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
    await this.verify(await this.dummyHash, password);
  }

  /**
   * Should a login re-hash this stored hash with the configured algorithm? Given the password, a password bcrypt
   * cannot take whole (over 72 bytes) keeps its current hash, which still verifies.
   */
  needsRehash(hashed: string, password?: string): boolean {
    if (this.parameters.algorithm === 'bcrypt') {
      if (password !== undefined && Buffer.byteLength(password, 'utf8') > BCRYPT_MAX_PASSWORD_BYTES) return false;
      const cost = /^\$2[aby]\$(\d{2})\$/.exec(hashed)?.[1];
      return cost === undefined || Number(cost) !== (this.parameters.bcryptCost ?? 12);
    }
    if (!hashed.startsWith('$argon2id$')) return true;
    const m = /\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(hashed);
    if (!m) return true;
    return Number(m[1]) !== this.parameters.memoryKib || Number(m[2]) !== this.parameters.iterations || Number(m[3]) !== this.parameters.parallelism;
  }
}

/** A password over bcrypt's 72 bytes: refused rather than hashed with its tail silently dropped. */
export class PasswordTooLongForBcryptError extends Error {
  constructor() {
    super(`passwords are limited to ${BCRYPT_MAX_PASSWORD_BYTES} bytes with hashers.algorithm bcrypt`);
    this.name = 'PasswordTooLongForBcryptError';
  }
}
