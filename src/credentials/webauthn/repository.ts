import type { Db } from '../../identity/repository.js';
import { affectedRows } from '../../storage/db.js';
import type { WebAuthnKeysTable } from '../../storage/tables.js';

/** The WebAuthn methods that store keys here. */
export type KeyMethod = 'webauthn' | 'passkey';

/** One registered key (a security key, or a passkey). Public material only. */
export interface WebAuthnKey {
  id: string;
  credentialId: string;
  identityId: string;
  method: KeyMethod;
  /** The authenticator's credential id, base64url. */
  keyId: string;
  /** COSE public key, base64url. */
  publicKey: string;
  signCount: number;
  transports: string[];
  aaguid: string;
  attestationFormat: string;
  userHandle: string;
  rpId: string;
  userVerified: boolean;
  backupEligible: boolean;
  backedUp: boolean;
  displayName: string;
  createdAtMs: number;
  lastUsedAtMs: number | null;
  /** Kratos's `is_passwordless`: the key signs in on its own (passwordless webauthn, passkeys), not as a second factor. */
  passwordless: boolean;
}

type Row = Omit<WebAuthnKeysTable, 'passwordless'> & { passwordless: number };

function fromRow(row: Row): WebAuthnKey {
  return {
    id: row.id,
    credentialId: row.credential_id,
    identityId: row.identity_id,
    method: row.method as KeyMethod,
    keyId: row.key_id,
    publicKey: row.public_key,
    signCount: Number(row.sign_count),
    transports: row.transports ? row.transports.split(',') : [],
    aaguid: row.aaguid,
    attestationFormat: row.attestation_format,
    userHandle: row.user_handle,
    rpId: row.rp_id,
    userVerified: Number(row.user_verified) === 1,
    backupEligible: Number(row.backup_eligible) === 1,
    backedUp: Number(row.backed_up) === 1,
    displayName: row.display_name,
    createdAtMs: Number(row.created_at),
    lastUsedAtMs: row.last_used_at === null ? null : Number(row.last_used_at),
    passwordless: Number(row.passwordless) === 1,
  };
}

/** The only code that writes `webauthn_keys`. */
export class WebAuthnKeyRepository {
  constructor(private readonly db: Db) {}

  async insert(key: WebAuthnKey, db: Db = this.db): Promise<void> {
    await db
      .insertInto('webauthn_keys')
      .values({
        id: key.id,
        credential_id: key.credentialId,
        identity_id: key.identityId,
        method: key.method,
        key_id: key.keyId,
        public_key: key.publicKey,
        sign_count: key.signCount,
        transports: key.transports.join(','),
        aaguid: key.aaguid,
        attestation_format: key.attestationFormat,
        user_handle: key.userHandle,
        rp_id: key.rpId,
        user_verified: key.userVerified ? 1 : 0,
        backup_eligible: key.backupEligible ? 1 : 0,
        backed_up: key.backedUp ? 1 : 0,
        display_name: key.displayName,
        created_at: key.createdAtMs,
        last_used_at: key.lastUsedAtMs,
        passwordless: key.passwordless ? 1 : 0,
      })
      .execute();
  }

  async listByIdentity(identityId: string, method: KeyMethod, db: Db = this.db): Promise<WebAuthnKey[]> {
    const rows = await db.selectFrom('webauthn_keys').selectAll().where('identity_id', '=', identityId).where('method', '=', method).orderBy('created_at').orderBy('id').execute();
    return rows.map((r) => fromRow(r as Row));
  }

  /** A key by the authenticator's credential id (passkey login: the key names its identity). */
  async findByKeyId(method: KeyMethod, keyId: string, db: Db = this.db): Promise<WebAuthnKey | null> {
    const row = await db.selectFrom('webauthn_keys').selectAll().where('method', '=', method).where('key_id', '=', keyId).executeTakeFirst();
    return row ? fromRow(row as Row) : null;
  }

  /**
   * Records a verified assertion: the new signature counter and the time, only if the stored counter is still the
   * one the verification saw (a conditional UPDATE), so two concurrent assertions of one cloned key cannot both pass
   * with the same counter. False when another assertion moved the counter first.
   */
  async recordUse(id: string, expectedSignCount: number, newSignCount: number, nowMs: number, backedUp: boolean, db: Db = this.db): Promise<boolean> {
    const result = await db
      .updateTable('webauthn_keys')
      .set({ sign_count: newSignCount, last_used_at: nowMs, backed_up: backedUp ? 1 : 0 })
      .where('id', '=', id)
      .where('sign_count', '=', expectedSignCount)
      .executeTakeFirst();
    return affectedRows(result) === 1;
  }

  async delete(id: string, db: Db = this.db): Promise<number> {
    return affectedRows(await db.deleteFrom('webauthn_keys').where('id', '=', id).executeTakeFirst());
  }

  async count(identityId: string, method: KeyMethod, db: Db = this.db): Promise<number> {
    const row = await db.selectFrom('webauthn_keys').select((eb) => eb.fn.countAll<string | number>().as('n')).where('identity_id', '=', identityId).where('method', '=', method).executeTakeFirst();
    return Number(row?.n ?? 0);
  }
}
