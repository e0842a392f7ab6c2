/**
 * What signing up with a key shares, whichever method makes the key (passwordless `webauthn`, `passkey`): the
 * identity the submitted traits describe, the id reserved for it (the key is created for that user handle, so it is
 * the identity's own, as a key added in settings), and the stored row of a verified key.
 */
import type { Deps } from '../../deps.js';
import type { Identity } from '../../identity/identity.js';
import { FlowValidationError, type Flow } from '../../flows/flow.js';
import type { SubmittedBody } from '../../flows/strategy.js';
import { TraitsInvalidError } from '../../identity/identity-service.js';
import { coerceTraits, flattenTraits } from '../../identity/trait-nodes.js';
import type { VerifiedRegistration } from './ceremony.js';
import type { KeyMethod, WebAuthnKey } from './repository.js';

/**
 * The identity a sign-up's traits describe (not stored), validated like any registration's, and the typed values a
 * refused form keeps. Invalid traits are refused before any key is looked at.
 */
export function identityFromSignup(identities: Deps['identities'], body: SubmittedBody): { identity: Identity; keep: Record<string, unknown> } {
  const schema = identities.schemas.getDefault();
  const traits = coerceTraits(schema, body.traits ?? {});
  const keep = flattenTraits(traits);
  try {
    return { identity: identities.build({ schemaId: schema.id, traits: traits as Record<string, unknown> }), keep };
  } catch (err) {
    if (!(err instanceof TraitsInvalidError)) throw err;
    throw new FlowValidationError(err.problems.map((p) => ({ field: p.field, message: p.message })), keep);
  }
}

/** The id a sign-up flow's identity will get (kept in `flow.internal[key]`, so a re-rendered flow keeps it). */
export function reservedIdentityId(flow: Flow, key: string, random: Deps['random']): string {
  const existing = flow.internal[key];
  const id = typeof existing === 'string' ? existing : random.uuid();
  flow.internal[key] = id;
  return id;
}

/** The row of a verified key, as `WebAuthnKeyRepository.insert` stores it. */
export function keyFromRegistration(input: {
  id: string;
  credentialId: string;
  identityId: string;
  method: KeyMethod;
  verified: VerifiedRegistration;
  userHandle: string;
  rpId: string;
  displayName: string;
  nowMs: number;
  passwordless: boolean;
}): WebAuthnKey {
  const { verified } = input;
  return {
    id: input.id,
    credentialId: input.credentialId,
    identityId: input.identityId,
    method: input.method,
    keyId: verified.keyId,
    publicKey: verified.publicKey,
    signCount: verified.signCount,
    transports: verified.transports,
    aaguid: verified.aaguid,
    attestationFormat: verified.attestationFormat,
    userHandle: input.userHandle,
    rpId: input.rpId,
    userVerified: verified.userVerified,
    backupEligible: verified.backupEligible,
    backedUp: verified.backedUp,
    displayName: input.displayName,
    createdAtMs: input.nowMs,
    lastUsedAtMs: null,
    passwordless: input.passwordless,
  };
}
