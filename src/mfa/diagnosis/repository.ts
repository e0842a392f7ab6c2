/**
 * Storage of the TOTP diagnosis: previous secrets (encrypted, AAD bound to the row), the per-identity offset samples
 * of the population drift estimate, per-credential drift, and the rejections (read back from the audit trail).
 * Every read here is a plain SELECT, so `kairos doctor` can use it on a read-only connection.
 */
import type { Db } from '../../storage/db.js';
import type { TotpParameters } from '../../otp/otp.js';
import { totpParameterColumns, totpParametersOfColumns } from '../../otp/totp-parameters.js';
import type { DriftSample } from '../clock/population-drift.js';

export interface PreviousSecretRow {
  id: string;
  identityId: string;
  secretCiphertext: string;
  parameters: TotpParameters;
  issuer: string | null;
  accountName: string;
  enrolledAtMs: number;
  retiredAtMs: number;
}

export interface RejectionRecord {
  atMs: number;
  cause: string;
  offsetSteps: number | null;
  offsetSeconds: number | null;
  credentialId: string | null;
  flowId: string | null;
}

/** The additional data binding a previous secret's ciphertext to its row (never valid as an active credential's). */
export const previousSecretAad = (id: string) => `totp_previous_secrets/${id}`;

export class DiagnosisRepository {
  constructor(private readonly db: Db) {}

  async insertPreviousSecret(row: PreviousSecretRow, db: Db = this.db): Promise<void> {
    await db
      .insertInto('totp_previous_secrets')
      .values({
        id: row.id,
        identity_id: row.identityId,
        secret_ciphertext: row.secretCiphertext,
        ...totpParameterColumns(row.parameters),
        issuer: row.issuer,
        account_name: row.accountName,
        enrolled_at: row.enrolledAtMs,
        retired_at: row.retiredAtMs,
      })
      .execute();
  }

  /** Previous secrets of one identity retired at or after `sinceMs`, most recent first. */
  async previousSecrets(identityId: string, sinceMs: number, db: Db = this.db): Promise<PreviousSecretRow[]> {
    const rows = await db
      .selectFrom('totp_previous_secrets')
      .selectAll()
      .where('identity_id', '=', identityId)
      .where('retired_at', '>=', sinceMs)
      .orderBy('retired_at', 'desc')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      identityId: r.identity_id,
      secretCiphertext: r.secret_ciphertext,
      parameters: totpParametersOfColumns(r),
      issuer: r.issuer,
      accountName: r.account_name,
      enrolledAtMs: Number(r.enrolled_at),
      retiredAtMs: Number(r.retired_at),
    }));
  }

  /** Deletes every previous secret retired before `beforeMs` (retention); returns how many. */
  async purgePreviousSecrets(beforeMs: number, db: Db = this.db): Promise<number> {
    const result = await db.deleteFrom('totp_previous_secrets').where('retired_at', '<', beforeMs).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async saveRefusedSteps(db: Db, credentialId: string, refusedSteps: string): Promise<void> {
    await db.updateTable('totp_credentials').set({ refused_steps: refusedSteps }).where('credential_id', '=', credentialId).execute();
  }

  /**
   * A sample from a REJECTED code the diagnosis put down to clock skew (one row per identity, the latest). Accepted
   * codes need no row here: the statement that consumes the code stores its offset on the credential
   * (`recent_offsets`, `last_used_step`), and `samplesSince` reads it from there.
   */
  async upsertSample(sample: DriftSample, db: Db = this.db): Promise<void> {
    await db
      .insertInto('totp_offset_samples')
      .values({ identity_id: sample.identityId, offset_steps: sample.offsetSteps, period_seconds: sample.periodSeconds, observed_at: sample.atMs })
      .onConflict((oc) => oc.column('identity_id').doUpdateSet({ offset_steps: sample.offsetSteps, period_seconds: sample.periodSeconds, observed_at: sample.atMs }))
      .execute();
  }

  /**
   * Samples observed since `sinceMs`: rejected codes' (totp_offset_samples) and each credential's last accepted code
   * (its last offset, observed in the server's step `last_used_step − offset`, dated at that step's start). The
   * estimator keeps the latest per identity.
   */
  async samplesSince(sinceMs: number): Promise<DriftSample[]> {
    const rejected = await this.db.selectFrom('totp_offset_samples').selectAll().where('observed_at', '>=', sinceMs).execute();
    const samples: DriftSample[] = rejected.map((r) => ({ identityId: r.identity_id, offsetSteps: Number(r.offset_steps), periodSeconds: Number(r.period_seconds), atMs: Number(r.observed_at) }));
    const accepted = await this.db
      .selectFrom('totp_credentials')
      .select(['identity_id', 'last_used_step', 'period_seconds', 'recent_offsets'])
      .where('last_used_step', 'is not', null)
      .where('recent_offsets', '!=', '')
      .execute();
    for (const row of accepted) {
      const offsetSteps = Number(row.recent_offsets.split(',').at(-1));
      const periodSeconds = Number(row.period_seconds);
      const atMs = (Number(row.last_used_step) - offsetSteps) * periodSeconds * 1000;
      if (Number.isSafeInteger(offsetSteps) && atMs >= sinceMs) samples.push({ identityId: row.identity_id, offsetSteps, periodSeconds, atMs });
    }
    return samples;
  }

  /** The identity's last TOTP rejections with their causes (audit events `second_factor.rejected`), newest first. */
  async recentRejections(identityId: string, limit: number): Promise<RejectionRecord[]> {
    const rows = await this.db
      .selectFrom('audit_events')
      .select(['created_at', 'details', 'flow_id'])
      .where('identity_id', '=', identityId)
      .where('type', '=', 'second_factor.rejected')
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows
      .map((r) => ({ atMs: Number(r.created_at), details: JSON.parse(r.details) as Record<string, unknown>, flowId: r.flow_id }))
      .filter((r) => r.details.method === 'totp')
      .map((r) => ({
        atMs: r.atMs,
        cause: String(r.details.cause),
        offsetSteps: typeof r.details.offset_steps === 'number' ? r.details.offset_steps : null,
        offsetSeconds: typeof r.details.offset_seconds === 'number' ? r.details.offset_seconds : null,
        credentialId: typeof r.details.credential_id === 'string' ? r.details.credential_id : null,
        flowId: r.flowId,
      }));
  }
}
