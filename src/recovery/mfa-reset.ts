/**
 * MFA reset requests: what happens when an identity WITH a second factor proves control of a recovery address.
 *
 * Recovery by email alone must not strip the second factor (Keycloak #40513: a password reset silently removed OTP,
 * so a mailbox was enough to take an account). Proving the mailbox opens a request; the request completes
 * - at once when the person also proves the first factor (password), or
 * - after `selfservice.flows.recovery.mfa_reset_delay` (default 72h) when the mailbox is proven again,
 * and every verified address of the identity is told, with a link that cancels it. Completing removes the second
 * factors and recovery codes (through the identity service, which keeps what diagnosis needs), clears the
 * per-identity second-factor lockout, and marks the identity as needing a new enrollment before it may use a
 * session again (`enrollmentRequired`).
 */
import type { Deps } from '../deps.js';
import type { Db } from '../identity/repository.js';
import type { Identity } from '../identity/identity.js';
import type { RequestInfo } from '../flows/strategy.js';
import type { MfaResetRequestsTable } from '../storage/tables.js';
import { parseDurationMs } from '../config/duration.js';
import { keyedHash } from '../support/crypto.js';
import { randomString } from '../support/random.js';

export const MFA_RESET_CANCEL_PATH = '/self-service/recovery/mfa-reset/cancel';
/** Recovery codes (lookup secrets) go with the second factor they back up. */
const RECOVERY_CODES_TYPE = 'lookup_secret';

export type MfaResetRequest = MfaResetRequestsTable;

export class MfaResets {
  readonly delayMs: number;

  constructor(private readonly deps: Deps) {
    this.delayMs = parseDurationMs(deps.config.selfservice.flows.recovery.mfa_reset_delay);
  }

  private hashes(token: string): string[] {
    return this.deps.config.secrets.default.map((s) => keyedHash(s, `mfa-reset:${token}`));
  }

  /** Every verified email address of the identity: verified trait addresses and verified secondary recovery addresses. */
  async verifiedAddresses(identity: Identity, db: Db = this.deps.db): Promise<string[]> {
    const secondary = await db
      .selectFrom('identity_secondary_recovery_addresses')
      .select('value')
      .where('identity_id', '=', identity.id)
      .where('via', '=', 'email')
      .where('verified', '=', 1)
      .execute();
    return [...new Set([...identity.verifiableAddresses.filter((a) => a.verified && a.via === 'email').map((a) => a.value), ...secondary.map((r) => r.value)])];
  }

  /** The reset request with this id, or null. */
  async get(id: string): Promise<MfaResetRequest | null> {
    const row = await this.deps.db.selectFrom('mfa_reset_requests').selectAll().where('id', '=', id).executeTakeFirst();
    return row ?? null;
  }

  async pending(identityId: string): Promise<MfaResetRequest | null> {
    const row = await this.deps.db
      .selectFrom('mfa_reset_requests')
      .selectAll()
      .where('identity_id', '=', identityId)
      .where('status', '=', 'pending')
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
    return row ?? null;
  }

  /**
   * Opens a request, or returns the pending one (a second recovery never restarts or shortens the wait). A new
   * request is announced to every verified address with a cancel link.
   */
  async open(identity: Identity, context: { flowId: string; request: RequestInfo; actor: string }): Promise<{ request: MfaResetRequest; created: boolean }> {
    const existing = await this.pending(identity.id);
    if (existing) return { request: existing, created: false };
    const now = this.deps.clock.nowMs();
    const token = randomString(this.deps.random, 32);
    const row: MfaResetRequest = {
      id: this.deps.random.uuid(),
      identity_id: identity.id,
      status: 'pending',
      flow_id: context.flowId,
      cancel_token_hash: this.hashes(token)[0]!,
      not_before: now + this.delayMs,
      completed_via: null,
      completed_at: null,
      cancelled_at: null,
      reenrolled_at: null,
      created_at: now,
      updated_at: now,
    };
    const cancelUrl = this.deps.urls.public(MFA_RESET_CANCEL_PATH, { token });
    const recipients = await this.verifiedAddresses(identity);
    await this.deps.identities.inTransaction(this.deps.db, async (trx) => {
      await trx.insertInto('mfa_reset_requests').values(row).execute();
      for (const recipient of recipients) {
        await this.deps.courier.enqueue({ template: 'mfa_reset_requested', recipient, identityId: identity.id, carriesSecret: true, acceptLanguage: context.request.acceptLanguage ?? null, data: { CancelURL: cancelUrl, EffectiveAt: new Date(row.not_before).toISOString() } }, trx);
      }
      await this.deps.audit.record(trx, { type: 'mfa_reset.requested', identityId: identity.id, flowId: context.flowId, actor: context.actor, ipAddress: context.request.ip, userAgent: context.request.userAgent, details: { completes_at: new Date(row.not_before).toISOString(), notified_addresses: recipients.length } });
    });
    return { request: row, created: true };
  }

  isDue(request: MfaResetRequest): boolean {
    return this.deps.clock.nowMs() >= request.not_before;
  }

  /**
   * Completes a pending request (one conditional UPDATE: a request cancelled meanwhile stays cancelled and nothing
   * is removed). Returns false when it was no longer pending.
   */
  async complete(request: MfaResetRequest, identity: Identity, context: { via: 'password' | 'delay' | 'admin'; flowId: string | null; request: RequestInfo; actor: string }): Promise<boolean> {
    const now = this.deps.clock.nowMs();
    const removed: string[] = [];
    const done = await this.deps.identities.inTransaction(this.deps.db, async (trx) => {
      const result = await trx
        .updateTable('mfa_reset_requests')
        .set({ status: 'completed', completed_via: context.via, completed_at: now, updated_at: now })
        .where('id', '=', request.id)
        .where('status', '=', 'pending')
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) return false;
      const types = [...new Set([...this.deps.secondFactorTypes, RECOVERY_CODES_TYPE])].filter((t) => identity.credentials[t]);
      for (const type of types) {
        await this.deps.identities.deleteCredential(identity.id, type, trx);
        removed.push(type);
      }
      for (const type of removed) {
        await this.deps.audit.record(trx, { type: 'second_factor.removed', identityId: identity.id, flowId: context.flowId, actor: context.actor, ipAddress: context.request.ip, userAgent: context.request.userAgent, details: { method: type, via: 'mfa_reset' } });
      }
      await this.deps.audit.record(trx, { type: 'mfa_reset.completed', identityId: identity.id, flowId: context.flowId, actor: context.actor, ipAddress: context.request.ip, userAgent: context.request.userAgent, details: { via: context.via, removed } });
      for (const recipient of await this.verifiedAddresses(identity, trx)) {
        await this.deps.courier.enqueue({ template: 'mfa_reset_completed', recipient, identityId: identity.id, acceptLanguage: context.request.acceptLanguage ?? null, data: { CompletedAt: new Date(now).toISOString() } }, trx);
      }
      return true;
    });
    if (!done) return false;
    // The per-identity second-factor lockout goes with the second factor it protected.
    await this.deps.secondFactorGuard.clearLockout({ identityId: identity.id, by: 'recovery', actor: context.actor, reason: `mfa reset completed (${context.via})`, ipAddress: context.request.ip });
    return true;
  }

  /** The pending request a cancel link belongs to (looked up by the token's keyed hash), or null. */
  async pendingByCancelToken(token: unknown): Promise<MfaResetRequest | null> {
    if (typeof token !== 'string' || !token || token.length > 64) return null;
    const row = await this.deps.db.selectFrom('mfa_reset_requests').selectAll().where('cancel_token_hash', 'in', this.hashes(token)).executeTakeFirst();
    return row && row.status === 'pending' ? row : null;
  }

  /** Cancels the pending request this link belongs to; the second factor stays. Returns its identity, or null. */
  async cancel(token: string, request: RequestInfo): Promise<string | null> {
    const row = await this.pendingByCancelToken(token);
    if (!row) return null;
    const now = this.deps.clock.nowMs();
    const result = await this.deps.db
      .updateTable('mfa_reset_requests')
      .set({ status: 'cancelled', cancelled_at: now, updated_at: now })
      .where('id', '=', row.id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) return null;
    await this.deps.audit.record(this.deps.db, { type: 'mfa_reset.cancelled', identityId: row.identity_id, flowId: row.flow_id, actor: 'self', ipAddress: request.ip, userAgent: request.userAgent, details: { via: 'notification_link' } });
    const identity = await this.deps.identities.get(row.identity_id);
    for (const recipient of identity ? await this.verifiedAddresses(identity) : []) {
      await this.deps.courier.enqueue({ template: 'mfa_reset_cancelled', recipient, identityId: row.identity_id, acceptLanguage: request.acceptLanguage ?? null, data: { CancelledAt: new Date(now).toISOString() } });
    }
    return row.identity_id;
  }

  /**
   * After a completed reset the identity must enroll a second factor again before any session of it is accepted
   * (whoami answers 403 with a redirect to settings). Enrolling again (the identity has a second factor) lifts it.
   */
  async enrollmentRequired(identity: Identity): Promise<boolean> {
    const row = await this.deps.db
      .selectFrom('mfa_reset_requests')
      .select('id')
      .where('identity_id', '=', identity.id)
      .where('status', '=', 'completed')
      .where('reenrolled_at', 'is', null)
      .executeTakeFirst();
    if (!row) return false;
    if (!this.deps.identities.hasSecondFactor(identity)) return true;
    const now = this.deps.clock.nowMs();
    await this.deps.db.updateTable('mfa_reset_requests').set({ reenrolled_at: now, updated_at: now }).where('identity_id', '=', identity.id).where('status', '=', 'completed').where('reenrolled_at', 'is', null).execute();
    return false;
  }
}
