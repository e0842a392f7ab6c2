import type { Db } from '../../identity/repository.js';
import { affectedRows } from '../../storage/db.js';

/** One stored code as the rest of Kairos may see it: its position and status, never the code or its hash. */
export interface CodeStatus {
  position: number;
  usedAtMs: number | null;
}

export interface NewCodeRow {
  id: string;
  position: number;
  codeHash: string;
  usedAtMs: number | null;
}

export class LookupSecretRepository {
  constructor(private readonly db: Db) {}

  async insertCodes(credentialId: string, identityId: string, rows: NewCodeRow[], createdAtMs: number, db: Db = this.db): Promise<void> {
    if (rows.length === 0) return;
    await db
      .insertInto('lookup_secret_codes')
      .values(
        rows.map((r) => ({
          id: r.id,
          credential_id: credentialId,
          identity_id: identityId,
          position: r.position,
          code_hash: r.codeHash,
          used_at: r.usedAtMs,
          created_at: createdAtMs,
        })),
      )
      .execute();
  }

  /**
   * Marks the code with one of `hashes` used, once: a single conditional UPDATE (`… AND used_at IS NULL`) decides,
   * so of any number of concurrent submissions of one code, on one instance or several sharing the database, exactly
   * one changes the row (the database serialises the update and the others no longer match). Returns the position
   * of the consumed code, or null.
   */
  async consume(db: Db, identityId: string, hashes: string[], nowMs: number): Promise<number | null> {
    const row = await db
      .updateTable('lookup_secret_codes')
      .set({ used_at: nowMs })
      .where('identity_id', '=', identityId)
      .where('code_hash', 'in', hashes)
      .where('used_at', 'is', null)
      .returning('position')
      .executeTakeFirst();
    return row ? Number(row.position) : null;
  }

  /** Whether a code with one of `hashes` exists for the identity (used or not): tells 4000012 from 4000016. */
  async exists(db: Db, identityId: string, hashes: string[]): Promise<boolean> {
    const row = await db
      .selectFrom('lookup_secret_codes')
      .select('id')
      .where('identity_id', '=', identityId)
      .where('code_hash', 'in', hashes)
      .executeTakeFirst();
    return row !== undefined;
  }

  async statuses(credentialId: string, db: Db = this.db): Promise<CodeStatus[]> {
    const rows = await db
      .selectFrom('lookup_secret_codes')
      .select(['position', 'used_at'])
      .where('credential_id', '=', credentialId)
      .orderBy('position')
      .execute();
    return rows.map((r) => ({ position: Number(r.position), usedAtMs: r.used_at === null ? null : Number(r.used_at) }));
  }

  async remaining(identityId: string, db: Db = this.db): Promise<{ total: number; remaining: number }> {
    const rows = await db
      .selectFrom('lookup_secret_codes')
      .select((eb) => [eb.fn.countAll<number>().as('total'), eb.fn.count<number>('id').filterWhere('used_at', 'is', null).as('remaining')])
      .where('identity_id', '=', identityId)
      .executeTakeFirst();
    return { total: Number(rows?.total ?? 0), remaining: Number(rows?.remaining ?? 0) };
  }

  async hashesOf(credentialId: string, db: Db = this.db): Promise<Set<string>> {
    const rows = await db.selectFrom('lookup_secret_codes').select('code_hash').where('credential_id', '=', credentialId).execute();
    return new Set(rows.map((r) => r.code_hash));
  }

  async maxPosition(credentialId: string, db: Db = this.db): Promise<number> {
    const row = await db
      .selectFrom('lookup_secret_codes')
      .select((eb) => eb.fn.max<number>('position').as('max'))
      .where('credential_id', '=', credentialId)
      .executeTakeFirst();
    return Number(row?.max ?? 0);
  }
}
