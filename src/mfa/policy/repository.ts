/**
 * The MFA policy's tables (migration 20261215T1000_mfa_policy): per identity and rule, when the rule first applied
 * and how many sign-ins happened under it; and the remembered browsers (keyed hash of the cookie only). Every change
 * is one conditional statement, so concurrent requests and instances never double-count or resurrect a device.
 */
import { sql } from 'kysely';
import type { Db } from '../../storage/db.js';
import type { MfaRememberedDevicesTable } from '../../storage/tables.js';
import type { PolicyState } from './rules.js';

export interface StoredPolicyState extends PolicyState {
  lastDecision: string | null;
}

export interface RememberedDevice {
  id: string;
  identityId: string;
  method: string;
  ruleId: string;
  userAgent: string | null;
  ipAddress: string | null;
  createdAtMs: number;
  expiresAtMs: number;
  lastUsedAtMs: number | null;
  revokedAtMs: number | null;
  revokedReason: string | null;
}

const toDevice = (row: MfaRememberedDevicesTable): RememberedDevice => ({
  id: row.id,
  identityId: row.identity_id,
  method: row.method,
  ruleId: row.rule_id,
  userAgent: row.user_agent,
  ipAddress: row.ip_address,
  createdAtMs: Number(row.created_at),
  expiresAtMs: Number(row.expires_at),
  lastUsedAtMs: row.last_used_at === null ? null : Number(row.last_used_at),
  revokedAtMs: row.revoked_at === null ? null : Number(row.revoked_at),
  revokedReason: row.revoked_reason,
});

/** Why devices were revoked (`mfa_policy.device_revoked` `details.reason`). */
export type RevocationReason = 'user' | 'admin' | 'password_changed' | 'mfa_reset' | 'recovery' | 'factor_removed';

export class PolicyRepository {
  constructor(
    private readonly db: Db,
    private readonly dialect: 'sqlite' | 'postgres',
  ) {}

  /** Every rule's state for an identity. */
  async states(identityId: string, db: Db = this.db): Promise<StoredPolicyState[]> {
    const rows = await db.selectFrom('mfa_policy_states').selectAll().where('identity_id', '=', identityId).execute();
    return rows.map((r) => ({ ruleId: r.rule_id, firstAppliedAtMs: Number(r.first_applied_at), loginCount: Number(r.login_count), lastDecision: r.last_decision }));
  }

  /**
   * The rule applies to the identity now: its row is created when missing (`applied` true: the grace starts), and a
   * sign-in under it is counted (`countLogin`). Returns the state as stored.
   */
  async apply(trx: Db, input: { identityId: string; ruleId: string; nowMs: number; countLogin: boolean }): Promise<{ state: StoredPolicyState; applied: boolean }> {
    const inserted = await trx
      .insertInto('mfa_policy_states')
      .values({ identity_id: input.identityId, rule_id: input.ruleId, first_applied_at: input.nowMs, login_count: input.countLogin ? 1 : 0, last_decision: null, updated_at: input.nowMs })
      .onConflict((oc) => oc.columns(['identity_id', 'rule_id']).doNothing())
      .executeTakeFirst();
    const applied = Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0;
    if (!applied && input.countLogin) {
      await trx
        .updateTable('mfa_policy_states')
        .set({ login_count: sql<number>`login_count + 1`, updated_at: input.nowMs })
        .where('identity_id', '=', input.identityId)
        .where('rule_id', '=', input.ruleId)
        .execute();
    }
    const row = await trx.selectFrom('mfa_policy_states').selectAll().where('identity_id', '=', input.identityId).where('rule_id', '=', input.ruleId).executeTakeFirstOrThrow();
    return { state: { ruleId: row.rule_id, firstAppliedAtMs: Number(row.first_applied_at), loginCount: Number(row.login_count), lastDecision: row.last_decision }, applied };
  }

  /** Records the decision of a session use; true only for the request that changed it (audited once per change). */
  async recordDecision(db: Db, identityId: string, ruleId: string, decision: string, nowMs: number): Promise<boolean> {
    const result = await db
      .updateTable('mfa_policy_states')
      .set({ last_decision: decision, updated_at: nowMs })
      .where('identity_id', '=', identityId)
      .where('rule_id', '=', ruleId)
      .where((eb) => eb.or([eb('last_decision', 'is', null), eb('last_decision', '!=', decision)]))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** The identity's states as one scalar, loaded with the session (`FlowEngine.sessionFacts`). */
  statesFact() {
    return this.dialect === 'postgres'
      ? sql<unknown>`(select coalesce(json_agg(json_build_array(p.rule_id, p.first_applied_at, p.login_count, p.last_decision)), '[]'::json)::text from mfa_policy_states p where p.identity_id = i.id)`
      : sql<unknown>`(select json_group_array(json_array(p.rule_id, p.first_applied_at, p.login_count, p.last_decision)) from mfa_policy_states p where p.identity_id = i.id)`;
  }

  static parseStatesFact(value: unknown): StoredPolicyState[] | null {
    if (value === undefined || value === null) return null;
    const rows = (typeof value === 'string' ? JSON.parse(value) : value) as [string, number | string, number | string, string | null][];
    return rows.map(([ruleId, first, count, last]) => ({ ruleId, firstAppliedAtMs: Number(first), loginCount: Number(count), lastDecision: last }));
  }

  // ---- remembered devices -----------------------------------------------------------------------------------------

  async insertDevice(trx: Db, device: Omit<RememberedDevice, 'lastUsedAtMs' | 'revokedAtMs' | 'revokedReason'> & { tokenHash: string }): Promise<void> {
    await trx
      .insertInto('mfa_remembered_devices')
      .values({
        id: device.id,
        identity_id: device.identityId,
        token_hash: device.tokenHash,
        method: device.method,
        rule_id: device.ruleId,
        user_agent: device.userAgent ? device.userAgent.slice(0, 512) : null,
        ip_address: device.ipAddress ? device.ipAddress.slice(0, 64) : null,
        created_at: device.createdAtMs,
        expires_at: device.expiresAtMs,
        last_used_at: null,
        revoked_at: null,
        revoked_reason: null,
      })
      .execute();
  }

  async findDeviceByHash(hashes: string[], db: Db = this.db): Promise<RememberedDevice | null> {
    if (hashes.length === 0) return null;
    const row = await db.selectFrom('mfa_remembered_devices').selectAll().where('token_hash', 'in', hashes).executeTakeFirst();
    return row ? toDevice(row) : null;
  }

  /** Marks a use; false when the device was revoked meanwhile (the skip is then refused). */
  async markUsed(trx: Db, id: string, nowMs: number): Promise<boolean> {
    const result = await trx.updateTable('mfa_remembered_devices').set({ last_used_at: nowMs }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Devices not revoked and not expired, newest first. */
  async activeDevices(identityId: string, nowMs: number, db: Db = this.db): Promise<RememberedDevice[]> {
    const rows = await db
      .selectFrom('mfa_remembered_devices')
      .selectAll()
      .where('identity_id', '=', identityId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', nowMs)
      .orderBy('created_at', 'desc')
      .limit(200)
      .execute();
    return rows.map(toDevice);
  }

  /**
   * Revokes the identity's devices (one, those bound to a method, or all) that are not revoked yet; returns the ids
   * revoked by this statement. A device of another identity is never touched.
   */
  async revoke(db: Db, input: { identityId: string; reason: RevocationReason; nowMs: number; deviceId?: string; method?: string }): Promise<string[]> {
    let q = db
      .updateTable('mfa_remembered_devices')
      .set({ revoked_at: input.nowMs, revoked_reason: input.reason })
      .where('identity_id', '=', input.identityId)
      .where('revoked_at', 'is', null);
    if (input.deviceId) q = q.where('id', '=', input.deviceId);
    if (input.method) q = q.where('method', '=', input.method);
    const rows = await q.returning('id').execute();
    return rows.map((r) => r.id);
  }

  /** Whether the identity still has a credential of this type (a removed factor takes its devices with it). */
  async hasCredential(db: Db, identityId: string, type: string): Promise<boolean> {
    const row = await db.selectFrom('identity_credentials').select('id').where('identity_id', '=', identityId).where('type', '=', type).executeTakeFirst();
    return row !== undefined;
  }
}
