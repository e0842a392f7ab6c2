/** The identity model and its Kratos JSON shape (`spec/api.json identity`). */
import { toIso } from '../support/clock.js';
export type IdentityState = 'active' | 'inactive';

export interface Credential {
  id: string;
  type: string;
  identifiers: string[];
  config: Record<string, unknown>;
  version: number;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface VerifiableAddress {
  id: string;
  value: string;
  via: string;
  verified: boolean;
  status: 'pending' | 'sent' | 'completed';
  verifiedAtMs: number | null;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface RecoveryAddress {
  id: string;
  value: string;
  via: string;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface Identity {
  id: string;
  schemaId: string;
  state: IdentityState;
  stateChangedAtMs: number | null;
  traits: Record<string, unknown>;
  metadataPublic: unknown;
  metadataAdmin: unknown;
  externalId: string | null;
  createdAtMs: number;
  updatedAtMs: number;
  credentials: Record<string, Credential>;
  verifiableAddresses: VerifiableAddress[];
  recoveryAddresses: RecoveryAddress[];
}

const iso = toIso;

export interface IdentityJsonOptions {
  schemaUrl: string;
  /** Include `credentials` (admin API); types listed here keep their `config` (`include_credential`). */
  credentials?: { include: boolean; withConfigFor: string[]; redactConfig?: (credential: Credential) => Record<string, unknown> };
  includeMetadataAdmin?: boolean;
}

export function identityToJson(identity: Identity, options: IdentityJsonOptions): Record<string, unknown> {
  const json: Record<string, unknown> = {
    id: identity.id,
    schema_id: identity.schemaId,
    schema_url: options.schemaUrl,
    state: identity.state,
    ...(identity.stateChangedAtMs ? { state_changed_at: iso(identity.stateChangedAtMs) } : {}),
    traits: identity.traits,
    verifiable_addresses: identity.verifiableAddresses.map((a) => ({
      id: a.id,
      value: a.value,
      verified: a.verified,
      via: a.via,
      status: a.status,
      ...(a.verifiedAtMs ? { verified_at: iso(a.verifiedAtMs) } : {}),
      created_at: iso(a.createdAtMs),
      updated_at: iso(a.updatedAtMs),
    })),
    recovery_addresses: identity.recoveryAddresses.map((a) => ({
      id: a.id,
      value: a.value,
      via: a.via,
      created_at: iso(a.createdAtMs),
      updated_at: iso(a.updatedAtMs),
    })),
    metadata_public: identity.metadataPublic ?? null,
    created_at: iso(identity.createdAtMs),
    updated_at: iso(identity.updatedAtMs),
    organization_id: null,
  };
  if (identity.externalId) json.external_id = identity.externalId;
  if (options.includeMetadataAdmin) json.metadata_admin = identity.metadataAdmin ?? null;
  if (options.credentials?.include) {
    const credentials: Record<string, unknown> = {};
    for (const credential of Object.values(identity.credentials)) {
      const withConfig = options.credentials.withConfigFor.includes(credential.type);
      credentials[credential.type] = {
        type: credential.type,
        identifiers: credential.identifiers,
        ...(withConfig
          ? { config: options.credentials.redactConfig ? options.credentials.redactConfig(credential) : credential.config }
          : {}),
        version: credential.version,
        created_at: iso(credential.createdAtMs),
        updated_at: iso(credential.updatedAtMs),
      };
    }
    json.credentials = credentials;
  }
  return json;
}
