/**
 * What every self-service flow shares (Kratos `selfservice/flow/*`): identity of the flow, its type (browser or
 * api), expiry, state, the UI it asks a front end to render, and a server-only internal context.
 */
import type { UiContainer, UiNode } from '../ui/nodes.js';
import type { UiText } from '../ui/messages.js';
import type { Db } from '../storage/db.js';
import type { Selectable } from 'kysely';
import type { FlowsTable } from '../storage/tables.js';

export type FlowKind = 'login' | 'registration' | 'settings' | 'recovery' | 'verification';
export const FLOW_KINDS: FlowKind[] = ['login', 'registration', 'settings', 'recovery', 'verification'];
export type FlowType = 'api' | 'browser';

export interface Flow {
  id: string;
  kind: FlowKind;
  type: FlowType;
  state: string;
  identityId: string | null;
  sessionId: string | null;
  requestUrl: string;
  returnTo: string | null;
  requestedAal: 'aal1' | 'aal2' | null;
  refresh: boolean;
  active: string | null;
  ui: UiContainer;
  internal: Record<string, unknown>;
  issuedAtMs: number;
  expiresAtMs: number;
  createdAtMs: number;
  updatedAtMs: number;
  /** Wrong second-factor submissions charged to this flow (the guard's per-flow budget); read with the flow. */
  failedAttempts: number;
}

export const INITIAL_STATE: Record<FlowKind, string> = {
  login: 'choose_method',
  registration: 'choose_method',
  settings: 'show_form',
  recovery: 'choose_method',
  verification: 'choose_method',
};

/** A submission that a strategy rejected: messages for fields (node names) or the whole form (field null). */
export class FlowValidationError extends Error {
  constructor(
    readonly problems: { field: string | null; message: UiText }[],
    /** Submitted values to keep in the re-rendered form (never secrets). */
    readonly keepValues: Record<string, unknown> = {},
  ) {
    super('flow validation failed');
  }

  static global(message: UiText): FlowValidationError {
    return new FlowValidationError([{ field: null, message }]);
  }

  static field(field: string, message: UiText): FlowValidationError {
    return new FlowValidationError([{ field, message }]);
  }
}

/** Applies validation problems to nodes (cleared first) and the flow's messages, keeping submitted values. */
export function applyProblems(ui: UiContainer, error: FlowValidationError): void {
  ui.messages = [];
  for (const node of ui.nodes) {
    node.messages = [];
    if (node.attributes.node_type === 'input') {
      const value = error.keepValues[node.attributes.name];
      if (value !== undefined && node.attributes.type !== 'password' && node.attributes.type !== 'submit' && node.attributes.type !== 'hidden')
        node.attributes.value = value;
    }
  }
  for (const { field, message } of error.problems) {
    const node = field ? ui.nodes.find((n) => n.attributes.node_type === 'input' && n.attributes.name === field) : undefined;
    if (node) node.messages.push(message);
    else ui.messages.push(message);
  }
  if (ui.messages.length === 0) delete ui.messages;
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

  /**
   * The flow a submission works on, locked for the step's transaction (lock order, storage/unit-of-work.ts: the flow
   * row first), so concurrent submissions of one flow run one after the other.
   */
  async getForStep(trx: Db, id: string): Promise<Flow | null> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
    let query = trx.selectFrom('selfservice_flows').selectAll().where('id', '=', id);
    if (this.rowLocks) query = query.forUpdate();
    const row = await query.executeTakeFirst();
    return row ? rowToFlow(row) : null;
  }

  async update(flow: Flow, nowMs: number, db: Db = this.db): Promise<void> {
    flow.updatedAtMs = nowMs;
    await db
      .updateTable('selfservice_flows')
      .set({
        state: flow.state,
        identity_id: flow.identityId,
        session_id: flow.sessionId,
        active: flow.active,
        ui: JSON.stringify(flow.ui),
        internal: JSON.stringify(flow.internal),
        updated_at: nowMs,
      })
      .where('id', '=', flow.id)
      .execute();
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

  async failedAttempts(flowId: string): Promise<number> {
    const row = await this.db.selectFrom('selfservice_flows').select('failed_attempts').where('id', '=', flowId).executeTakeFirst();
    return row?.failed_attempts ?? 0;
  }
}

export function findInputNode(nodes: UiNode[], name: string): UiNode | undefined {
  return nodes.find((n) => n.attributes.node_type === 'input' && n.attributes.name === name);
}
