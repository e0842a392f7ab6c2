/**
 * The console's tables (migration 20261216T1000_console): sign-in hand-offs, console sessions and four-eyes
 * approvals. Secrets (the state, the hand-off code, the session token) are stored as keyed hashes only; every
 * single-use step is a conditional UPDATE checked by its row count.
 */
import type { Db } from '../storage/db.js';
import type { ConsoleApprovalsTable, ConsoleSessionsTable, ConsoleSignInsTable } from '../storage/tables.js';
import { affectedRows } from '../storage/db.js';

export type ConsoleSessionRow = ConsoleSessionsTable;
export type ConsoleSignInRow = ConsoleSignInsTable;
export type ConsoleApprovalRow = ConsoleApprovalsTable;

export class ConsoleStore {
  constructor(private readonly db: Db) {}

  async createSignIn(row: ConsoleSignInRow): Promise<void> {
    await this.db.insertInto('console_sign_ins').values(row).execute();
  }

  async signIn(id: string): Promise<ConsoleSignInRow | null> {
    return (await this.db.selectFrom('console_sign_ins').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
  }

  /** Binds the hand-off code to a sign-in that has none yet (one hand-off per sign-in). */
  async bindCode(id: string, codeHash: string, identityId: string, sessionId: string, nowMs: number, codeExpiresAtMs: number): Promise<boolean> {
    const r = await this.db
      .updateTable('console_sign_ins')
      .set({ code_hash: codeHash, identity_id: identityId, session_id: sessionId, expires_at: codeExpiresAtMs })
      .where('id', '=', id)
      .where('code_hash', 'is', null)
      .where('used_at', 'is', null)
      .where('expires_at', '>', nowMs)
      .executeTakeFirst();
    return affectedRows(r) === 1;
  }

  /** Consumes the hand-off code: the sign-in it belongs to, once, if its state matches and it has not expired. */
  async consumeCode(codeHash: string, stateHash: string, nowMs: number): Promise<ConsoleSignInRow | null> {
    const row = await this.db.selectFrom('console_sign_ins').selectAll().where('code_hash', '=', codeHash).executeTakeFirst();
    if (!row || row.state_hash !== stateHash) return null;
    const r = await this.db
      .updateTable('console_sign_ins')
      .set({ used_at: nowMs })
      .where('id', '=', row.id)
      .where('used_at', 'is', null)
      .where('expires_at', '>', nowMs)
      .executeTakeFirst();
    return affectedRows(r) === 1 ? row : null;
  }

  async createSession(row: ConsoleSessionRow): Promise<void> {
    await this.db.insertInto('console_sessions').values(row).execute();
  }

  async sessionByTokenHash(hash: string): Promise<ConsoleSessionRow | null> {
    return (await this.db.selectFrom('console_sessions').selectAll().where('token_hash', '=', hash).executeTakeFirst()) ?? null;
  }

  async touchSession(id: string, nowMs: number): Promise<void> {
    await this.db.updateTable('console_sessions').set({ last_seen_at: nowMs }).where('id', '=', id).execute();
  }

  async revokeSession(id: string, nowMs: number): Promise<void> {
    await this.db.updateTable('console_sessions').set({ revoked_at: nowMs }).where('id', '=', id).where('revoked_at', 'is', null).execute();
  }

  /** An identity's audit events, newest first (index `audit_events(identity_id, created_at)`), before a cursor. */
  async timeline(identityId: string, options: { types?: string[]; before?: { createdAtMs: number; id: string }; limit: number }) {
    let q = this.db.selectFrom('audit_events').selectAll().where('identity_id', '=', identityId);
    if (options.types?.length) q = q.where('type', 'in', options.types);
    if (options.before) {
      const { createdAtMs, id } = options.before;
      q = q.where((eb) => eb.or([eb('created_at', '<', createdAtMs), eb.and([eb('created_at', '=', createdAtMs), eb('id', '<', id)])]));
    }
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(options.limit).execute();
    return rows.map((r) => ({ id: r.id, type: r.type, actor: r.actor, details: JSON.parse(r.details) as Record<string, unknown>, created_at: new Date(Number(r.created_at)).toISOString(), createdAtMs: Number(r.created_at) }));
  }

  async createApproval(row: ConsoleApprovalRow, db: Db = this.db): Promise<void> {
    await db.insertInto('console_approvals').values(row).execute();
  }

  async approval(id: string, db: Db = this.db): Promise<ConsoleApprovalRow | null> {
    return (await db.selectFrom('console_approvals').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
  }

  async pendingApprovals(nowMs: number, options: { identityId?: string; limit?: number } = {}): Promise<ConsoleApprovalRow[]> {
    let q = this.db.selectFrom('console_approvals').selectAll().where('status', '=', 'pending').where('expires_at', '>', nowMs);
    if (options.identityId) q = q.where('identity_id', '=', options.identityId);
    return q.orderBy('created_at').limit(options.limit ?? 50).execute();
  }

  /** Decides a pending approval (once: a concurrent decision makes this one return false). */
  async decide(db: Db, id: string, status: 'approved' | 'rejected' | 'cancelled', by: string, reason: string, nowMs: number): Promise<boolean> {
    const r = await db
      .updateTable('console_approvals')
      .set({ status, decided_by: by, decision_reason: reason, decided_at: nowMs })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where('expires_at', '>', nowMs)
      .executeTakeFirst();
    return affectedRows(r) === 1;
  }
}
