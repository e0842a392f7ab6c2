/** A web hook's answer that changes the identity (`response.parse`), applied before the identity is stored. */
import type { Identity } from './identity.js';

/** Identity fields a parsing hook may set (only those present in the answer). */
export interface IdentityPatch {
  traits?: Record<string, unknown>;
  schema_id?: string;
  state?: string;
  metadata_public?: unknown;
  metadata_admin?: unknown;
  verifiable_addresses?: unknown[];
  recovery_addresses?: unknown[];
  external_id?: string | null;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Kratos's `parseWebhookResponse`: the fields present replace the identity's. Addresses: Kairos derives them from
 * the traits, so a hook's `verifiable_addresses` can only set the verified state of addresses the traits have.
 * Returns the names of the fields changed (for the audit trail).
 */
export function applyIdentityPatch(identity: Identity, patch: IdentityPatch, nowMs: number): string[] {
  const changed: string[] = [];
  if (patch.traits) {
    identity.traits = patch.traits;
    changed.push('traits');
  }
  if (patch.schema_id) {
    identity.schemaId = patch.schema_id;
    changed.push('schema_id');
  }
  if (patch.state === 'active' || patch.state === 'inactive') {
    if (identity.state !== patch.state) identity.stateChangedAtMs = nowMs;
    identity.state = patch.state;
    changed.push('state');
  }
  if ('metadata_public' in patch) {
    identity.metadataPublic = patch.metadata_public;
    changed.push('metadata_public');
  }
  if ('metadata_admin' in patch) {
    identity.metadataAdmin = patch.metadata_admin;
    changed.push('metadata_admin');
  }
  if ('external_id' in patch) {
    identity.externalId = patch.external_id ?? null;
    changed.push('external_id');
  }
  for (const entry of patch.verifiable_addresses ?? []) {
    if (!isObject(entry) || typeof entry.value !== 'string') continue;
    const address = identity.verifiableAddresses.find((a) => a.value.toLowerCase() === String(entry.value).toLowerCase() && (entry.via === undefined || a.via === entry.via));
    if (address && typeof entry.verified === 'boolean') {
      address.verified = entry.verified;
      address.status = entry.verified ? 'completed' : address.status === 'completed' ? 'pending' : address.status;
      address.verifiedAtMs = entry.verified ? (address.verifiedAtMs ?? nowMs) : null;
      address.updatedAtMs = nowMs;
      if (!changed.includes('verifiable_addresses')) changed.push('verifiable_addresses');
    }
  }
  return changed;
}
