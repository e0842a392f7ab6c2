/**
 * `kairos audit`: reads the audit trail straight from the database in the config (no admin key needed: whoever can
 * read the config can read the database). Same filters as `GET /admin/audit-events`.
 */
import { AuditLog, type StoredAuditEvent } from '../audit/audit-log.js';
import { openStorage } from '../storage/db.js';
import { systemClock } from '../support/clock.js';
import { cryptoRandom } from '../support/random.js';
import { encodeAuditCursor, parseAuditQuery } from '../http/admin/audit.js';
import { HttpError } from '../errors/http-error.js';

export interface AuditCommandOptions {
  identity?: string;
  type?: string[];
  since?: string;
  until?: string;
  limit?: string;
  pageToken?: string;
  json?: boolean;
}

/** One line per event for people: time, type, identity, actor, then the details. */
export function formatAuditEvent(e: StoredAuditEvent): string {
  const details = Object.entries(e.details)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const parts = [e.created_at, e.type.padEnd(26), `identity=${e.identity_id ?? '-'}`, `actor=${e.actor ?? '-'}`];
  if (e.ip_address) parts.push(`ip=${e.ip_address}`);
  if (e.flow_id) parts.push(`flow=${e.flow_id}`);
  if (e.session_id) parts.push(`session=${e.session_id}`);
  if (details) parts.push(details);
  return parts.join('  ');
}

/** Runs the query against a DSN and writes the result; returns the process exit code. */
export async function runAuditCommand(dsn: string, options: AuditCommandOptions, out: (text: string) => void, err: (text: string) => void): Promise<number> {
  let query;
  try {
    query = parseAuditQuery({
      identity_id: options.identity,
      type: options.type?.flatMap((t) => t.split(',')),
      since: options.since,
      until: options.until,
      page_size: options.limit,
      page_token: options.pageToken,
    });
  } catch (e) {
    if (e instanceof HttpError) {
      err(`kairos audit: ${String(e.body.reason ?? e.body.message)}\n`);
      return 2;
    }
    throw e;
  }
  const storage = openStorage(dsn);
  try {
    const events = await new AuditLog(storage.db, systemClock, cryptoRandom).list(query);
    const next = events.length === query.pageSize ? encodeAuditCursor(events.at(-1)!) : null;
    if (options.json) out(JSON.stringify({ events, next_page_token: next }, null, 2) + '\n');
    else {
      for (const e of events) out(formatAuditEvent(e) + '\n');
      if (next) err(`more events: --page-token ${next}\n`);
      if (events.length === 0) err('no audit events match\n');
    }
    return 0;
  } finally {
    await storage.close();
  }
}
