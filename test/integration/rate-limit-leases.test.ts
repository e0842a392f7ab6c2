/**
 * The shared rate-limit counters' leases (storage/rate-limit-counters.ts): a busy key takes several positions per
 * upsert, and the bound across instances stays exact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, createTestDatabase, type TestDatabase } from '../support/harness.js';
import { openStorage, type Storage } from '../../src/storage/db.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { RateLimitCounters } from '../../src/storage/rate-limit-counters.js';

const WINDOW_MS = 60_000;

describe.each(DIALECTS)('rate-limit leases (%s)', (dialect) => {
  let database: TestDatabase;
  let storage: Storage;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    storage = openStorage(database.dsn);
    await migrateToLatest(storage);
  });
  afterAll(async () => {
    await storage?.close();
    await database?.drop();
  });

  const storedHits = async (key: string) =>
    Number((await storage.db.selectFrom('rate_limit_counters').select('hits').where('key', '=', key).executeTakeFirstOrThrow()).hits);

  it('one instance counts every hit exactly, in order, while writing far fewer upserts than hits', async () => {
    const counters = new RateLimitCounters(storage);
    const positions: number[] = [];
    for (let i = 0; i < 200; i++) positions.push((await counters.increment('ip:one', WINDOW_MS, 1_000_000)).current);
    expect(positions).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    // Leases double up to 64 positions: 1+2+4+8+16+32+64+64+64 = 255 taken in 9 upserts for 200 hits.
    expect(await storedHits('ip:one')).toBe(255);
  });

  it('concurrent requests of one client share the lease being taken: unique positions, a handful of upserts', async () => {
    const counters = new RateLimitCounters(storage);
    const positions = await Promise.all(Array.from({ length: 50 }, () => counters.increment('ip:burst', WINDOW_MS, 1_000_000).then((r) => r.current)));
    expect([...positions].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    // Leases of 1, 2, 4, 8, 16, 32 cover 50 requests: 63 positions taken, in 6 upserts rather than 50.
    expect(await storedHits('ip:burst')).toBe(63);
  });

  it('a limit under 32 per window is charged one upsert per hit (no lease), so instances see each other at once', async () => {
    const counters = new RateLimitCounters(storage);
    for (let i = 0; i < 10; i++) await counters.increment('ip:small', WINDOW_MS, 20);
    expect(await storedHits('ip:small')).toBe(10);
  });

  it('an attacker alternating between two instances is never admitted more than the limit in one window', async () => {
    const a = new RateLimitCounters(storage);
    const b = new RateLimitCounters(storage);
    const max = 160; // leases of up to 10 positions
    let admitted = 0;
    for (let i = 0; i < 400; i++) {
      const { current } = await (i % 3 === 0 ? b : a).increment('ip:spread', WINDOW_MS, max);
      if (current <= max) admitted++;
    }
    expect(admitted).toBeLessThanOrEqual(max);
    // Positions another instance leased and did not use are lost to the client, at most one lease's worth.
    expect(admitted).toBeGreaterThanOrEqual(max - 10);
  });

  it('a charge inside a step that rolls back leaves the counter as it was', async () => {
    const counters = new RateLimitCounters(storage);
    await counters.incrementIn(storage.db, 'identity:rollback', WINDOW_MS);
    await expect(
      storage.transaction(async (trx) => {
        await counters.incrementIn(trx, 'identity:rollback', WINDOW_MS);
        throw new Error('step failed');
      }),
    ).rejects.toThrow('step failed');
    expect(await storedHits('identity:rollback')).toBe(1);
  });
});
