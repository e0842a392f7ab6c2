import { randomBytes, randomUUID } from 'node:crypto';

/** Randomness is injected (oslo's RandomReader) so tests can make it deterministic. */
export interface Random {
  bytes(length: number): Uint8Array;
  uuid(): string;
}

export const cryptoRandom: Random = {
  bytes: (length) => new Uint8Array(randomBytes(length)),
  uuid: () => randomUUID(),
};

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A uniformly random string over `alphabet` (rejection sampling: bytes that would bias the result are dropped).
 */
export function randomString(random: Random, length: number, alphabet: string = BASE62): string {
  if (alphabet.length < 2 || alphabet.length > 256) throw new TypeError('alphabet must have 2..256 characters');
  const limit = 256 - (256 % alphabet.length);
  let out = '';
  while (out.length < length) {
    for (const byte of random.bytes(length * 2)) {
      if (byte >= limit) continue;
      out += alphabet[byte % alphabet.length];
      if (out.length === length) break;
    }
  }
  return out;
}
