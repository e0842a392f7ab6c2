/**
 * Which addresses count for account recovery (Kairos; the recovery flow asks here):
 * - the schema's recovery addresses (traits marked `recovery.via: email`, table identity_recovery_addresses), as in
 *   Kratos;
 * - secondary recovery addresses a user added in settings (identity_secondary_recovery_addresses), **only once
 *   verified** through the verification flow. An unverified one never counts.
 */
import type { Db } from './repository.js';
import type { Clock } from '../support/clock.js';
import type { Random } from '../support/random.js';
import { affectedRows, isUniqueViolation } from '../storage/db.js';
import type { SecondaryRecoveryAddressesTable } from '../storage/tables.js';

export interface CountingRecoveryAddress {
  value: string;
  via: string;
  source: 'schema' | 'secondary';
}

export interface SecondaryRecoveryAddress {
  id: string;
  identityId: string;
  value: string;
  via: string;
  verified: boolean;
  verifiedAtMs: number | null;
  createdAtMs: number;
}

/** Another identity already verified this address as its recovery address. */
export class RecoveryAddressTakenError extends Error {
  constructor() {
    super('recovery address already verified by another identity');
  }
}

const toModel = (row: SecondaryRecoveryAddressesTable): SecondaryRecoveryAddress => ({
  id: row.id,
  identityId: row.identity_id,
  value: row.value,
  via: row.via,
  verified: row.verified === 1,
  verifiedAtMs: row.verified_at,
  createdAtMs: row.created_at,
});

/** Email addresses compare case-insensitively and without surrounding space (as the schema's facts do). */
export const normalizeEmail = (value: string): string => value.trim().toLowerCase();

export class RecoveryAddressBook {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly random: Random,
  ) {}

  /**
   * The identity whose verified recovery address this is, or null: a trait address marked `recovery.via: email`
   * that is also a verified address, or a secondary recovery address (settings) once verified; the identity must be
   * active. Two queries whatever the answer, so the lookup costs a known and an unknown address the same.
   */
  async findRecoveryTarget(email: string, db: Db = this.db): Promise<{ identityId: string; address: string } | null> {
    const primary = await db
      .selectFrom('identity_recovery_addresses as r')
      .innerJoin('identity_verifiable_addresses as v', (join) => join.onRef('v.identity_id', '=', 'r.identity_id').onRef('v.value', '=', 'r.value'))
      .innerJoin('identities as i', 'i.id', 'r.identity_id')
      .select(['r.identity_id', 'r.value'])
      .where('r.value', '=', email)
      .where('r.via', '=', 'email')
      .where('v.verified', '=', 1)
      .where('i.state', '=', 'active')
      .limit(1)
      .executeTakeFirst();
    const secondary = await db
      .selectFrom('identity_secondary_recovery_addresses as s')
      .innerJoin('identities as i', 'i.id', 's.identity_id')
      .select(['s.identity_id', 's.value'])
      .where('s.verified_value', '=', email)
      .where('s.via', '=', 'email')
      .where('s.verified', '=', 1)
      .where('i.state', '=', 'active')
      .executeTakeFirst();
    const row = primary ?? secondary;
    return row ? { identityId: row.identity_id, address: row.value } : null;
  }

  /** Every address that counts for recovery of this identity. */
  async countingFor(identityId: string, db: Db = this.db): Promise<CountingRecoveryAddress[]> {
    const schema = await db.selectFrom('identity_recovery_addresses').select(['value', 'via']).where('identity_id', '=', identityId).orderBy('created_at').execute();
    const secondary = await db
      .selectFrom('identity_secondary_recovery_addresses')
      .select(['value', 'via'])
      .where('identity_id', '=', identityId)
      .where('verified', '=', 1)
      .orderBy('created_at')
      .execute();
    const out: CountingRecoveryAddress[] = schema.map((a) => ({ ...a, source: 'schema' as const }));
    for (const a of secondary) if (!out.some((o) => o.value === a.value && o.via === a.via)) out.push({ ...a, source: 'secondary' });
    return out;
  }

  /** The identity whose recovery address this is (schema addresses first, then verified secondary ones), or null. */
  async findIdentityId(value: string, via = 'email', db: Db = this.db): Promise<string | null> {
    const normalized = normalizeEmail(value);
    const schema = await db.selectFrom('identity_recovery_addresses').select('identity_id').where('via', '=', via).where('value', '=', normalized).executeTakeFirst();
    if (schema) return schema.identity_id;
    const secondary = await db
      .selectFrom('identity_secondary_recovery_addresses')
      .select('identity_id')
      .where('via', '=', via)
      .where('verified_value', '=', normalized)
      .executeTakeFirst();
    return secondary?.identity_id ?? null;
  }

  async listSecondary(identityId: string, db: Db = this.db): Promise<SecondaryRecoveryAddress[]> {
    const rows = await db.selectFrom('identity_secondary_recovery_addresses').selectAll().where('identity_id', '=', identityId).orderBy('created_at').orderBy('id').execute();
    return rows.map(toModel);
  }

  /** Secondary addresses (of any identity, verified or not) with this value: verification targets. */
  async findSecondaryByValue(value: string, via = 'email', db: Db = this.db): Promise<SecondaryRecoveryAddress[]> {
    const rows = await db.selectFrom('identity_secondary_recovery_addresses').selectAll().where('via', '=', via).where('value', '=', normalizeEmail(value)).execute();
    return rows.map(toModel);
  }

  async addSecondary(identityId: string, value: string, via = 'email', db: Db = this.db): Promise<SecondaryRecoveryAddress> {
    const now = this.clock.nowMs();
    const row: SecondaryRecoveryAddressesTable = {
      id: this.random.uuid(),
      identity_id: identityId,
      value: normalizeEmail(value),
      via,
      verified: 0,
      verified_value: null,
      verified_at: null,
      created_at: now,
      updated_at: now,
    };
    await db.insertInto('identity_secondary_recovery_addresses').values(row).execute();
    return toModel(row);
  }

  async removeSecondary(identityId: string, value: string, db: Db = this.db): Promise<boolean> {
    const result = await db
      .deleteFrom('identity_secondary_recovery_addresses')
      .where('identity_id', '=', identityId)
      .where('value', '=', normalizeEmail(value))
      .executeTakeFirst();
    return affectedRows(result) > 0;
  }

  /** Marks it verified (it counts for recovery from now on); RecoveryAddressTakenError if another identity has it. */
  async markSecondaryVerified(id: string, identityId: string, db: Db = this.db): Promise<boolean> {
    const now = this.clock.nowMs();
    try {
      const result = await db
        .updateTable('identity_secondary_recovery_addresses')
        .set((eb) => ({ verified: 1, verified_value: eb.ref('value'), verified_at: now, updated_at: now }))
        .where('id', '=', id)
        .where('identity_id', '=', identityId)
        .executeTakeFirst();
      return affectedRows(result) === 1;
    } catch (err) {
      if (isUniqueViolation(err)) throw new RecoveryAddressTakenError();
      throw err;
    }
  }
}
