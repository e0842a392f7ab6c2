/**
 * The periodic maintenance job (src/maintenance/job.ts): retention purges run off the request path, on every
 * instance, idempotently. Threat it keeps away: a burst of wrong codes (or of rate-limited requests) making every
 * request pay for a table-wide DELETE, and two instances fighting over the same purge.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';

describe.each(DIALECTS)('maintenance job (%s)', (dialect) => {
  let a: TestKairos;
  let b: TestKairos;

  beforeAll(async () => {
    const config = { serve: { public: { rate_limit: { enabled: true, store: 'database' } } }, selfservice: { methods: { totp: { enabled: true } } } };
    a = await startKairos({ dialect, config });
    b = await startKairos({ dialect, config, database: { dsn: a.dsn, drop: async () => {} } });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  const counters = () => a.deps.storage.db.selectFrom('rate_limit_counters').select('key').orderBy('key').execute();

  it('every instance has the job with the modules\' tasks (previous TOTP secrets, rate-limit windows)', () => {
    for (const k of [a, b]) expect(k.server.maintenance.tasks.map((t) => t.name).sort()).toEqual(['rate_limit_counters', 'totp_previous_secrets']);
  });

  it('requests no longer delete old rate-limit windows; the job does, once, whichever instance runs it', async () => {
    await a.deps.storage.db.insertInto('rate_limit_counters').values({ key: 'maintenance-test-ended', hits: 3, window_ends_at: 0 }).execute();
    // Requests to a limited endpoint write their own windows and leave the ended one alone.
    for (let i = 0; i < 3; i++) {
      const flow = await a.frontend.createNativeLoginFlow();
      await a.frontend.updateLoginFlow({ flow: flow.id, updateLoginFlowBody: { method: 'password', identifier: 'nobody@example.com', password: 'not the password' } }).catch(() => {});
    }
    expect((await counters()).map((c) => c.key)).toContain('maintenance-test-ended');
    // Both instances run the job at the same moment: the row is removed once, and neither fails.
    const [fromA, fromB] = await Promise.all([a.server.maintenance.runOnce(), b.server.maintenance.runOnce()]);
    expect((fromA.rate_limit_counters ?? 0) + (fromB.rate_limit_counters ?? 0)).toBe(1);
    const left = (await counters()).map((c) => c.key);
    expect(left).not.toContain('maintenance-test-ended');
    // Windows still open stay.
    expect(left.length).toBeGreaterThan(0);
    expect((await a.server.maintenance.runOnce()).rate_limit_counters).toBe(0);
  });
});
