/**
 * Persistence of self-service flows (`selfservice_flows`) and of the errors shown on the error page
 * (`selfservice_errors`). The flows (flows/) call it; they build no SQL themselves.
 */
import type { Selectable } from 'kysely';
import type { Flow, FlowKind } from '../flows/flow.js';
import type { Db } from './db.js';
import type { FlowsTable } from './tables.js';
import { prepareQuery } from './prepared.js';

/** An error a browser is sent to the error page with (`GET /self-service/errors?id=`). */
export interface StoredFlowError {
  id: string;
  error: unknown;
  createdAtMs: number;
}

function rowToFlow(row: Selectable<FlowsTable>): Flow {
  return {
    id: row.id,
    kind: row.kind as FlowKind,
    type: row.type,
    state: row.state,
    identityId: row.identity_id,
    sessionId: row.session_id,
    requestUrl: row.request_url,
    returnTo: row.return_to,
    requestedAal: row.requested_aal as Flow['requestedAal'],
    refresh: row.refresh === 1,
    active: row.active,
    ui: JSON.parse(row.ui),
    internal: JSON.parse(row.internal),
    issuedAtMs: row.issued_at,
    expiresAtMs: row.expires_at,
    createdAtMs: row.created_at,
    updatedAtMs: row.updated_at,
    failedAttempts: Number(row.failed_attempts ?? 0),
  };
}

/** The statements of every flow step, compiled once (storage/prepared.ts). */
const selectForStep = prepareQuery((db, p: { id: string }) => db.selectFrom('selfservice_flows').selectAll().where('id', '=', p.id), ['id']);
const selectForStepLocked = prepareQuery((db, p: { id: string }) => db.selectFrom('selfservice_flows').selectAll().where('id', '=', p.id).forUpdate(), ['id']);
const FLOW_UPDATE_PARAMS = ['id', 'state', 'identity_id', 'session_id', 'active', 'ui', 'internal', 'updated_at'] as const;
type FlowUpdate = Pick<Selectable<FlowsTable>, (typeof FLOW_UPDATE_PARAMS)[number]>;
const updateFlow = prepareQuery(
  (db, p: FlowUpdate) =>
    db
      .updateTable('selfservice_flows')
      .set({ state: p.state, identity_id: p.identity_id, session_id: p.session_id, active: p.active, ui: p.ui, internal: p.internal, updated_at: p.updated_at })
      .where('id', '=', p.id),
  FLOW_UPDATE_PARAMS,
);

export class FlowRepository {
  constructor(
    private readonly db: Db,
    /** Whether the dialect has `SELECT … FOR UPDATE` (PostgreSQL; SQLite's step transactions hold the write lock). */
    private readonly rowLocks = false,
  ) {}

  async insert(flow: Flow, db: Db = this.db): Promise<void> {
    await db
      .insertInto('selfservice_flows')
      .values({
        id: flow.id,
        kind: flow.kind,
        type: flow.type,
        state: flow.state,
        identity_id: flow.identityId,
        session_id: flow.sessionId,
        request_url: flow.requestUrl,
        return_to: flow.returnTo,
        requested_aal: flow.requestedAal,
        refresh: flow.refresh ? 1 : 0,
        active: flow.active,
        ui: JSON.stringify(flow.ui),
        internal: JSON.stringify(flow.internal),
        issued_at: flow.issuedAtMs,
        expires_at: flow.expiresAtMs,
        created_at: flow.createdAtMs,
        updated_at: flow.updatedAtMs,
      })
      .execute();
  }

  async get(id: string, db: Db = this.db): Promise<Flow | null> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
    const row = await db.selectFrom('selfservice_flows').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? rowToFlow(row) : null;
  }

  /** The identity a flow names, if any (one column: the per-identity limit's key, http/plugins/rate-limit.ts). */
  async identityOf(id: string): Promise<string | null> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
    const row = await this.db.selectFrom('selfservice_flows').select('identity_id').where('id', '=', id).executeTakeFirst();
    return row?.identity_id ?? null;
  }

  /**
   * The flow a submission works on, locked for the step's transaction (lock order, storage/unit-of-work.ts: the flow
   * row first), so concurrent submissions of one flow run one after the other.
   */
  async getForStep(trx: Db, id: string): Promise<Flow | null> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
    const row = await (this.rowLocks ? selectForStepLocked : selectForStep).takeFirst(trx, { id });
    return row ? rowToFlow(row) : null;
  }

  async update(flow: Flow, nowMs: number, db: Db = this.db): Promise<void> {
    flow.updatedAtMs = nowMs;
    await updateFlow.run(db, {
      id: flow.id,
      state: flow.state,
      identity_id: flow.identityId,
      session_id: flow.sessionId,
      active: flow.active,
      ui: JSON.stringify(flow.ui),
      internal: JSON.stringify(flow.internal),
      updated_at: nowMs,
    });
  }

  /**
   * Counts one wrong second-factor submission and tells whether the flow is still within `max` (atomic: concurrent
   * submissions cannot both take the last attempt). Returns the count after this attempt, or null when the
   * budget was already used up.
   */
  async recordFailedAttempt(flowId: string, max: number, db: Db = this.db): Promise<number | null> {
    const row = await db
      .updateTable('selfservice_flows')
      .set((eb) => ({ failed_attempts: eb('failed_attempts', '+', 1) }))
      .where('id', '=', flowId)
      .where('failed_attempts', '<', max)
      .returning('failed_attempts')
      .executeTakeFirst();
    return row ? row.failed_attempts : null;
  }

  /** The UI of the session's last login step that passed at or after `sinceMs` (its messages outlive the redirect). */
  async lastPassedLoginUi(sessionId: string, sinceMs: number): Promise<Flow['ui'] | null> {
    const row = await this.db
      .selectFrom('selfservice_flows')
      .select(['ui', 'updated_at'])
      .where('session_id', '=', sessionId)
      .where('kind', '=', 'login')
      .where('state', '=', 'passed_challenge')
      .where('updated_at', '>=', sinceMs)
      .orderBy('updated_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? (JSON.parse(row.ui) as Flow['ui']) : null;
  }

  /** Keeps an error for the error page; returns its id. */
  async insertError(id: string, error: unknown, nowMs: number, db: Db = this.db): Promise<void> {
    await db.insertInto('selfservice_errors').values({ id, error: JSON.stringify(error), created_at: nowMs }).execute();
  }

  async getError(id: string): Promise<StoredFlowError | null> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
    const row = await this.db.selectFrom('selfservice_errors').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? { id: row.id, error: JSON.parse(row.error), createdAtMs: row.created_at } : null;
  }

  async failedAttempts(flowId: string): Promise<number> {
    const row = await this.db.selectFrom('selfservice_flows').select('failed_attempts').where('id', '=', flowId).executeTakeFirst();
    return row?.failed_attempts ?? 0;
  }
}
