import type { Credential, Identity } from './identity.js';
import type { Db } from './repository.js';

/**
 * What a credential type may add to the admin API: importing credentials given at identity creation
 * (`credentials.<type>.config`), and the `config` shown under `include_credential`. Methods register theirs in the
 * registry; the admin API never switches on type names.
 */
export interface CredentialAdapter {
  readonly type: string;
  /** Validates and stores an imported credential for a newly created identity (inside its transaction). */
  importCredential?(identity: Identity, config: Record<string, unknown>, trx: Db): Promise<void>;
  /** The config the admin API shows with `include_credential=<type>`. Default: the stored config. */
  adminConfig?(credential: Credential, identity: Identity): Promise<Record<string, unknown>>;
  /** Admin summary for GET /admin/identities/{id}/mfa. */
  mfaSummary?(identity: Identity): Promise<Record<string, unknown> | null>;
  /** Whether the admin may delete this type (Kratos allows totp, lookup_secret, webauthn; first factors if another remains). */
  readonly deletable?: boolean;
  /** A first factor: the admin may delete it only while the identity keeps another first factor (Kratos). */
  readonly firstFactor?: boolean;
  /**
   * Builds an imported credential before the identity is stored (`POST` and `PUT /admin/identities`), for a type
   * whose import does slow work (hashing a password) that must not run inside the transaction. Throws an HttpError
   * (400) for a config it cannot take.
   */
  prepareImport?(identity: Identity, config: Record<string, unknown>): Promise<Credential>;
}
