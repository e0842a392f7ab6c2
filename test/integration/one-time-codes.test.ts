import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/harness.js';
import { openStorage, type Storage } from '../../src/storage/db.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { ManualClock } from '../../src/support/clock.js';
import { cryptoRandom } from '../../src/support/random.js';
import { CodeThrottledError, MAX_ATTEMPTS_PER_CODE, MAX_CODES_PER_ADDRESS, OWNER_RESERVE_PER_ADDRESS, OneTimeCodes } from '../../src/credentials/code/one-time-codes.js';
import type { KairosConfig } from '../../src/config/schema.js';

const config = (keys: string[]) => ({ secrets: { default: keys } }) as unknown as KairosConfig;
const wrong = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

describe.each(DIALECTS)('one-time codes (%s)', (dialect) => {
  let database: TestDatabase;
  let storage: Storage;
  const clock = new ManualClock();
  let codes: OneTimeCodes;
  let n = 0;
  const flowId = () => cryptoRandom.uuid();
  const address = () => `a${++n}-${Math.random().toString(36).slice(2, 7)}@example.com`;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    storage = openStorage(database.dsn);
    await migrateToLatest(storage);
    codes = new OneTimeCodes({ db: storage.db, storage, clock, random: cryptoRandom, config: config(['first-secret-0123456789']) });
  });
  afterAll(async () => {
    await storage?.close();
    await database?.drop();
  });

  const issue = (flow: string, addr = address(), ttlMs = 60_000) =>
    codes.issue({ purpose: 'verification', flowId: flow, identityId: null, address: addr, expiresAtMs: clock.nowMs() + ttlMs });

  it('issues six digits and stores only a keyed hash', async () => {
    const flow = flowId();
    const issued = await issue(flow);
    expect(issued.code).toMatch(/^\d{6}$/);
    const row = await storage.db.selectFrom('one_time_codes').selectAll().where('id', '=', issued.id).executeTakeFirstOrThrow();
    expect(row.code_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(row)).not.toContain(issued.code);
  });

  it('a verification code is single-use and expires', async () => {
    const flow = flowId();
    const issued = await issue(flow);
    expect((await codes.verify({ purpose: 'verification', flowId: flow, code: issued.code })).ok).toBe(true);
    expect(await codes.verify({ purpose: 'verification', flowId: flow, code: issued.code })).toEqual({ ok: false, reason: 'used' });

    const later = flowId();
    const expiring = await issue(later, address(), 60_000);
    clock.advanceMs(60_000);
    expect(await codes.verify({ purpose: 'verification', flowId: later, code: expiring.code })).toEqual({ ok: false, reason: 'expired' });
  });

  it('checks the purpose and the flow the code was issued for', async () => {
    const flow = flowId();
    const issued = await issue(flow);
    expect((await codes.verify({ purpose: 'recovery', flowId: flow, code: issued.code })).ok).toBe(false);
    expect((await codes.verify({ purpose: 'verification', flowId: flowId(), code: issued.code })).ok).toBe(false);
    expect((await codes.verify({ purpose: 'verification', flowId: flow, code: issued.code })).ok).toBe(true);
  });

  it('verification-code guessing is throttled: the code dies after its attempts, even for the right code', async () => {
    const flow = flowId();
    const issued = await issue(flow);
    for (let i = 0; i < MAX_ATTEMPTS_PER_CODE; i++) {
      expect(await codes.verify({ purpose: 'verification', flowId: flow, code: wrong(issued.code) })).toEqual({ ok: false, reason: 'invalid' });
    }
    expect(await codes.verify({ purpose: 'verification', flowId: flow, code: issued.code })).toEqual({ ok: false, reason: 'exhausted' });
  });

  it('limits concurrent guesses to the attempt budget and accepts a right code once under concurrency', async () => {
    const flow = flowId();
    const issued = await issue(flow);
    const results = await Promise.all(Array.from({ length: 12 }, () => codes.verify({ purpose: 'verification', flowId: flow, code: wrong(issued.code) })));
    expect(results.filter((r) => !r.ok && r.reason === 'invalid')).toHaveLength(MAX_ATTEMPTS_PER_CODE);
    const row = await storage.db.selectFrom('one_time_codes').select('attempts').where('id', '=', issued.id).executeTakeFirstOrThrow();
    expect(row.attempts).toBe(MAX_ATTEMPTS_PER_CODE);

    const other = flowId();
    const right = await issue(other);
    const wins = await Promise.all(Array.from({ length: 4 }, () => codes.verify({ purpose: 'verification', flowId: other, code: right.code })));
    expect(wins.filter((r) => r.ok)).toHaveLength(1);
  });

  it('a new code replaces the previous one of the flow', async () => {
    const flow = flowId();
    const addr = address();
    const first = await issue(flow, addr);
    const second = await issue(flow, addr);
    if (first.code !== second.code) expect(await codes.verify({ purpose: 'verification', flowId: flow, code: first.code })).toEqual({ ok: false, reason: 'invalid' });
    expect((await codes.verify({ purpose: 'verification', flowId: flow, code: second.code })).ok).toBe(true);
  });

  it('throttles how many codes one address is sent per hour, keeping a reserve only the owner can use', async () => {
    const addr = address();
    for (let i = 0; i < MAX_CODES_PER_ADDRESS - OWNER_RESERVE_PER_ADDRESS; i++) await issue(flowId(), addr);
    await expect(issue(flowId(), addr)).rejects.toBeInstanceOf(CodeThrottledError);
    const asOwner = () => codes.issue({ purpose: 'verification', flowId: flowId(), identityId: null, address: addr, expiresAtMs: clock.nowMs() + 60_000, owner: true });
    for (let i = 0; i < OWNER_RESERVE_PER_ADDRESS; i++) await asOwner();
    await expect(asOwner()).rejects.toBeInstanceOf(CodeThrottledError);
    await expect(issue(flowId(), addr)).rejects.toBeInstanceOf(CodeThrottledError);
    clock.advanceMs(60 * 60 * 1000 + 1);
    await expect(issue(flowId(), addr)).resolves.toMatchObject({ code: expect.stringMatching(/^\d{6}$/) });
  });

  it('keeps pending codes valid across a rotation of secrets.default', async () => {
    const flow = flowId();
    const issued = await issue(flow);
    const rotated = new OneTimeCodes({ db: storage.db, storage, clock, random: cryptoRandom, config: config(['new-secret-0123456789abc', 'first-secret-0123456789']) });
    expect((await rotated.verify({ purpose: 'verification', flowId: flow, code: issued.code })).ok).toBe(true);
    const unrelated = new OneTimeCodes({ db: storage.db, storage, clock, random: cryptoRandom, config: config(['another-secret-0123456789']) });
    const flow2 = flowId();
    const issued2 = await issue(flow2);
    expect((await unrelated.verify({ purpose: 'verification', flowId: flow2, code: issued2.code })).ok).toBe(false);
  });
});
