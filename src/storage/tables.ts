/**
 * Row types of every table. Times are Unix milliseconds (bigint columns, read back as numbers); JSON is stored as
 * text; booleans as 0/1 integers. Keeping the representation identical on SQLite and PostgreSQL keeps dialect
 * differences inside storage/.
 */
import type { Generated } from 'kysely';

export interface IdentitiesTable {
  id: string;
  schema_id: string;
  state: 'active' | 'inactive';
  state_changed_at: number | null;
  traits: string;
  metadata_public: string | null;
  metadata_admin: string | null;
  external_id: string | null;
  created_at: number;
  updated_at: number;
}

export interface IdentityCredentialsTable {
  id: string;
  identity_id: string;
  type: string;
  config: string;
  version: number;
  created_at: number;
  updated_at: number;
}

export interface IdentityCredentialIdentifiersTable {
  id: string;
  identity_id: string;
  credential_id: string;
  type: string;
  identifier: string;
  created_at: number;
}

export interface VerifiableAddressesTable {
  id: string;
  identity_id: string;
  value: string;
  via: string;
  verified: number;
  status: 'pending' | 'sent' | 'completed';
  verified_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface RecoveryAddressesTable {
  id: string;
  identity_id: string;
  value: string;
  via: string;
  created_at: number;
  updated_at: number;
}

export interface SessionsTable {
  id: string;
  identity_id: string;
  token_hash: string;
  logout_token_hash: string;
  active: number;
  issued_at: number;
  expires_at: number;
  authenticated_at: number;
  /** JSON array of AMR entries: {method, aal, completed_at}, and `channel` (email, sms) for a code. */
  amr: string;
  ip_address: string | null;
  user_agent: string | null;
  created_at: number;
  updated_at: number;
}

export interface FlowsTable {
  id: string;
  kind: string;
  type: 'api' | 'browser';
  state: string;
  identity_id: string | null;
  session_id: string | null;
  request_url: string;
  return_to: string | null;
  requested_aal: string | null;
  refresh: number;
  /** Wrong second-factor submissions on this flow; capped atomically (see mfa/attempts). */
  failed_attempts: Generated<number>;
  active: string | null;
  /** JSON: the UI container persisted with its nodes and messages. */
  ui: string;
  /** JSON: server-only context (pending secrets, counters); never sent to a client. */
  internal: string;
  issued_at: number;
  expires_at: number;
  created_at: number;
  updated_at: number;
}

export interface SelfServiceErrorsTable {
  id: string;
  error: string;
  created_at: number;
}

export interface AuditEventsTable {
  id: string;
  type: string;
  identity_id: string | null;
  session_id: string | null;
  flow_id: string | null;
  actor: string | null;
  ip_address: string | null;
  user_agent: string | null;
  /** JSON; never a secret, code or token. */
  details: string;
  created_at: number;
}

export interface CoreTables {
  audit_events: AuditEventsTable;
  identities: IdentitiesTable;
  identity_credentials: IdentityCredentialsTable;
  identity_credential_identifiers: IdentityCredentialIdentifiersTable;
  identity_verifiable_addresses: VerifiableAddressesTable;
  identity_recovery_addresses: RecoveryAddressesTable;
  sessions: SessionsTable;
  selfservice_flows: FlowsTable;
  selfservice_errors: SelfServiceErrorsTable;
}

/** TOTP credentials (credentials/totp): secret encrypted, parameters per credential. */
export interface TotpCredentialsTable {
  credential_id: string;
  identity_id: string;
  /** SecretCipher token, additional data = credential_id. */
  secret_ciphertext: string;
  algorithm: string;
  digits: number;
  period_seconds: number;
  issuer: string | null;
  account_name: string;
  /** Last accepted RFC 6238 time step (replay protection); null until first use. */
  last_used_step: number | null;
  created_at: number;
  /** RFC 6238 §6: learned centre of the window, in steps from the server's step (mfa/diagnosis/drift.ts). */
  drift_steps: Generated<number>;
  /** Offsets of the last accepted codes, comma-separated, newest last. */
  recent_offsets: Generated<string>;
  /** Future steps revealed by a clock-skew diagnosis, never accepted (comma-separated). */
  refused_steps: Generated<string>;
}

/** Secrets of removed or replaced TOTP credentials (mfa/diagnosis): only to recognise an old entry; never accepted. */
export interface TotpPreviousSecretsTable {
  id: string;
  identity_id: string;
  /** SecretCipher token, additional data = `totp_previous_secrets/<id>`. */
  secret_ciphertext: string;
  algorithm: string;
  digits: number;
  period_seconds: number;
  issuer: string | null;
  account_name: string;
  enrolled_at: number;
  retired_at: number;
}

/** Latest TOTP offset per identity (population clock drift, mfa/diagnosis). */
export interface TotpOffsetSamplesTable {
  identity_id: string;
  offset_steps: number;
  period_seconds: number;
  observed_at: number;
}

/** Per-identity second-factor failure state (mfa/attempts): increasing delay and hard lock. */
export interface MfaLockoutsTable {
  identity_id: string;
  consecutive_failures: number;
  last_failure_at: number | null;
  next_attempt_at: number | null;
  locked_at: number | null;
  updated_at: number;
}

/** Recovery codes (credentials/lookup-secret): one row per code, keyed hash only. */
export interface LookupSecretCodesTable {
  id: string;
  credential_id: string;
  identity_id: string;
  /** 1-based position in the set as shown to the user. */
  position: number;
  /** HMAC-SHA256 of the normalised code (see credentials/lookup-secret/codes.ts), hex. */
  code_hash: string;
  used_at: number | null;
  created_at: number;
}

/** One-time recovery codes and admin recovery link tokens (recovery/): keyed hashes only, single use. */
export interface RecoveryCodesTable {
  id: string;
  identity_id: string;
  flow_id: string;
  kind: 'code' | 'link';
  code_hash: string;
  address: string | null;
  issued_by: string;
  expires_at: number;
  used_at: number | null;
  created_at: number;
}

/** MFA reset requests (recovery/mfa-reset.ts): pending → completed | cancelled. */
export interface MfaResetRequestsTable {
  id: string;
  identity_id: string;
  status: 'pending' | 'completed' | 'cancelled';
  flow_id: string | null;
  cancel_token_hash: string;
  not_before: number;
  completed_via: string | null;
  completed_at: number | null;
  cancelled_at: number | null;
  reenrolled_at: number | null;
  created_at: number;
  updated_at: number;
}

/** The courier's outbox (courier/): Kratos's message statuses. */
export interface CourierMessagesTable {
  id: string;
  type: 'email' | 'sms';
  status: 'queued' | 'processing' | 'sent' | 'abandoned';
  template_type: string;
  recipient: string;
  subject: string;
  /** Plain text, or a SecretCipher token (AAD = message id) when body_encrypted is 1. */
  body: string;
  html_body: string;
  /** SMS only: the template data its HTTP channel passes on (JSON, or a SecretCipher token when body_encrypted is 1). */
  template_data: string | null;
  body_encrypted: number;
  carries_secret: number;
  identity_id: string | null;
  send_count: number;
  next_attempt_at: number;
  /** Lease of the worker delivering it (status processing); an expired lease makes the message claimable again. */
  claimed_until: number | null;
  claim_token: string | null;
  created_at: number;
  updated_at: number;
}

export interface CourierMessageDispatchesTable {
  id: string;
  message_id: string;
  status: 'failed' | 'success';
  /** JSON {message, code?}; never the message body. */
  error: string | null;
  created_at: number;
}

/** One-time email codes (credentials/code/): keyed hash only; single use by conditional UPDATE. */
export interface OneTimeCodesTable {
  id: string;
  purpose: string;
  flow_id: string;
  identity_id: string | null;
  address: string;
  code_hash: string;
  attempts: number;
  max_attempts: number;
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
  created_at: number;
  /** The requesting client (its IP), for the per-client mail quota; null for codes sent without a request. */
  client_key: Generated<string | null>;
  /** 1 when the address's owner asked (their session, or a client they signed in from): drawn from the reserve. */
  owner_request: Generated<number>;
}

/** Fixed-window request counters of the rate limits (http/plugins/rate-limit-store.ts). */
export interface RateLimitCountersTable {
  key: string;
  hits: number;
  window_ends_at: number;
}

/** Recovery addresses added in settings (Kairos); they count for recovery only when verified. */
export interface SecondaryRecoveryAddressesTable {
  id: string;
  identity_id: string;
  value: string;
  via: string;
  verified: number;
  /** `value` once verified (unique: one verified owner per address), else null. */
  verified_value: string | null;
  verified_at: number | null;
  created_at: number;
  updated_at: number;
}

/** WebAuthn keys (credentials/webauthn, credentials/passkey): public keys only; see the migration. */
export interface WebAuthnKeysTable {
  id: string;
  credential_id: string;
  identity_id: string;
  method: string;
  key_id: string;
  public_key: string;
  sign_count: number | string;
  transports: string;
  aaguid: string;
  attestation_format: string;
  user_handle: string;
  rp_id: string;
  user_verified: number;
  backup_eligible: number;
  backed_up: number;
  display_name: string;
  created_at: number | string;
  last_used_at: number | string | null;
  /** Kratos's `is_passwordless`: 1 for a key that signs in on its own (passwordless webauthn, passkeys). */
  passwordless: Generated<number>;
}

/** Operator console sign-in hand-offs (console/): keyed hashes of the state and the one-time code only. */
export interface ConsoleSignInsTable {
  id: string;
  state_hash: string;
  code_hash: string | null;
  identity_id: string | null;
  session_id: string | null;
  expires_at: number;
  used_at: number | null;
  created_at: number;
}

/** Operator console sessions (console/): separate from user sessions, bound to the Kairos session they came from. */
export interface ConsoleSessionsTable {
  id: string;
  token_hash: string;
  operator_id: string;
  kairos_session_id: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  revoked_at: number | null;
}

/** Four-eyes approvals of privileged console actions: pending → approved | rejected | expired. */
export interface ConsoleApprovalsTable {
  id: string;
  identity_id: string;
  action: string;
  params: string;
  reason: string;
  requested_by: string;
  status: 'pending' | 'approved' | 'rejected' | 'cancelled';
  decided_by: string | null;
  decision_reason: string | null;
  decided_at: number | null;
  expires_at: number;
  created_at: number;
}

/** When an MFA policy rule first applied to an identity (mfa/policy): its enrollment grace runs from there. */
export interface MfaPolicyStatesTable {
  identity_id: string;
  rule_id: string;
  first_applied_at: number;
  login_count: number;
  last_decision: string | null;
  updated_at: number;
}

/** Browsers remembered after a second factor (mfa/policy `remember_device`): keyed hash of the cookie only. */
export interface MfaRememberedDevicesTable {
  id: string;
  identity_id: string;
  token_hash: string;
  method: string;
  rule_id: string;
  user_agent: string | null;
  ip_address: string | null;
  created_at: number;
  expires_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  revoked_reason: string | null;
}

/** Every module's tables. A module with tables adds its interface here. */
export interface Database extends CoreTables {
  webauthn_keys: WebAuthnKeysTable;
  totp_credentials: TotpCredentialsTable;
  mfa_lockouts: MfaLockoutsTable;
  lookup_secret_codes: LookupSecretCodesTable;
  totp_previous_secrets: TotpPreviousSecretsTable;
  totp_offset_samples: TotpOffsetSamplesTable;
  recovery_codes: RecoveryCodesTable;
  mfa_reset_requests: MfaResetRequestsTable;
  courier_messages: CourierMessagesTable;
  courier_message_dispatches: CourierMessageDispatchesTable;
  one_time_codes: OneTimeCodesTable;
  identity_secondary_recovery_addresses: SecondaryRecoveryAddressesTable;
  rate_limit_counters: RateLimitCountersTable;
  mfa_policy_states: MfaPolicyStatesTable;
  mfa_remembered_devices: MfaRememberedDevicesTable;
  console_sign_ins: ConsoleSignInsTable;
  console_sessions: ConsoleSessionsTable;
  console_approvals: ConsoleApprovalsTable;
  _unused?: Generated<never>;
}
