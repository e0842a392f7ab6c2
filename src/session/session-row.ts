/** A `sessions` row as a Session (shared by the session service and the listings). */
import type { SessionsTable } from '../storage/tables.js';
import type { AmrEntry, Session } from './session.js';

export function rowToSession(row: SessionsTable): Session {
  return {
    id: row.id,
    identityId: row.identity_id,
    active: row.active === 1,
    issuedAtMs: row.issued_at,
    expiresAtMs: row.expires_at,
    authenticatedAtMs: row.authenticated_at,
    amr: parseAmr(row.amr),
    ipAddress: row.ip_address,
    userAgent: row.user_agent,
  };
}

export function parseAmr(text: string): AmrEntry[] {
  return (JSON.parse(text) as { method: string; aal: 'aal1' | 'aal2'; completed_at: number; channel?: 'email' | 'sms' }[]).map((e) =>
    e.channel ? { method: e.method, aal: e.aal, completedAtMs: e.completed_at, channel: e.channel } : { method: e.method, aal: e.aal, completedAtMs: e.completed_at },
  );
}
