/**
 * Session queries behind Kratos's session listing and extension APIs (GET /sessions, GET /admin/sessions,
 * PATCH /admin/sessions/{id}/extend). Reads and one conditional update; the session service owns everything else.
 */
import type { Db } from '../identity/repository.js';
import type { Session } from './session.js';
import { rowToSession } from './session-row.js';

/** Keyset cursor: sessions list newest first, ties broken by id. */
export interface SessionCursor {
  createdAtMs: number;
  id: string;
}

/**
 * Every identity's sessions, newest first. `active: true` means usable now (not revoked and not expired), `false`
 * the others, `undefined` all — Kratos's `active` filter.
 */
export async function listSessions(
  db: Db,
  options: { active?: boolean; nowMs: number; pageSize: number; after: SessionCursor | null },
): Promise<{ session: Session; createdAtMs: number }[]> {
  let q = db.selectFrom('sessions').selectAll();
  if (options.active === true) q = q.where('active', '=', 1).where('expires_at', '>', options.nowMs);
  if (options.active === false) q = q.where((eb) => eb.or([eb('active', '=', 0), eb('expires_at', '<=', options.nowMs)]));
  if (options.after) {
    const { createdAtMs, id } = options.after;
    q = q.where((eb) => eb.or([eb('created_at', '<', createdAtMs), eb.and([eb('created_at', '=', createdAtMs), eb('id', '<', id)])]));
  }
  const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(options.pageSize).execute();
  return rows.map((row) => ({ session: rowToSession(row), createdAtMs: row.created_at }));
}

/** One identity's usable sessions except `exceptId`, newest first, a page of them plus the total (Kratos's X-Total-Count). */
export async function listOtherActiveSessions(
  db: Db,
  options: { identityId: string; exceptId: string; nowMs: number; page: number; perPage: number },
): Promise<{ sessions: Session[]; total: number }> {
  const base = db
    .selectFrom('sessions')
    .where('identity_id', '=', options.identityId)
    .where('id', '!=', options.exceptId)
    .where('active', '=', 1)
    .where('expires_at', '>', options.nowMs);
  const [rows, count] = await Promise.all([
    base.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(options.perPage).offset(options.page * options.perPage).execute(),
    base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { sessions: rows.map(rowToSession), total: Number(count.n) };
}

/** Revokes one of the identity's sessions; false when it is not the identity's or already inactive. */
export async function revokeOwnSession(db: Db, identityId: string, sessionId: string, nowMs: number): Promise<boolean> {
  const result = await db
    .updateTable('sessions')
    .set({ active: 0, updated_at: nowMs })
    .where('id', '=', sessionId)
    .where('identity_id', '=', identityId)
    .where('active', '=', 1)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * Kratos's extend: an active session's expiry becomes now + `lifespanMs`. With `earliestPossibleExtendMs`, only a
 * session expiring within that window is extended (others are left as they are, like Kratos). One conditional
 * UPDATE, so concurrent extensions cannot shorten each other.
 */
export async function extendSession(
  db: Db,
  sessionId: string,
  options: { nowMs: number; lifespanMs: number; earliestPossibleExtendMs: number | null },
): Promise<'extended' | 'not_yet' | 'not_found'> {
  const row = await db.selectFrom('sessions').select(['id', 'active', 'expires_at']).where('id', '=', sessionId).executeTakeFirst();
  if (!row || row.active !== 1 || row.expires_at <= options.nowMs) return 'not_found';
  if (options.earliestPossibleExtendMs !== null && row.expires_at - options.nowMs > options.earliestPossibleExtendMs) return 'not_yet';
  const expiresAt = options.nowMs + options.lifespanMs;
  await db
    .updateTable('sessions')
    .set({ expires_at: expiresAt, updated_at: options.nowMs })
    .where('id', '=', sessionId)
    .where('active', '=', 1)
    .where('expires_at', '<', expiresAt)
    .execute();
  return 'extended';
}
