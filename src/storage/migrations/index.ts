import type { Migration } from 'kysely';
import * as core from './20261122T0900_core.js';
import * as audit from './20261122T0901_audit.js';
import * as totp from './20261122T1000_totp.js';
import * as mfaLockout from './20261201T1000_mfa_lockout.js';
import * as lookupSecrets from './20261201T1100_lookup_secrets.js';
import * as totpDiagnostics from './20261201T1200_totp_diagnostics.js';
import * as recovery from './20261201T1400_recovery.js';
import * as courier from './20261201T1300_courier.js';
import * as addressIdentityIndexes from './20261201T2000_address_identity_indexes.js';
import * as hardening from './20261204T1200_hardening.js';
import * as webauthnKeys from './20261204T1800_webauthn_keys.js';
import * as credentialIdentifierIndex from './20261204T1900_credential_identifier_index.js';
import * as mfaPolicy from './20261215T1000_mfa_policy.js';
import * as courierSms from './20261210T1000_courier_sms.js';
import * as console_ from './20261216T1000_console.js';
import * as identityOrderIndexes from './20261220T1000_identity_order_indexes.js';
import * as webauthnPasswordless from './20261221T1000_webauthn_passwordless.js';

/**
 * The one migration chain, shared by SQLite and PostgreSQL, applied in name order. Add a module's migration here
 * with a timestamped name; never edit one that has shipped.
 */
export const migrations: Record<string, Migration> = {
  '20261122T0900_core': core,
  '20261122T0901_audit': audit,
  '20261122T1000_totp': totp,
  '20261201T1000_mfa_lockout': mfaLockout,
  '20261201T1100_lookup_secrets': lookupSecrets,
  '20261201T1200_totp_diagnostics': totpDiagnostics,
  '20261201T1300_courier': courier,
  '20261201T1400_recovery': recovery,
  '20261201T2000_address_identity_indexes': addressIdentityIndexes,
  '20261204T1200_hardening': hardening,
  '20261204T1800_webauthn_keys': webauthnKeys,
  '20261204T1900_credential_identifier_index': credentialIdentifierIndex,
  '20261210T1000_courier_sms': courierSms,
  '20261215T1000_mfa_policy': mfaPolicy,
  '20261216T1000_console': console_,
  '20261220T1000_identity_order_indexes': identityOrderIndexes,
  '20261221T1000_webauthn_passwordless': webauthnPasswordless,
};
