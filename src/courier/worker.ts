/**
 * The courier worker: claims due messages from the outbox and delivers them: email over SMTP (nodemailer), text
 * messages (`sms`) through the `sms` courier channel (Kratos's HTTP channel, courier/http-channel.ts).
 *
 * - Any number of workers (in `kairos serve` instances and `kairos courier watch` processes) share one outbox: a
 *   message is claimed by one conditional UPDATE (status queued and due, or processing with an expired lease), so
 *   only one worker delivers it. A worker that crashes mid-delivery leaves a lease that expires after
 *   LEASE_SECONDS; the message is then delivered again (at-least-once, as any outbox).
 * - A failed attempt is recorded as a dispatch, audited (`courier.delivery_failed`) and retried with exponential
 *   backoff; after `courier.message_retries` retries the message is `abandoned` (Kratos's dead-letter status).
 * - Errors recorded keep the SMTP error's code and a bounded message, never the message body.
 */
import type { Transporter } from 'nodemailer';
import type { Deps } from '../deps.js';
import { affectedRows } from '../storage/db.js';
import type { OutboxCourier } from './outbox.js';
import type { HttpChannel } from './http-channel.js';

/** How long a claim lasts before another worker may take the message over (covers SMTP timeouts below). */
export const LEASE_SECONDS = 120;
/** First retry delay; doubled at each further failure, capped at MAX_BACKOFF_SECONDS. */
export const BASE_BACKOFF_SECONDS = 5;
export const MAX_BACKOFF_SECONDS = 3600;
/** When this process enqueues a message, look for it after these delays (its transaction commits in between). */
const WAKE_DELAYS_MS = [0, 25, 150];
/** Messages claimed per poll. */
const BATCH_SIZE = 10;

export interface MailTransport {
  send(mail: { from: { name: string; address: string }; to: string; subject: string; text: string; html: string }): Promise<void>;
  close?(): void;
}

/**
 * A nodemailer transport for Kratos's `courier.smtp.connection_uri`: `smtp://user:pass@host:port/` (STARTTLS
 * required unless `?disable_starttls=true`), `smtps://…` (implicit TLS), `?skip_ssl_verify=true` (self-signed).
 */
export function smtpTransport(connectionUri: string): MailTransport {
  let url: URL;
  try {
    url = new URL(connectionUri);
  } catch {
    throw new TypeError('courier.smtp.connection_uri is not a URL');
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') throw new TypeError('courier.smtp.connection_uri must start with smtp:// or smtps://');
  const secure = url.protocol === 'smtps:';
  const disableStartTls = url.searchParams.get('disable_starttls') === 'true';
  const options = {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port) || (secure ? 465 : 587),
    secure,
    requireTLS: !secure && !disableStartTls,
    ignoreTLS: !secure && disableStartTls,
    tls: { rejectUnauthorized: url.searchParams.get('skip_ssl_verify') !== 'true' },
    ...(url.username ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } } : {}),
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  };
  // nodemailer is loaded with the first message, not at start-up (it showed in the start-up profile).
  let transporter: Promise<Transporter> | null = null;
  return {
    async send(mail) {
      transporter ??= import('nodemailer').then((m) => m.default.createTransport(options));
      await (await transporter).sendMail(mail);
    },
    close: () => {
      void transporter?.then((t) => t.close());
    },
  };
}

type WorkerDeps = Pick<Deps, 'db' | 'clock' | 'random' | 'audit' | 'logger' | 'config' | 'metrics'>;

function describeError(err: unknown): { message: string; code?: string; response_code?: number } {
  const e = err as { message?: string; code?: string; responseCode?: number; status?: number | null };
  const status = typeof e?.responseCode === 'number' ? e.responseCode : typeof e?.status === 'number' ? e.status : undefined;
  return {
    message: String(e?.message ?? err).replace(/\s+/g, ' ').slice(0, 200),
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
    ...(status !== undefined ? { response_code: status } : {}),
  };
}

/** What delivers each message type; null when it is not configured (those messages stay queued). */
export interface Deliverers {
  email: MailTransport | null;
  sms: HttpChannel | null;
}

export class CourierWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  private again = false;
  private stopped = true;

  constructor(
    private readonly deps: WorkerDeps,
    private readonly outbox: OutboxCourier,
    /** The transport (null: no SMTP configured; messages stay queued). Resolved at each run (dev sink starts late). */
    private readonly transport: () => MailTransport | null,
    /** The `sms` courier channel, when configured. */
    private readonly smsChannel: () => HttpChannel | null = () => null,
  ) {}

  /** Delay before the attempt after `failures` failed ones. */
  static backoffSeconds(failures: number): number {
    return Math.min(BASE_BACKOFF_SECONDS * 2 ** Math.max(0, failures - 1), MAX_BACKOFF_SECONDS);
  }

  /** Claims and delivers what is due now; returns the number of messages attempted. Safe to call concurrently. */
  runOnce(): Promise<number> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      let total = 0;
      do {
        this.again = false;
        total += await this.deliverDue();
      } while (this.again && !this.stopped);
      return total;
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async deliverDue(): Promise<number> {
    const deliverers: Deliverers = { email: this.transport(), sms: this.smsChannel() };
    const types = (['email', 'sms'] as const).filter((type) => deliverers[type] !== null);
    if (types.length === 0) return 0;
    const { db, clock } = this.deps;
    const now = clock.nowMs();
    const due = await db
      .selectFrom('courier_messages')
      .select('id')
      .where('type', 'in', types)
      .where((eb) =>
        eb.or([
          eb.and([eb('status', '=', 'queued'), eb('next_attempt_at', '<=', now)]),
          eb.and([eb('status', '=', 'processing'), eb('claimed_until', '<', now)]),
        ]),
      )
      .orderBy('next_attempt_at')
      .limit(BATCH_SIZE)
      .execute();
    let attempted = 0;
    for (const { id } of due) {
      const token = this.deps.random.uuid();
      const claimed = await db
        .updateTable('courier_messages')
        .set({ status: 'processing', claimed_until: now + LEASE_SECONDS * 1000, claim_token: token, updated_at: now })
        .where('id', '=', id)
        .where((eb) =>
          eb.or([
            eb.and([eb('status', '=', 'queued'), eb('next_attempt_at', '<=', now)]),
            eb.and([eb('status', '=', 'processing'), eb('claimed_until', '<', now)]),
          ]),
        )
        .executeTakeFirst();
      if (affectedRows(claimed) !== 1) continue; // another worker took it
      attempted++;
      await this.deliver(id, token, deliverers);
    }
    return attempted;
  }

  private async deliver(id: string, token: string, deliverers: Deliverers): Promise<void> {
    const { db, clock, config, logger, metrics } = this.deps;
    const row = await db.selectFrom('courier_messages').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const sendCount = row.send_count + 1;
    let failure: ReturnType<typeof describeError> | null = null;
    try {
      const message = this.outbox.open(row);
      if (message.type === 'sms') {
        // Kratos's data model for the provider's template; the body holds the code and is never logged.
        await deliverers.sms!.dispatch({ recipient: message.recipient, body: message.text, template_type: message.templateType, template_data: message.templateData ?? {}, message_type: 'sms' });
      } else {
        await deliverers.email!.send({
          from: { name: config.courier.smtp.from_name, address: config.courier.smtp.from_address },
          to: message.recipient,
          subject: message.subject,
          text: message.text,
          html: message.html,
        });
      }
    } catch (err) {
      failure = describeError(err);
    }
    const now = clock.nowMs();
    const counter = metrics.counter('kairos_courier_deliveries_total', 'Courier delivery attempts by outcome', ['outcome']);
    if (!failure) {
      // A delivered code has done its job: its encrypted body is not kept (the dispatch row records the delivery).
      await db.transaction().execute(async (trx) => {
        await trx
          .updateTable('courier_messages')
          .set({
            status: 'sent',
            send_count: sendCount,
            claimed_until: null,
            claim_token: null,
            updated_at: now,
            ...(row.carries_secret === 1 ? { body: '', html_body: '', template_data: null, body_encrypted: 0 } : {}),
          })
          .where('id', '=', id)
          .where('claim_token', '=', token)
          .execute();
        await trx.insertInto('courier_message_dispatches').values({ id: this.deps.random.uuid(), message_id: id, status: 'success', error: null, created_at: now }).execute();
      });
      counter.inc({ outcome: 'sent' });
      logger.info({ message_id: id, template_type: row.template_type, send_count: sendCount }, 'courier: message sent');
      return;
    }
    const abandoned = sendCount > config.courier.message_retries;
    await db.transaction().execute(async (trx) => {
      await trx
        .updateTable('courier_messages')
        .set({
          status: abandoned ? 'abandoned' : 'queued',
          send_count: sendCount,
          next_attempt_at: abandoned ? row.next_attempt_at : now + CourierWorker.backoffSeconds(sendCount) * 1000,
          claimed_until: null,
          claim_token: null,
          updated_at: now,
          ...(abandoned && row.carries_secret === 1 ? { body: '', html_body: '', template_data: null, body_encrypted: 0 } : {}),
        })
        .where('id', '=', id)
        .where('claim_token', '=', token)
        .execute();
      await trx
        .insertInto('courier_message_dispatches')
        .values({ id: this.deps.random.uuid(), message_id: id, status: 'failed', error: JSON.stringify(failure), created_at: now })
        .execute();
      await this.deps.audit.record(trx, {
          type: 'courier.delivery_failed',
          identityId: row.identity_id,
          actor: 'system',
          details: { message_id: id, template_type: row.template_type, attempt: sendCount, abandoned, error_code: failure.code ?? null, response_code: failure.response_code ?? null },
      });
    });
    counter.inc({ outcome: abandoned ? 'abandoned' : 'failed' });
    logger.warn({ message_id: id, template_type: row.template_type, send_count: sendCount, abandoned, error: failure }, abandoned ? 'courier: message abandoned' : 'courier: delivery failed, will retry');
  }

  /** Polls every `pollIntervalMs` and whenever this process enqueues a message. */
  start(pollIntervalMs: number): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.outbox.onEnqueue(() => this.wake());
    const tick = () => {
      if (this.stopped) return;
      this.runOnce()
        .catch((err) => this.deps.logger.error({ err: describeError(err) }, 'courier: poll failed'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, pollIntervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  /**
   * Called when this process enqueued a message. The enqueuing transaction may not have committed yet, so look
   * again shortly after; the poll covers anything slower.
   */
  wake(): void {
    if (this.stopped) return;
    for (const delayMs of WAKE_DELAYS_MS) {
      setTimeout(() => {
        if (this.stopped) return;
        this.runOnce().catch((err) => this.deps.logger.error({ err: describeError(err) }, 'courier: delivery run failed'));
      }, delayMs).unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }
}
