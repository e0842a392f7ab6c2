import { sql, type RawBuilder, type Selectable } from 'kysely';
import type { Db } from '../../storage/db.js';
import { prepareQuery } from '../../storage/prepared.js';
import type { TotpCredentialsTable } from '../../storage/tables.js';
import { assertTotpParameters, totpParameterColumns, totpParametersOfColumns, type TotpParameters } from '../../otp/totp-parameters.js';

/** A stored TOTP credential; the secret stays encrypted until a code is checked. */
export interface TotpCredentialRow {
  credentialId: string;
  identityId: string;
  secretCiphertext: string;
  parameters: TotpParameters;
  issuer: string | null;
  accountName: string;
  lastUsedStep: number | null;
  createdAtMs: number;
  /** RFC 6238 §6 drift: centre of the accepted window in steps (0 until learned; mfa/diagnosis/drift.ts). */
  driftSteps?: number;
  /** Offsets of the last accepted codes, oldest first. */
  recentOffsets?: number[];
  /** Future steps a clock-skew diagnosis revealed; never accepted. */
  refusedSteps?: number[];
}

const numberList = (stored: string | null | undefined): number[] =>
  stored ? stored.split(',').map(Number).filter((n) => Number.isSafeInteger(n)) : [];

function fromRow(row: Selectable<TotpCredentialsTable>): TotpCredentialRow {
  const parameters = totpParametersOfColumns(row);
  assertTotpParameters(parameters);
  return {
    credentialId: row.credential_id,
    identityId: row.identity_id,
    secretCiphertext: row.secret_ciphertext,
    parameters,
    issuer: row.issuer,
    accountName: row.account_name,
    lastUsedStep: row.last_used_step === null ? null : Number(row.last_used_step),
    createdAtMs: Number(row.created_at),
    driftSteps: Number(row.drift_steps ?? 0),
    recentOffsets: numberList(row.recent_offsets),
    refusedSteps: numberList(row.refused_steps),
  };
}

export class TotpRepository {
  constructor(private readonly db: Db) {}

  async insert(row: TotpCredentialRow, db: Db = this.db): Promise<void> {
    await db
      .insertInto('totp_credentials')
      .values({
        credential_id: row.credentialId,
        identity_id: row.identityId,
        secret_ciphertext: row.secretCiphertext,
        ...totpParameterColumns(row.parameters),
        issuer: row.issuer,
        account_name: row.accountName,
        last_used_step: row.lastUsedStep,
        created_at: row.createdAtMs,
      })
      .execute();
  }

  async findByCredentialId(credentialId: string, db: Db = this.db): Promise<TotpCredentialRow | null> {
    const row = await db.selectFrom('totp_credentials').selectAll().where('credential_id', '=', credentialId).executeTakeFirst();
    return row ? fromRow(row) : null;
  }

  /** Every TOTP row of an identity (normally at most one). */
  async findByIdentityId(identityId: string, db: Db = this.db): Promise<TotpCredentialRow[]> {
    const rows = await db.selectFrom('totp_credentials').selectAll().where('identity_id', '=', identityId).execute();
    return rows.map(fromRow);
  }

  /**
   * Accepts time step `step` once (RFC 6238 §5.2: "the verifier MUST NOT accept the second attempt of the same
   * OTP after the successful validation has been issued for the first OTP"). One conditional UPDATE decides, so two
   * concurrent submissions of one code, on one instance or on several sharing the database, get one success: the
   * database serialises the row update and only the first sees `last_used_step < step`. Refusing earlier steps too
   * means a code from the window's past can never be used after a later one.
   */
  async consumeStep(step: number, credentialId: string, drift: { driftSteps: number; recentOffsets: string } | null, db: Db = this.db): Promise<boolean> {
    // The drift an accepted code teaches (mfa/diagnosis) is written by the same statement: one row update.
    const result = drift
      ? await consumeWithDrift.run(db, { step, credentialId, driftSteps: drift.driftSteps, recentOffsets: drift.recentOffsets })
      : await consume.run(db, { step, credentialId });
    return result.affectedRows === 1;
  }
}

/** RFC 6238 §5.2 single use: the step is consumed only if it is later than the last one used (compiled once). */
const consume = prepareQuery(
  (db, p: { step: number; credentialId: string }) =>
    db
      .updateTable('totp_credentials')
      .set({ last_used_step: p.step })
      .where('credential_id', '=', p.credentialId)
      .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', p.step)])),
  ['step', 'credentialId'],
);
const consumeWithDrift = prepareQuery(
  (db, p: { step: number; credentialId: string; driftSteps: number; recentOffsets: string }) =>
    db
      .updateTable('totp_credentials')
      .set({ last_used_step: p.step, drift_steps: p.driftSteps, recent_offsets: p.recentOffsets })
      .where('credential_id', '=', p.credentialId)
      .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', p.step)])),
  ['step', 'credentialId', 'driftSteps', 'recentOffsets'],
);

/**
 * The identity `i.id`'s TOTP row as one JSON scalar, for a statement that loads the session (a session fact): the
 * TOTP step then reads no row of its own.
 */
export function totpCredentialFact(dialect: 'sqlite' | 'postgres'): RawBuilder<unknown> {
  if (dialect === 'postgres') {
    return sql`(select to_json(t) from totp_credentials t where t.identity_id = i.id order by t.created_at limit 1)`;
  }
  return sql`(select json_object('credential_id', t.credential_id, 'identity_id', t.identity_id, 'secret_ciphertext', t.secret_ciphertext, 'algorithm', t.algorithm, 'digits', t.digits, 'period_seconds', t.period_seconds, 'issuer', t.issuer, 'account_name', t.account_name, 'last_used_step', t.last_used_step, 'created_at', t.created_at, 'drift_steps', t.drift_steps, 'recent_offsets', t.recent_offsets, 'refused_steps', t.refused_steps) from totp_credentials t where t.identity_id = i.id order by t.created_at limit 1)`;
}

/** The row a `totpCredentialFact` loaded, or null. */
export function totpRowFromFact(value: unknown): TotpCredentialRow | null {
  if (value === null || value === undefined) return null;
  return fromRow((typeof value === 'string' ? JSON.parse(value) : value) as Selectable<TotpCredentialsTable>);
}
