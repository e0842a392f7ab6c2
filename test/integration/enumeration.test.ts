/**
 * Threat: account enumeration. An outsider asks verification, recovery, login and registration about an address
 * and learns from the answer (body, status), from a throttle that only known addresses hit (issue 14, finding 1),
 * or from the time the answer takes, whether an account exists.
 *
 * Each test sends many requests for a known and an unknown address, interleaved (known, unknown, known, …) so load
 * on the machine hits both alike, past the mail quotas, and asserts:
 * - bodies and statuses are identical once ids, times and the address itself are masked;
 * - timing: the median wall time of the known and the unknown address differ by at most TIMING_TOLERANCE (a
 *   generous bound for a loaded 2-core machine: TIMING_TOLERANCE_RATIO of the larger median, and never less than
 *   TIMING_TOLERANCE_FLOOR_MS); for login, where the cost is argon2, the work is compared exactly instead: the same
 *   number of argon2 verifications for both.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { registerWithPassword } from '../support/users.js';
import { MAX_CODES_PER_ADDRESS } from '../../src/credentials/code/one-time-codes.js';

const PASSWORD = 'a long enough passphrase';
/** Requests per address in each comparison: well past MAX_CODES_PER_ADDRESS, so a quota cannot hide. */
const SAMPLES = 24;
const TIMING_TOLERANCE_RATIO = 0.5;
const TIMING_TOLERANCE_FLOOR_MS = 4;
const MAX_TIMING_ROUNDS = 3;

const median = (values: number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** The answer with everything that differs per request (ids, times, tokens) and the address itself masked. */
function masked(body: string, address: string): string {
  return body
    .replaceAll(address, '<address>')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<id>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
    .replace(/"retry_after_seconds":\d+/g, '"retry_after_seconds":<n>');
}

/** How far the medians' difference exceeds the tolerance (≤ 0: alike). */
function timingExcess(known: number[], unknown: number[]): number {
  const a = median(known);
  const b = median(unknown);
  return Math.abs(a - b) - Math.max(TIMING_TOLERANCE_FLOOR_MS, TIMING_TOLERANCE_RATIO * Math.max(a, b));
}

function expectSameTiming(known: number[], unknown: number[], what: string) {
  const a = median(known);
  const b = median(unknown);
  const tolerance = Math.max(TIMING_TOLERANCE_FLOOR_MS, TIMING_TOLERANCE_RATIO * Math.max(a, b));
  if (process.env.KAIROS_ENUMERATION_VERBOSE) console.log(`${what}: known ${a.toFixed(2)} ms, unknown ${b.toFixed(2)} ms, tolerance ${tolerance.toFixed(2)} ms`);
  expect(Math.abs(a - b), `${what}: median ${a.toFixed(2)} ms (known) vs ${b.toFixed(2)} ms (unknown), tolerance ${tolerance.toFixed(2)} ms`).toBeLessThanOrEqual(tolerance);
}

describe.each(DIALECTS)('account enumeration (%s)', (dialect) => {
  let k: TestKairos;
  let known: string;
  const unknown = () => `nobody-${randomUUID().slice(0, 8)}@example.com`;

  beforeAll(async () => {
    k = await startKairos({ dialect, config: { serve: { public: { rate_limit: { enabled: false } } }, log: { level: 'warn' } } });
    known = `known-${randomUUID().slice(0, 8)}@example.com`;
    await registerWithPassword(k, known, PASSWORD);
    // Verified, so recovery would really mail it.
    await k.deps.db.updateTable('identity_verifiable_addresses').set({ verified: 1, status: 'completed' }).where('value', '=', known).execute();
  });
  afterAll(async () => k?.close());

  /** Runs `ask` for the known and an unknown address, interleaved, SAMPLES times each (after one warm-up each). */
  /**
   * Interleaved samples of a known and an unknown address. The timing is judged on medians; on a loaded machine a
   * burst of other work can still shift one median, so a round whose medians differ by more than the tolerance is
   * measured again (at most MAX_TIMING_ROUNDS rounds) and the closest round is returned: a real difference between
   * the two paths shows in every round and still fails.
   */
  async function compare(ask: (address: string) => Promise<{ status: number; body: string }>) {
    await ask(known);
    await ask(unknown());
    let best: { known: { status: number; body: string; ms: number }[]; unknown: { status: number; body: string; ms: number }[] } | null = null;
    let bestExcess = Infinity;
    for (let round = 0; round < MAX_TIMING_ROUNDS && bestExcess > 0; round++) {
      const results = { known: [] as { status: number; body: string; ms: number }[], unknown: [] as { status: number; body: string; ms: number }[] };
      for (let i = 0; i < SAMPLES; i++) {
        for (const which of i % 2 === 0 ? (['known', 'unknown'] as const) : (['unknown', 'known'] as const)) {
          const address = which === 'known' ? known : unknown();
          const started = performance.now();
          const answer = await ask(address);
          const ms = performance.now() - started;
          results[which].push({ status: answer.status, body: masked(answer.body, address), ms });
        }
      }
      const excess = timingExcess(results.known.map((x) => x.ms), results.unknown.map((x) => x.ms));
      if (excess < bestExcess) [best, bestExcess] = [results, excess];
    }
    return best!;
  }

  async function submit(kind: 'verification' | 'recovery' | 'login' | 'registration', body: Record<string, unknown>) {
    const app = k.server.publicApp;
    const flow = await app.inject({ method: 'GET', url: `/self-service/${kind}/api` });
    const id = flow.json().id as string;
    const response = await app.inject({ method: 'POST', url: `/self-service/${kind}?flow=${id}`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
    return { status: response.statusCode, body: response.body.replaceAll(id, '<flow>') };
  }

  it('verification answers a known and an unknown address alike (body, status, timing), past the mail quota', async () => {
    const r = await compare((email) => submit('verification', { method: 'code', email }));
    expect(SAMPLES).toBeGreaterThan(MAX_CODES_PER_ADDRESS);
    expect(new Set([...r.known, ...r.unknown].map((x) => `${x.status} ${x.body}`))).toHaveProperty('size', 1);
    expect(r.known[0]!.body).not.toContain('4900301');
    expectSameTiming(r.known.map((x) => x.ms), r.unknown.map((x) => x.ms), 'verification');
  });

  it('recovery answers a known and an unknown address alike (body, status, timing), past the mail quota', async () => {
    const r = await compare((email) => submit('recovery', { method: 'code', email }));
    expect(new Set([...r.known, ...r.unknown].map((x) => `${x.status} ${x.body}`))).toHaveProperty('size', 1);
    expectSameTiming(r.known.map((x) => x.ms), r.unknown.map((x) => x.ms), 'recovery');
  });

  it('login with a wrong password answers a known and an unknown identifier alike, with the same argon2 work', async () => {
    const hasher = k.deps.hasher;
    const counts = { verify: 0, dummy: 0 };
    const verify = hasher.verify.bind(hasher);
    const dummy = hasher.dummyVerify.bind(hasher);
    // dummyVerify is itself a verify (of the dummy hash): the verify inside it is counted once, as the dummy.
    let inDummy = 0;
    hasher.verify = async (...args) => (inDummy === 0 && counts.verify++, verify(...args));
    hasher.dummyVerify = async (...args) => {
      counts.dummy++;
      inDummy++;
      try {
        return await dummy(...args);
      } finally {
        inDummy--;
      }
    };
    const work: Record<'known' | 'unknown', number[]> = { known: [], unknown: [] };
    try {
      const r = await compare(async (identifier) => {
        const before = counts.verify + counts.dummy;
        const answer = await submit('login', { method: 'password', identifier, password: 'not the password at all' });
        work[identifier === known ? 'known' : 'unknown'].push(counts.verify + counts.dummy - before);
        return answer;
      });
      expect(new Set([...r.known, ...r.unknown].map((x) => `${x.status} ${x.body}`))).toHaveProperty('size', 1);
      expect(r.known[0]!.status).toBe(400);
      // One argon2 verification each: the real hash for the known identifier, the dummy hash (same parameters) else.
      expect(new Set([...work.known, ...work.unknown])).toEqual(new Set([1]));
      expect(counts.verify).toBeGreaterThan(0);
      expect(counts.dummy).toBeGreaterThan(0);
    } finally {
      hasher.verify = verify;
      hasher.dummyVerify = dummy;
    }
  });

  it('registration refused for another reason (a too-short password) answers a known and an unknown address alike', async () => {
    const r = await compare((email) => submit('registration', { method: 'password', traits: { email }, password: 'short' }));
    expect(new Set([...r.known, ...r.unknown].map((x) => `${x.status} ${x.body}`))).toHaveProperty('size', 1);
    expect(r.known[0]!.status).toBe(400);
    expectSameTiming(r.known.map((x) => x.ms), r.unknown.map((x) => x.ms), 'registration');
  });
});
