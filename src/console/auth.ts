/**
 * How an operator signs in to the console, and how every console request is authenticated.
 *
 * The console never sees a password or a code: operators sign in through Kairos's own login (the hosted UI or any
 * Kratos UI), at aal2, and the console exchanges that Kairos session for its own, server-side:
 * 1. `GET /console/sign-in` creates a sign-in hand-off (a random id in the URL, a random state in a cookie on the
 *    console's origin, `kairos_console_state`, stored as a keyed hash) and sends the browser to the public
 *    listener's `GET /console-handoff?sign_in=<id>`;
 * 2. there, where the Kairos session cookie lives, the hand-off reads the session: none → the login flow, with
 *    `return_to` pointing back to the hand-off; aal1 with a second factor → the aal2 login flow; aal2 → a one-time
 *    code (60 s, keyed hash) is bound to the sign-in, with the identity and session, and the browser goes to the
 *    console's `GET /console/auth/callback?code=…`;
 * 3. the callback consumes the code once (conditional UPDATE), only with the state cookie of the browser that
 *    started the sign-in (a code stolen from a URL is useless elsewhere), checks again that the Kairos session is
 *    active and aal2 and that its identity has a console role, and creates a console session: a random token in the
 *    HttpOnly, SameSite=Strict cookie `kairos_console_session` (path /console), stored as a keyed hash.
 * Every console request then loads the console session (not revoked, within `console.session_lifespan` and
 * `console.idle_timeout`), the Kairos session it came from (still active, still aal2: revoking the operator's
 * Kairos session, or deactivating the operator, ends the console session at once) and the operator's roles as they
 * are now (a role removed in `metadata_admin` takes effect on the next request).
 * Forms carry a CSRF token derived from the console session (HMAC under `secrets.cookie`); every POST checks it and
 * refuses cross-site requests (`Sec-Fetch-Site`, `Origin`).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Deps } from '../deps.js';
import type { FlowEngine } from '../flows/engine.js';
import type { Identity } from '../identity/identity.js';
import { parseDurationMs } from '../config/duration.js';
import { keyedHash, constantTimeEqual } from '../support/crypto.js';
import { randomString } from '../support/random.js';
import { deriveAal, type Aal, type Session } from '../session/session.js';
import { ConsoleStore } from './store.js';
import { consoleRolesOf, type ConsoleRole } from './roles.js';
import { CONSOLE_PREFIX } from './layout.js';

export const SESSION_COOKIE = 'kairos_console_session';
export const STATE_COOKIE = 'kairos_console_state';
export const HANDOFF_PATH = '/console-handoff';
const SIGN_IN_LIFESPAN_MS = 15 * 60_000;
const CODE_LIFESPAN_MS = 60_000;
/** The session's last-seen time is written at most this often. */
const TOUCH_EVERY_MS = 60_000;

export interface Operator {
  id: string;
  name: string;
  roles: ConsoleRole[];
  identity: Identity;
  consoleSessionId: string;
  kairosSessionId: string;
  csrf: string;
}

export type AuthFailure = 'no_session' | 'expired' | 'kairos_session_ended' | 'not_aal2' | 'no_role' | 'inactive';

/** The keyed hash the console stores for a state, hand-off code or session token (`purpose`), never the value. */
export function consoleHash(config: Pick<Deps['config'], 'secrets'>, purpose: 'state' | 'code' | 'session', value: string): string {
  return keyedHash(config.secrets.default[0] ?? '', `console-${purpose}:${value}`);
}

export function operatorName(identity: Identity): string {
  const traits = identity.traits as Record<string, unknown>;
  const email = traits.email;
  if (typeof email === 'string') return email;
  const first = Object.values(identity.credentials).flatMap((c) => c.identifiers)[0];
  return first ?? identity.id;
}

export class ConsoleAuth {
  readonly store: ConsoleStore;
  private readonly lifespanMs: number;
  private readonly idleMs: number;
  private readonly secure: boolean;

  constructor(
    private readonly deps: Deps,
    private readonly engine: FlowEngine,
    /** The console's absolute base (`http://host:4434`), from the listener that serves it. */
    readonly consoleBase: string,
  ) {
    this.store = new ConsoleStore(deps.db);
    this.lifespanMs = parseDurationMs(deps.config.console.session_lifespan);
    this.idleMs = parseDurationMs(deps.config.console.idle_timeout);
    this.secure = consoleBase.startsWith('https:');
  }

  /**
   * The session's level for this operator: methods the operator's MFA rule forbids do not count (as for every other
   * use of the session, flows/engine.ts `currentSession`), so a role change that forbids the factor used ends the
   * console session at its next request.
   */
  private aalOf(identity: Identity, session: Session): Aal {
    const policy = this.engine.policy;
    return deriveAal(policy ? policy.countedAmr(identity, session.amr) : session.amr);
  }

  private hash(purpose: 'state' | 'code' | 'session', value: string): string {
    return consoleHash(this.deps.config, purpose, value);
  }

  csrfOf(consoleSessionId: string): string {
    return keyedHash(this.deps.config.secrets.cookie[0] ?? this.deps.config.secrets.default[0] ?? '', `console-csrf:${consoleSessionId}`);
  }

  /** Step 1: a new hand-off; the browser goes to the public listener. */
  async startSignIn(_request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const now = this.deps.clock.nowMs();
    const id = this.deps.random.uuid();
    const state = randomString(this.deps.random, 43);
    await this.store.createSignIn({ id, state_hash: this.hash('state', state), code_hash: null, identity_id: null, session_id: null, expires_at: now + SIGN_IN_LIFESPAN_MS, used_at: null, created_at: now });
    reply.setCookie(STATE_COOKIE, state, { path: `${CONSOLE_PREFIX}/auth`, httpOnly: true, sameSite: 'lax', secure: this.secure, maxAge: SIGN_IN_LIFESPAN_MS / 1000 });
    return reply.redirect(this.deps.urls.public(HANDOFF_PATH, { sign_in: id }), 303);
  }

  /** Step 2, on the public listener: send to login, or hand a one-time code back to the console. */
  async handoff(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
    const id = (request.query as Record<string, unknown>).sign_in;
    const row = typeof id === 'string' && /^[0-9a-f-]{36}$/i.test(id) ? await this.store.signIn(id) : null;
    const now = this.deps.clock.nowMs();
    if (!row || row.expires_at <= now || row.code_hash !== null) return this.plainPage(reply, 400, 'This sign-in link has expired or was already used. Start again from the console.');
    const here = this.deps.urls.public(HANDOFF_PATH, { sign_in: row.id });
    const current = await this.engine.currentSession(request);
    if (!current) return reply.redirect(this.deps.urls.browserInit('login', { return_to: here }), 303);
    if (deriveAal(current.session.amr) !== 'aal2') {
      if (!this.deps.identities.hasSecondFactor(current.identity)) {
        return this.plainPage(reply, 403, 'The console needs a sign-in with a second factor. Set up an authenticator app in your account settings first.');
      }
      return reply.redirect(this.deps.urls.browserInit('login', { aal: 'aal2', return_to: here }), 303);
    }
    const code = randomString(this.deps.random, 43);
    if (!(await this.store.bindCode(row.id, this.hash('code', code), current.identity.id, current.session.id, now, Math.min(row.expires_at, now + CODE_LIFESPAN_MS)))) {
      return this.plainPage(reply, 400, 'This sign-in link has expired or was already used. Start again from the console.');
    }
    // The code lives for a minute: the console must redeem it now, from the browser holding the state cookie.
    return reply.redirect(`${this.consoleBase}${CONSOLE_PREFIX}/auth/callback?${new URLSearchParams({ code }).toString()}`, 303);
  }

  /** Step 3, on the console: the code (once, with this browser's state) becomes a console session. */
  async callback(request: FastifyRequest, reply: FastifyReply): Promise<{ ok: true } | { ok: false; status: number; message: string }> {
    const code = (request.query as Record<string, unknown>).code;
    const state = request.cookies[STATE_COOKIE];
    reply.clearCookie(STATE_COOKIE, { path: `${CONSOLE_PREFIX}/auth` });
    const now = this.deps.clock.nowMs();
    const fail = (status: number, message: string) => ({ ok: false as const, status, message });
    if (typeof code !== 'string' || code.length > 64 || !state || state.length > 64) return fail(400, 'The sign-in could not be completed. Start again.');
    const row = await this.store.consumeCode(this.hash('code', code), this.hash('state', state), now);
    if (!row || !row.identity_id || !row.session_id) return fail(400, 'The sign-in could not be completed. Start again.');
    const session = await this.deps.sessions.findById(row.session_id);
    const identity = await this.deps.identities.get(row.identity_id);
    if (!session || !session.active || session.expiresAtMs <= now || session.identityId !== row.identity_id || !identity || this.aalOf(identity, session) !== 'aal2') {
      return fail(403, 'Your Kairos session is not signed in with a second factor. Start again.');
    }
    if (identity.state !== 'active') return fail(403, 'This account is not active.');
    const roles = consoleRolesOf(identity);
    if (roles.length === 0) {
      await this.deps.audit.record(this.deps.db, { type: 'admin.action_performed', identityId: identity.id, actor: `console:${identity.id}`, ipAddress: request.ip, details: { action: 'console.sign_in_refused', cause: 'no_role' } });
      return fail(403, 'This account has no console role (helpdesk, admin or auditor in metadata_admin.role).');
    }
    const token = randomString(this.deps.random, 43);
    const consoleSessionId = this.deps.random.uuid();
    await this.store.createSession({ id: consoleSessionId, token_hash: this.hash('session', token), operator_id: identity.id, kairos_session_id: session.id, created_at: now, last_seen_at: now, expires_at: Math.min(now + this.lifespanMs, session.expiresAtMs), revoked_at: null });
    await this.deps.audit.record(this.deps.db, { type: 'admin.action_performed', identityId: identity.id, sessionId: session.id, actor: `console:${identity.id}`, ipAddress: request.ip, userAgent: request.headers['user-agent'] ?? null, details: { action: 'console.sign_in', roles } });
    reply.setCookie(SESSION_COOKIE, token, { path: CONSOLE_PREFIX, httpOnly: true, sameSite: 'strict', secure: this.secure, maxAge: Math.floor(this.lifespanMs / 1000) });
    return { ok: true };
  }

  /** The operator behind this request, or why there is none. */
  async authenticate(request: FastifyRequest): Promise<Operator | AuthFailure> {
    const token = request.cookies[SESSION_COOKIE];
    if (!token || token.length > 64) return 'no_session';
    const row = await this.store.sessionByTokenHash(this.hash('session', token));
    const now = this.deps.clock.nowMs();
    if (!row || row.revoked_at !== null) return 'no_session';
    if (row.expires_at <= now || row.last_seen_at + this.idleMs <= now) return 'expired';
    const session = await this.deps.sessions.findById(row.kairos_session_id);
    if (!session || !session.active || session.expiresAtMs <= now) return 'kairos_session_ended';
    const identity = await this.deps.identities.get(row.operator_id);
    if (!identity || identity.state !== 'active') return 'inactive';
    if (this.aalOf(identity, session) !== 'aal2') return 'not_aal2';
    const roles = consoleRolesOf(identity);
    if (roles.length === 0) return 'no_role';
    if (now - row.last_seen_at >= TOUCH_EVERY_MS) await this.store.touchSession(row.id, now);
    return { id: identity.id, name: operatorName(identity), roles, identity, consoleSessionId: row.id, kairosSessionId: session.id, csrf: this.csrfOf(row.id) };
  }

  /** A POST from this console page, with this session's CSRF token (and not from another site). */
  checkCsrf(request: FastifyRequest, operator: Operator): boolean {
    const site = request.headers['sec-fetch-site'];
    if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return false;
    const origin = request.headers.origin;
    if (typeof origin === 'string' && origin !== 'null' && origin !== new URL(this.consoleBase).origin) return false;
    const body = request.body as Record<string, unknown> | undefined;
    const sent = typeof body?.csrf_token === 'string' ? body.csrf_token : '';
    return sent.length > 0 && constantTimeEqual(sent, operator.csrf);
  }

  async signOut(request: FastifyRequest, reply: FastifyReply, operator: Operator): Promise<void> {
    await this.store.revokeSession(operator.consoleSessionId, this.deps.clock.nowMs());
    await this.deps.audit.record(this.deps.db, { type: 'admin.action_performed', identityId: operator.id, actor: `console:${operator.id}`, ipAddress: request.ip, details: { action: 'console.sign_out' } });
    reply.clearCookie(SESSION_COOKIE, { path: CONSOLE_PREFIX });
  }

  private plainPage(reply: FastifyReply, status: number, text: string): FastifyReply {
    const esc = text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    return reply
      .code(status)
      .header('content-security-policy', "default-src 'none'; base-uri 'none'; frame-ancestors 'none'")
      .type('text/html; charset=utf-8')
      .send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Console sign-in</title></head><body><main><h1>Console sign-in</h1><p data-testid="console/handoff-message">${esc}</p></main></body></html>`);
  }
}
