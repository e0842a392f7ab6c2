import type { Gauge } from 'prom-client';
import type { Deps } from '../deps.js';

type Collect = (this: Gauge<string>) => Promise<void>;

/** A database outage must not make /metrics fail: the gauge keeps its last value and kairos_ready says 0. */
function fromDatabase(collect: Collect): Collect {
  return async function (this: Gauge<string>) {
    try {
      await collect.call(this);
    } catch {
      // kairos_ready (and /health/ready) report the outage.
    }
  };
}

/**
 * Gauges read from the database at each scrape of /metrics, so every instance reports the shared state (the
 * outbox, MFA resets and lockouts live in the database, not in one process). Three cheap COUNT queries per scrape.
 */
export function registerOperationalGauges(deps: Pick<Deps, 'db' | 'metrics' | 'clock' | 'storage'>): void {
  const { db, metrics, clock, storage } = deps;
  metrics.gauge('kairos_ready', 'Whether this instance is ready (1: its database answers, as /health/ready); 0 otherwise', [], async function () {
    this.set(await storage.ping().then(() => 1, () => 0));
  });
  const courierStatuses = ['queued', 'processing', 'abandoned'] as const;
  metrics.gauge('kairos_courier_messages', 'Courier outbox messages by status (sent messages are not counted)', ['status'], fromDatabase(async function () {
    const rows = await db
      .selectFrom('courier_messages')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .where('status', 'in', [...courierStatuses])
      .groupBy('status')
      .execute();
    for (const status of courierStatuses) this.set({ status }, Number(rows.find((r) => r.status === status)?.n ?? 0));
  }));
  metrics.gauge('kairos_courier_oldest_queued_age_seconds', 'Age of the oldest queued courier message (0 when the queue is empty)', [], fromDatabase(async function () {
    const row = await db.selectFrom('courier_messages').select((eb) => eb.fn.min('created_at').as('oldest')).where('status', '=', 'queued').executeTakeFirst();
    const oldest = row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest);
    this.set(oldest === null ? 0 : Math.max(0, (clock.nowMs() - oldest) / 1000));
  }));
  metrics.gauge('kairos_mfa_resets_pending', 'MFA reset requests waiting for their delay or for the user (status pending)', [], fromDatabase(async function () {
    const row = await db.selectFrom('mfa_reset_requests').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'pending').executeTakeFirst();
    this.set(Number(row?.n ?? 0));
  }));
  metrics.gauge('kairos_mfa_identities_locked_out', 'Identities whose second factors are hard-locked (max_consecutive_failures reached; an admin must clear them)', [], fromDatabase(async function () {
    const row = await db.selectFrom('mfa_lockouts').select((eb) => eb.fn.countAll<number>().as('n')).where('locked_at', 'is not', null).executeTakeFirst();
    this.set(Number(row?.n ?? 0));
  }));
  metrics.gauge('kairos_mfa_identities_delayed', 'Identities currently waiting out a second-factor backoff delay', [], fromDatabase(async function () {
    const row = await db
      .selectFrom('mfa_lockouts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('locked_at', 'is', null)
      .where('next_attempt_at', '>', clock.nowMs())
      .executeTakeFirst();
    this.set(Number(row?.n ?? 0));
  }));
}
