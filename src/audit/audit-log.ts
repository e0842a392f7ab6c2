import type { Clock } from '../support/clock.js';
import type { Random } from '../support/random.js';
import type { Db } from '../storage/db.js';
import { prepareQuery } from '../storage/prepared.js';
import type { AuditEvent, AuditEventType } from './events.js';

export interface StoredAuditEvent {
  id: string;
  type: AuditEventType;
  identity_id: string | null;
  session_id: string | null;
  flow_id: string | null;
  actor: string | null;
  ip_address: string | null;
  user_agent: string | null;
  details: Record<string, unknown>;
  created_at: string;
}

/** Which events `list` returns: since inclusive, until exclusive, ordered by (created_at, id), after a cursor. */
export interface AuditFilter {
  identityId?: string;
  types?: string[];
  sinceMs?: number;
  untilMs?: number;
  pageSize: number;
  after?: { createdAtMs: number; id: string };
}

/** Append-only: there is no update or delete here, on purpose. */
/** The one INSERT every audited action runs, compiled once (storage/prepared.ts). */
const AUDIT_COLUMNS = ['id', 'type', 'identity_id', 'session_id', 'flow_id', 'actor', 'ip_address', 'user_agent', 'details', 'created_at'] as const;
type AuditRow = { [K in (typeof AUDIT_COLUMNS)[number]]: K extends 'created_at' ? number : K extends 'id' | 'type' | 'details' ? string : string | null };
const insertEvent = prepareQuery((db, p: AuditRow) => db.insertInto('audit_events').values(p), AUDIT_COLUMNS);

export class AuditLog {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly random: Random,
  ) {}

  /**
   * What other modules do when an event is recorded, in the same transaction (the MFA policy revokes remembered
   * devices on `password.changed`, `mfa_reset.completed`, `recovery.completed`). A subscriber that throws fails the
   * action with it, as any other write of the action would.
   */
  readonly subscribers: ((trx: Db, event: AuditEvent) => Promise<void>)[] = [];

  private lastMs = 0;
  private sequence = 0;

  /**
   * A UUIDv7-shaped id (RFC 9562 §5.7): 48 bits of milliseconds, then a 12-bit sequence, then random bits. Events
   * recorded in the same millisecond by this instance keep their order when listed (created_at, then id).
   */
  private nextId(nowMs: number): string {
    if (nowMs > this.lastMs) {
      this.lastMs = nowMs;
      this.sequence = 0;
    } else this.sequence = (this.sequence + 1) & 0xfff;
    const ms = nowMs.toString(16).padStart(12, '0').slice(-12);
    const rand = this.random.uuid().replace(/-/g, '');
    const seq = (0x7000 | this.sequence).toString(16);
    const variant = ((parseInt(rand[16]!, 16) & 0x3) | 0x8).toString(16);
    return `${ms.slice(0, 8)}-${ms.slice(8)}-${seq}-${variant}${rand.slice(17, 20)}-${rand.slice(20, 32)}`;
  }

  /** Records an event in `trx`, the action's transaction (a step's unit of work), so it commits with the action. */
  async record(trx: Db, event: AuditEvent): Promise<void> {
    await insertEvent.run(trx, {
      id: this.nextId(this.clock.nowMs()),
      type: event.type,
      identity_id: event.identityId ?? null,
      session_id: event.sessionId ?? null,
      flow_id: event.flowId ?? null,
      actor: event.actor ?? null,
      ip_address: event.ipAddress ?? null,
      user_agent: event.userAgent ? event.userAgent.slice(0, 512) : null,
      details: JSON.stringify(event.details ?? {}),
      created_at: this.clock.nowMs(),
    });
    for (const subscriber of this.subscribers) await subscriber(trx, event);
  }

  async list(filter: AuditFilter): Promise<StoredAuditEvent[]> {
    let q = this.db.selectFrom('audit_events').selectAll();
    if (filter.identityId) q = q.where('identity_id', '=', filter.identityId);
    if (filter.types?.length) q = q.where('type', 'in', filter.types);
    if (filter.sinceMs !== undefined) q = q.where('created_at', '>=', filter.sinceMs);
    if (filter.untilMs !== undefined) q = q.where('created_at', '<', filter.untilMs);
    if (filter.after) {
      const { createdAtMs, id } = filter.after;
      q = q.where((eb) => eb.or([eb('created_at', '>', createdAtMs), eb.and([eb('created_at', '=', createdAtMs), eb('id', '>', id)])]));
    }
    const rows = await q.orderBy('created_at').orderBy('id').limit(filter.pageSize).execute();
    return rows.map((r) => ({
      id: r.id,
      type: r.type as AuditEventType,
      identity_id: r.identity_id,
      session_id: r.session_id,
      flow_id: r.flow_id,
      actor: r.actor,
      ip_address: r.ip_address,
      user_agent: r.user_agent,
      details: JSON.parse(r.details),
      created_at: new Date(r.created_at).toISOString(),
    }));
  }
}
