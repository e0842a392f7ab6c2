import type { Clock } from '../support/clock.js';
import { randomString, type Random } from '../support/random.js';
import { keyedHash } from '../support/crypto.js';
import { prepareQuery, type PreparedQuery } from '../storage/prepared.js';
import { sql, type RawBuilder } from 'kysely';
import type { Identity } from '../identity/identity.js';
import { identityFromJoinedRow, joinedIdentityColumns, JOINED_IDENTITY_ROW_COLUMNS } from '../identity/repository.js';
import type { Db } from '../storage/db.js';
import type { SessionsTable } from '../storage/tables.js';
import { isSessionActive, type AmrEntry, type Session } from './session.js';
import { parseAmr, rowToSession } from './session-row.js';
import { StampedCache } from '../support/stamped-cache.js';
import { extendSession, listOtherActiveSessions, listSessions, revokeOwnSession, type SessionCursor } from './session-listing.js';

/** Kratos's session token prefix (`x/token_prefixes.go`); 32 base62 characters ≈ 190 bits (Copenhagen Book: ≥ 112). */
export const SESSION_TOKEN_PREFIX = 'ory_st_';
const TOKEN_RANDOM_CHARS = 32;
const LOGOUT_TOKEN_PREFIX = 'ory_lo_';

/** findCurrent's joined row (session columns, identity columns, facts). */
type CurrentRow = SessionsTable & Record<string, unknown>;

/** The active session for a token with its identity and the facts modules asked for. */
export interface CurrentSessionRow {
  session: Session;
  identity: Identity;
  facts: Record<string, unknown>;
}

/** A cached lookup: the row, and its parsed form once a read-only caller asked for it (`findCurrent` `shared`). */
interface CachedCurrent {
  row: CurrentRow;
  shared: CurrentSessionRow | null;
}

/** Freezes a parsed value and everything in it (plain objects and arrays only, as parsed rows are). */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/**
 * Session lookups kept per process (SQLite). A row is a few KiB (credentials included); a thousand bounds the cache
 * to a few MiB, and any write empties it in effect, so only read-mostly traffic (whoami) ever fills it.
 */
const CURRENT_ROWS_CACHED = 1_000;


/**
 * A value a module needs wherever a session is used (e.g. the identity's remaining recovery codes), loaded by the
 * session's own statement: a scalar SQL expression correlated on the identity `i.id`.
 */
export interface SessionFact {
  name: string;
  expression(dialect: 'sqlite' | 'postgres'): RawBuilder<unknown>;
}

const amrJson = (amr: AmrEntry[]) =>
  JSON.stringify(amr.map((e) => (e.channel ? { method: e.method, aal: e.aal, completed_at: e.completedAtMs, channel: e.channel } : { method: e.method, aal: e.aal, completed_at: e.completedAtMs })));

/**
 * Session tokens are stored only as keyed hashes (HMAC-SHA256 under `secrets.default`); the first secret hashes new
 * tokens and every listed secret is tried on lookup, so rotating secrets does not log everyone out at once.
 */
export class SessionService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly secrets: string[],
    private readonly lifespanMs: number,
    /** The SQL dialect (the atomic AMR append is written per dialect). */
    private readonly dialect: 'sqlite' | 'postgres' = 'sqlite',
    /** Storage.changeStamp (SQLite): when given, findCurrent's rows are cached for as long as the stamp holds. */
    private readonly changeStamp?: () => string,
  ) {}

  /** Every session, a page at a time (admin `GET /admin/sessions`). */
  list(options: { active?: boolean; nowMs: number; pageSize: number; after: SessionCursor | null }, db: Db = this.db) {
    return listSessions(db, options);
  }

  /** The identity's other active sessions, a page at a time (`GET /sessions`). */
  listOtherActive(options: { identityId: string; exceptId: string; nowMs: number; page: number; perPage: number }, db: Db = this.db) {
    return listOtherActiveSessions(db, options);
  }

  /** Revokes one of the identity's own sessions; false when it is not the identity's or not active. */
  revokeOwn(identityId: string, sessionId: string, nowMs: number, db: Db = this.db): Promise<boolean> {
    return revokeOwnSession(db, identityId, sessionId, nowMs);
  }

  /** Admin `PATCH /admin/sessions/{id}/extend`. */
  extend(sessionId: string, options: { nowMs: number; lifespanMs: number; earliestPossibleExtendMs: number | null }, db: Db = this.db) {
    return extendSession(db, sessionId, options);
  }

  private hashes(token: string): string[] {
    return this.secrets.map((secret) => keyedHash(secret, token));
  }

  async create(
    db: Db,
    identityId: string,
    amr: AmrEntry[],
    /** `id`: a session id chosen beforehand (hooks that ran before the session was stored saw it). */
    client: { ipAddress: string | null; userAgent: string | null; id?: string },
  ): Promise<{ session: Session; token: string; logoutToken: string }> {
    const now = this.clock.nowMs();
    const token = SESSION_TOKEN_PREFIX + randomString(this.random, TOKEN_RANDOM_CHARS);
    const logoutToken = LOGOUT_TOKEN_PREFIX + randomString(this.random, TOKEN_RANDOM_CHARS);
    const session: Session = {
      id: client.id ?? this.random.uuid(),
      identityId,
      active: true,
      issuedAtMs: now,
      expiresAtMs: now + this.lifespanMs,
      authenticatedAtMs: now,
      amr,
      ipAddress: client.ipAddress,
      userAgent: client.userAgent ? client.userAgent.slice(0, 512) : null,
    };
    await db
      .insertInto('sessions')
      .values({
        id: session.id,
        identity_id: identityId,
        token_hash: this.hashes(token)[0]!,
        logout_token_hash: this.hashes(logoutToken)[0]!,
        active: 1,
        issued_at: session.issuedAtMs,
        expires_at: session.expiresAtMs,
        authenticated_at: session.authenticatedAtMs,
        amr: amrJson(amr),
        ip_address: session.ipAddress,
        user_agent: session.userAgent,
        created_at: now,
        updated_at: now,
      })
      .execute();
    return { session, token, logoutToken };
  }

  /** The active session for a token, or null (expired, revoked, unknown). */
  async findByToken(token: string, db: Db = this.db): Promise<Session | null> {
    if (!token.startsWith(SESSION_TOKEN_PREFIX) || token.length > 128) return null;
    const row = await db.selectFrom('sessions').selectAll().where('token_hash', 'in', this.hashes(token)).executeTakeFirst();
    if (!row) return null;
    const session = rowToSession(row);
    return isSessionActive(session, this.clock.nowMs()) ? session : null;
  }

  /** findCurrent's rows by token hash and facts, valid while the storage's change stamp holds (SQLite only). */
  private readonly currentRows = new StampedCache<CachedCurrent>(CURRENT_ROWS_CACHED);

  /** findCurrent's statement, built and compiled once per set of facts (storage/prepared.ts). */
  private readonly currentQueries = new Map<string, PreparedQuery<Record<string, string>, unknown>>();

  private currentQuery(facts: readonly SessionFact[]): PreparedQuery<Record<string, string>, unknown> {
    const key = facts.map((f) => f.name).join(',');
    let query = this.currentQueries.get(key);
    if (!query) {
      // A fact declared twice (the engine's list and a strategy's) is selected once.
      facts = facts.filter((fact, index) => facts.findIndex((other) => other.name === fact.name) === index);
      const names = this.secrets.map((_, i) => `h${i}`);
      query = prepareQuery(
        (db, p: Record<string, string>) =>
          db
            .selectFrom('sessions as s')
            .innerJoin('identities as i', 'i.id', 's.identity_id')
            .selectAll('s')
            .select([...JOINED_IDENTITY_ROW_COLUMNS])
            .select(joinedIdentityColumns(this.dialect))
            .select(facts.map((f) => f.expression(this.dialect).as(`fact_${f.name}`)))
            .where(sql<boolean>`s.token_hash in (${sql.join(names.map((n) => p[n]))})`),
        names,
      );
      this.currentQueries.set(key, query);
    }
    return query;
  }

  /**
   * The active session for a token joined with its identity (credentials and addresses included) and the
   * `facts` modules declared (scalar subqueries correlated on the identity `i.id`), in ONE statement: whoami and
   * every flow step that needs the current session pay one round trip. Null for an unknown, expired or revoked
   * token.
   *
   * On SQLite the row is kept per process while the storage's change stamp holds (`Storage.changeStamp`: no
   * statement but a SELECT ran on this connection and no other connection or process committed), and the session's
   * expiry is checked against the clock on every use; the facts are SQL over stored rows only, never the time. Any
   * write anywhere, a revocation included, ends every cached row at once, in this process and in every other one
   * sharing the file. On PostgreSQL nothing is cached: another instance can commit unseen.
   */
  async findCurrent(
    token: string,
    facts: readonly SessionFact[],
    db: Db = this.db,
    options: { shared?: boolean } = {},
  ): Promise<CurrentSessionRow | null> {
    if (!token.startsWith(SESSION_TOKEN_PREFIX) || token.length > 128) return null;
    const hashes = this.hashes(token);
    const query = this.currentQuery(facts);
    // Only lookups outside a step are cached (whoami, pages): a step's transaction writes anyway, and the stamp would
    // cost it a statement. Read before the statement: a row read after a later change then sits under an older
    // stamp and is never used.
    const stamp = db === this.db ? this.changeStamp?.() : undefined;
    const cacheKey = stamp === undefined ? '' : `${hashes[0]}|${facts.map((f) => f.name).join(',')}`;
    let entry = stamp === undefined ? undefined : this.currentRows.get(cacheKey, stamp);
    if (!entry) {
      const params = Object.fromEntries(hashes.map((h, i) => [`h${i}`, h]));
      const row = (await query.takeFirst(db, params)) as CurrentRow | undefined;
      if (!row) return null;
      entry = { row, shared: null };
      if (stamp !== undefined) this.currentRows.set(cacheKey, stamp, entry);
    }
    // A shared answer is parsed once per cached row and frozen: a reader that tried to change it would throw.
    if (options.shared && stamp !== undefined) {
      entry.shared ??= deepFreeze(this.parseCurrent(entry.row, facts));
      return isSessionActive(entry.shared.session, this.clock.nowMs()) ? { ...entry.shared } : null;
    }
    const parsed = this.parseCurrent(entry.row, facts);
    return isSessionActive(parsed.session, this.clock.nowMs()) ? parsed : null;
  }

  private parseCurrent(row: CurrentRow, facts: readonly SessionFact[]): CurrentSessionRow {
    const found: Record<string, unknown> = {};
    for (const f of facts) found[f.name] = row[`fact_${f.name}`];
    return { session: rowToSession(row), identity: identityFromJoinedRow(row), facts: found };
  }

  async findById(id: string): Promise<Session | null> {
    const row = await this.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? rowToSession(row) : null;
  }

  async findByLogoutToken(logoutToken: string): Promise<Session | null> {
    const row = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('logout_token_hash', 'in', this.hashes(logoutToken))
      .executeTakeFirst();
    return row ? rowToSession(row) : null;
  }

  /** A fresh logout token for an existing session (Kratos hands one out per /self-service/logout/browser call). */
  async issueLogoutToken(sessionId: string): Promise<string> {
    const logoutToken = LOGOUT_TOKEN_PREFIX + randomString(this.random, TOKEN_RANDOM_CHARS);
    await this.db
      .updateTable('sessions')
      .set({ logout_token_hash: this.hashes(logoutToken)[0]!, updated_at: this.clock.nowMs() })
      .where('id', '=', sessionId)
      .execute();
    return logoutToken;
  }

  /**
   * Records completed methods on an existing session (second factor, refresh): same id and token, AMR appended,
   * `authenticated_at` moved to now. One statement appends to the stored list (no read-modify-write: two steps of
   * one session completing at once both keep their entry) and returns the list as stored.
   */
  async addAuthenticationMethods(db: Db, session: Session, entries: AmrEntry[]): Promise<Session> {
    const now = this.clock.nowMs();
    const row = await this.appendAmr.takeFirst(db, { appended: amrJson(entries), now, id: session.id });
    const stored = row ? parseAmr(row.amr) : [...session.amr, ...entries];
    return { ...session, amr: stored, authenticatedAtMs: now };
  }

  /** addAuthenticationMethods' statement, compiled once (storage/prepared.ts). */
  private readonly appendAmr = prepareQuery((db, p: { appended: string; now: number; id: string }) => {
    const amr =
      this.dialect === 'postgres'
        ? sql<string>`(coalesce(amr::jsonb, '[]'::jsonb) || ${p.appended}::jsonb)::text`
        : sql<string>`(select json_group_array(json(value)) from (select 0 as part, key, value from json_each(amr) union all select 1, key, value from json_each(${p.appended}) order by part, key))`;
    return db.updateTable('sessions').set({ amr, authenticated_at: p.now, updated_at: p.now }).where('id', '=', p.id).returning('amr');
  }, ['appended', 'now', 'id']);

  async revoke(sessionId: string): Promise<boolean> {
    const result = await this.db
      .updateTable('sessions')
      .set({ active: 0, updated_at: this.clock.nowMs() })
      .where('id', '=', sessionId)
      .where('active', '=', 1)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async revokeAllForIdentity(identityId: string, exceptSessionId?: string, db: Db = this.db): Promise<number> {
    let q = db.updateTable('sessions').set({ active: 0, updated_at: this.clock.nowMs() }).where('identity_id', '=', identityId).where('active', '=', 1);
    if (exceptSessionId) q = q.where('id', '!=', exceptSessionId);
    const result = await q.executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async listForIdentity(identityId: string, options: { activeOnly?: boolean } = {}): Promise<Session[]> {
    let q = this.db.selectFrom('sessions').selectAll().where('identity_id', '=', identityId);
    if (options.activeOnly) q = q.where('active', '=', 1).where('expires_at', '>', this.clock.nowMs());
    const rows = await q.orderBy('created_at', 'desc').limit(500).execute();
    return rows.map(rowToSession);
  }
}
