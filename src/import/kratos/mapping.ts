/**
 * Turns what Kratos stores about one identity into what Kairos imports (a plan), or into the reasons it cannot.
 * Pure: no database, no Kairos services; `importer.ts` carries the plan out.
 *
 * Kratos's credential configs (ory/kratos `selfservice/strategy/*`):
 * - password: `{hashed_password, use_password_migration_hook?}`
 * - totp: `{totp_url}` (an otpauth:// Key URI with the secret)
 * - lookup_secret: `{recovery_codes: [{code, used_at}]}` (`used_at` null, absent or Go's zero time when unused)
 * Other types (oidc, saml, webauthn, passkey, code, deviceauthn) have no Kairos counterpart to import into.
 */
import type { KratosIdentityRecord } from './source.js';

/** Credential types Kairos imports; anything else is skipped (listed in the summary) and the identity imported. */
export const IMPORTED_CREDENTIAL_TYPES = ['password', 'totp', 'lookup_secret'] as const;

export interface AddressState {
  id: string;
  via: string;
  value: string;
  verified: boolean;
  status: 'pending' | 'sent' | 'completed';
  verifiedAtMs: number | null;
  createdAtMs: number | null;
}

export interface IdentityPlan {
  id: string;
  schemaId: string;
  state: 'active' | 'inactive';
  stateChangedAtMs: number | null;
  traits: Record<string, unknown>;
  metadataPublic: unknown;
  metadataAdmin: unknown;
  externalId: string | null;
  createdAtMs: number | null;
  updatedAtMs: number | null;
  verifiableAddresses: AddressState[];
  recoveryAddresses: { id: string; via: string; value: string }[];
  password: { hashedPassword: string } | null;
  totp: { totpUrl: string } | null;
  lookupSecret: { codes: { code: string; used_at: string | null }[] } | null;
  /** Credentials left behind, with why (the identity is imported without them). */
  skippedCredentials: { type: string; reason: string }[];
}

export type MappingResult = { ok: true; plan: IdentityPlan } | { ok: false; problems: string[] };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A JSON column: an object from jsonb, text from SQLite. */
function json(value: unknown, column: string, problems: string[]): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string') return value;
  if (value === '') return null;
  try {
    return JSON.parse(value);
  } catch {
    problems.push(`${column} is not valid JSON`);
    return undefined;
  }
}

/**
 * A Kratos timestamp: `2024-05-01 10:00:00.123456` (PostgreSQL text, UTC), `2024-05-01 10:00:00.123456+00:00`
 * (pop on SQLite) or an RFC 3339 string. Null when absent; NaN when unreadable.
 */
export function kratosTimeMs(value: unknown): number | null {
  if (value === null || value === undefined || value === '') return null;
  if (value instanceof Date) return value.getTime();
  if (typeof value !== 'string') return Number.NaN;
  let text = value.trim().replace(' ', 'T');
  if (!/(Z|[+-]\d{2}(:?\d{2})?)$/.test(text)) text += 'Z';
  text = text.replace(/([+-]\d{2})(\d{2})$/, '$1:$2').replace(/([+-]\d{2})$/, '$1:00');
  // Date.parse accepts at most millisecond precision in ISO form; Kratos writes microseconds.
  text = text.replace(/(\.\d{3})\d+/, '$1');
  return Date.parse(text);
}

function time(value: unknown, column: string, problems: string[]): number | null {
  const ms = kratosTimeMs(value);
  if (ms !== null && !Number.isFinite(ms)) {
    problems.push(`${column} is not a time (${String(value).slice(0, 40)})`);
    return null;
  }
  return ms;
}

const bool = (value: unknown) => value === true || value === 1 || value === '1' || value === 't' || value === 'true';

/** Go's zero time, which Kratos may write for an unused code. */
const GO_ZERO_TIME = /^0001-01-01/;

export function planIdentity(record: KratosIdentityRecord): MappingResult {
  const problems: string[] = [];
  const row = record.identity;
  const id = String(row.id);
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) problems.push('id is not a UUID');
  const traits = json(row.traits, 'traits', problems);
  if (traits !== undefined && !isObject(traits)) problems.push('traits is not a JSON object');
  const metadataPublic = json(row.metadata_public, 'metadata_public', problems);
  const metadataAdmin = json(row.metadata_admin, 'metadata_admin', problems);
  const state = row.state === 'active' || row.state === 'inactive' ? row.state : null;
  if (!state) problems.push(`state "${String(row.state).slice(0, 40)}" is neither active nor inactive`);
  if (typeof row.schema_id !== 'string' || row.schema_id === '') problems.push('schema_id is empty');

  const plan: IdentityPlan = {
    id: id.toLowerCase(),
    schemaId: String(row.schema_id),
    state: state ?? 'active',
    stateChangedAtMs: time(row.state_changed_at, 'state_changed_at', problems),
    traits: isObject(traits) ? traits : {},
    metadataPublic: metadataPublic ?? null,
    metadataAdmin: metadataAdmin ?? null,
    externalId: typeof row.external_id === 'string' && row.external_id !== '' ? row.external_id : null,
    createdAtMs: time(row.created_at, 'created_at', problems),
    updatedAtMs: time(row.updated_at, 'updated_at', problems),
    verifiableAddresses: record.verifiableAddresses.map((a) => {
      const verified = bool(a.verified);
      const status = a.status === 'completed' || a.status === 'sent' || a.status === 'pending' ? a.status : verified ? 'completed' : 'pending';
      return {
        id: String(a.id).toLowerCase(),
        via: String(a.via),
        value: String(a.value),
        verified,
        status,
        verifiedAtMs: verified ? time(a.verified_at, `verifiable_addresses[${a.value}].verified_at`, problems) : null,
        createdAtMs: time(a.created_at, `verifiable_addresses[${a.value}].created_at`, problems),
      };
    }),
    recoveryAddresses: record.recoveryAddresses.map((a) => ({ id: String(a.id).toLowerCase(), via: String(a.via), value: String(a.value) })),
    password: null,
    totp: null,
    lookupSecret: null,
    skippedCredentials: [],
  };

  for (const credential of record.credentials) {
    const type = String(credential.type);
    const config = json(credential.config, `credentials.${type}.config`, problems);
    if (config === undefined) continue;
    if (!(IMPORTED_CREDENTIAL_TYPES as readonly string[]).includes(type)) {
      plan.skippedCredentials.push({ type, reason: `Kairos has no ${type} credentials to import into` });
      continue;
    }
    if (!isObject(config)) {
      problems.push(`credentials.${type}.config is not a JSON object`);
      continue;
    }
    if (type === 'password') {
      const hashed = config.hashed_password;
      if (typeof hashed === 'string' && hashed !== '') plan.password = { hashedPassword: hashed };
      else if (config.use_password_migration_hook === true) plan.skippedCredentials.push({ type, reason: 'the password lives behind a password migration hook (no hash to import)' });
      else problems.push('credentials.password.config.hashed_password is missing');
    } else if (type === 'totp') {
      if (typeof config.totp_url === 'string' && config.totp_url !== '') plan.totp = { totpUrl: config.totp_url };
      else problems.push('credentials.totp.config.totp_url is missing');
    } else {
      const list = config.recovery_codes;
      if (!Array.isArray(list)) {
        problems.push('credentials.lookup_secret.config.recovery_codes is not an array');
        continue;
      }
      if (list.length === 0) {
        plan.skippedCredentials.push({ type, reason: 'no recovery codes' });
        continue;
      }
      const codes: { code: string; used_at: string | null }[] = [];
      for (const [index, entry] of list.entries()) {
        if (!isObject(entry) || typeof entry.code !== 'string') {
          problems.push(`credentials.lookup_secret.config.recovery_codes[${index}] has no code`);
          continue;
        }
        const usedAt = entry.used_at;
        const used = typeof usedAt === 'string' && usedAt !== '' && !GO_ZERO_TIME.test(usedAt) ? usedAt : null;
        codes.push({ code: entry.code, used_at: used });
      }
      plan.lookupSecret = { codes };
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, plan };
}
