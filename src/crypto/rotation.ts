/**
 * Re-encryption of every secret stored under `secrets.cipher` with the first (primary) key — the second half of a
 * key rotation ("prepend the new secret, run `kairos secrets rotate`, later drop the old one").
 *
 * Each place that stores SecretCipher tokens is a source here. A source walks its rows in key order, one batch per
 * transaction, re-encrypts every token not yet under the primary key, and writes it with a compare-and-swap on the
 * old value (a row changed meanwhile is left alone and picked up by the next run). Rows already under the primary
 * key are skipped, so a run is idempotent and an interrupted run can simply be repeated.
 */
import { previousSecretAad } from '../mfa/diagnosis/repository.js';
import type { Kysely } from 'kysely';
import { affectedRows } from '../storage/db.js';
import type { Database } from '../storage/tables.js';
import type { SecretCipher } from './secret-cipher.js';

export interface BatchResult {
  /** Rows looked at. */
  scanned: number;
  /** Tokens re-encrypted with the primary key. */
  rotated: number;
  /** Tokens that no configured key decrypts (left unchanged). */
  failed: number;
  /** Where the next batch starts; null when the source is exhausted. */
  nextAfter: string | null;
}

export interface EncryptedSecretSource {
  /** Shown in progress output, e.g. `totp_credentials.secret_ciphertext`. */
  readonly name: string;
  /** Rows the source will scan (for the progress bar). */
  count(db: Kysely<Database>): Promise<number>;
  rotateBatch(db: Kysely<Database>, cipher: SecretCipher, after: string | null, batchSize: number): Promise<BatchResult>;
}

/** Re-encrypts one token if needed: the new token, null when already current, or 'failed'. */
function reencrypt(cipher: SecretCipher, token: string, aad: string): string | null | 'failed' {
  if (cipher.isEncryptedWithPrimary(token)) {
    // The header names the primary key; make sure it really decrypts before calling it current.
    try {
      cipher.decrypt(token, aad);
      return null;
    } catch {
      return 'failed';
    }
  }
  try {
    return cipher.encrypt(cipher.decrypt(token, aad), aad);
  } catch {
    return 'failed';
  }
}

/** `totp_credentials.secret_ciphertext`, additional data = credential id. */
export const totpSecretsSource: EncryptedSecretSource = {
  name: 'totp_credentials.secret_ciphertext',
  async count(db) {
    const row = await db.selectFrom('totp_credentials').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst();
    return Number(row?.n ?? 0);
  },
  async rotateBatch(db, cipher, after, batchSize) {
    return db.transaction().execute(async (trx) => {
      let query = trx.selectFrom('totp_credentials').select(['credential_id', 'secret_ciphertext']).orderBy('credential_id').limit(batchSize);
      if (after !== null) query = query.where('credential_id', '>', after);
      const rows = await query.execute();
      const result: BatchResult = { scanned: rows.length, rotated: 0, failed: 0, nextAfter: rows.length === batchSize ? rows[rows.length - 1]!.credential_id : null };
      for (const row of rows) {
        const next = reencrypt(cipher, row.secret_ciphertext, row.credential_id);
        if (next === 'failed') result.failed++;
        if (next === null || next === 'failed') continue;
        const update = await trx
          .updateTable('totp_credentials')
          .set({ secret_ciphertext: next })
          .where('credential_id', '=', row.credential_id)
          .where('secret_ciphertext', '=', row.secret_ciphertext)
          .executeTakeFirst();
        if (affectedRows(update) === 1) result.rotated++;
      }
      return result;
    });
  },
};

/**
 * Encrypted entries of a flow's server-only `internal` JSON: where the token sits and what its additional data is.
 * A module that keeps a new encrypted entry in a flow adds one line here.
 */
export interface FlowInternalToken {
  key: string;
  tokenField: string;
  aadOf(entry: Record<string, unknown>, flowId: string): string | null;
}

export const FLOW_INTERNAL_TOKENS: FlowInternalToken[] = [
  // credentials/totp: the pending enrollment secret, bound to the credential id it will get.
  { key: 'totp_pending', tokenField: 'secret_ciphertext', aadOf: (entry) => (typeof entry.credential_id === 'string' ? entry.credential_id : null) },
  // credentials/lookup-secret: recovery codes waiting for confirmation, bound to the flow.
  { key: 'lookup_secret_pending', tokenField: 'ciphertext', aadOf: (_entry, flowId) => `lookup_secret_pending:${flowId}` },
];

/** Pending enrollments of settings flows (`selfservice_flows.internal`, see FLOW_INTERNAL_TOKENS). */
export const flowInternalSource: EncryptedSecretSource = {
  name: 'selfservice_flows.internal (pending enrollments)',
  async count(db) {
    const row = await db.selectFrom('selfservice_flows').select((eb) => eb.fn.countAll<number>().as('n')).where('kind', '=', 'settings').executeTakeFirst();
    return Number(row?.n ?? 0);
  },
  async rotateBatch(db, cipher, after, batchSize) {
    return db.transaction().execute(async (trx) => {
      let query = trx.selectFrom('selfservice_flows').select(['id', 'internal']).where('kind', '=', 'settings').orderBy('id').limit(batchSize);
      if (after !== null) query = query.where('id', '>', after);
      const rows = await query.execute();
      const result: BatchResult = { scanned: rows.length, rotated: 0, failed: 0, nextAfter: rows.length === batchSize ? rows[rows.length - 1]!.id : null };
      for (const row of rows) {
        let internal: Record<string, unknown>;
        try {
          internal = JSON.parse(row.internal);
        } catch {
          continue;
        }
        let changed = 0;
        for (const spec of FLOW_INTERNAL_TOKENS) {
          const entry = internal[spec.key] as Record<string, unknown> | undefined;
          const token = entry?.[spec.tokenField];
          if (!entry || typeof token !== 'string') continue;
          const aad = spec.aadOf(entry, row.id);
          const next = aad === null ? 'failed' : reencrypt(cipher, token, aad);
          if (next === 'failed') result.failed++;
          if (next === null || next === 'failed') continue;
          entry[spec.tokenField] = next;
          changed++;
        }
        if (changed === 0) continue;
        const update = await trx
          .updateTable('selfservice_flows')
          .set({ internal: JSON.stringify(internal) })
          .where('id', '=', row.id)
          .where('internal', '=', row.internal)
          .executeTakeFirst();
        if (affectedRows(update) === 1) result.rotated += changed;
      }
      return result;
    });
  },
};

/**
 * Secrets of removed or replaced TOTP credentials kept for the rejection diagnosis (mfa/diagnosis):
 * `totp_previous_secrets.secret_ciphertext`, additional data = `totp_previous_secrets/<id>`.
 */
export const previousTotpSecretsSource: EncryptedSecretSource = {
  name: 'totp_previous_secrets.secret_ciphertext',
  async count(db) {
    const row = await db.selectFrom('totp_previous_secrets').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst();
    return Number(row?.n ?? 0);
  },
  async rotateBatch(db, cipher, after, batchSize) {
    return db.transaction().execute(async (trx) => {
      let query = trx.selectFrom('totp_previous_secrets').select(['id', 'secret_ciphertext']).orderBy('id').limit(batchSize);
      if (after !== null) query = query.where('id', '>', after);
      const rows = await query.execute();
      const result: BatchResult = { scanned: rows.length, rotated: 0, failed: 0, nextAfter: rows.length === batchSize ? rows[rows.length - 1]!.id : null };
      for (const row of rows) {
        const next = reencrypt(cipher, row.secret_ciphertext, previousSecretAad(row.id));
        if (next === 'failed') result.failed++;
        if (next === null || next === 'failed') continue;
        const update = await trx
          .updateTable('totp_previous_secrets')
          .set({ secret_ciphertext: next })
          .where('id', '=', row.id)
          .where('secret_ciphertext', '=', row.secret_ciphertext)
          .executeTakeFirst();
        if (affectedRows(update) === 1) result.rotated++;
      }
      return result;
    });
  },
};

/** Every place that stores SecretCipher tokens. A module that encrypts a new column adds its source here. */
export const ENCRYPTED_SECRET_SOURCES: EncryptedSecretSource[] = [totpSecretsSource, flowInternalSource, previousTotpSecretsSource];

export interface RotationSummary {
  scanned: number;
  rotated: number;
  failed: number;
  bySource: Record<string, { scanned: number; rotated: number; failed: number }>;
}

/** Runs every source to the end. `onProgress(scannedSoFar, total)` drives a progress bar. */
export async function rotateAllSecrets(input: {
  db: Kysely<Database>;
  cipher: SecretCipher;
  batchSize: number;
  sources?: EncryptedSecretSource[];
  onStart?(total: number): void;
  onProgress?(scanned: number): void;
}): Promise<RotationSummary> {
  if (!Number.isSafeInteger(input.batchSize) || input.batchSize < 1) throw new TypeError('batchSize must be a positive integer');
  const sources = input.sources ?? ENCRYPTED_SECRET_SOURCES;
  let total = 0;
  for (const source of sources) total += await source.count(input.db);
  input.onStart?.(total);
  const summary: RotationSummary = { scanned: 0, rotated: 0, failed: 0, bySource: {} };
  for (const source of sources) {
    const own = { scanned: 0, rotated: 0, failed: 0 };
    let after: string | null = null;
    do {
      const batch: BatchResult = await source.rotateBatch(input.db, input.cipher, after, input.batchSize);
      own.scanned += batch.scanned;
      own.rotated += batch.rotated;
      own.failed += batch.failed;
      summary.scanned += batch.scanned;
      input.onProgress?.(summary.scanned);
      after = batch.nextAfter;
    } while (after !== null);
    summary.rotated += own.rotated;
    summary.failed += own.failed;
    summary.bySource[source.name] = own;
  }
  return summary;
}
