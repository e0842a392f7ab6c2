/**
 * The two WebAuthn ceremonies (registration and authentication, WebAuthn Level 2 §7) for both methods that use keys
 * (webauthn as a second factor, passkey as a first): options in Kratos's shape (`{publicKey: …}`, binary as
 * base64url, as Kratos's webauthn.js expects), and verification by @simplewebauthn/server. Kairos adds what the
 * verifier leaves to the caller: the challenge's lifetime, which key answered, and a named cause for every rejection.
 */
import { createHash } from 'node:crypto';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';

/**
 * The verifier, loaded on first use: it takes seconds to import on a busy machine, and servers without WebAuthn
 * enabled (and every CLI command) should not pay for it.
 */
let verifier: Promise<typeof import('@simplewebauthn/server')> | null = null;
const simpleWebAuthn = () => (verifier ??= import('@simplewebauthn/server'));
import type { Clock } from '../../support/clock.js';
import type { Random } from '../../support/random.js';
import type { RelyingParty } from './relying-party.js';
import type { WebAuthnKey } from './repository.js';
import { causeOfVerifierError, WebAuthnRejection } from './diagnosis.js';

/** WebAuthn Level 2 §13.4.3: challenges of at least 16 random bytes; Kairos uses 32. */
const CHALLENGE_BYTES = 32;

/** What a flow keeps (in `flow.internal`) between sending options and receiving the answer. Nothing secret. */
export interface PendingCeremony {
  challenge: string;
  issued_at_ms: number;
  timeout_ms: number;
  /** Registration: the user handle the key is created for (base64url). */
  user_handle?: string;
}

export type UserVerification = 'required' | 'preferred' | 'discouraged';

/** A key as registration verified it, ready to be stored. */
export interface VerifiedRegistration {
  keyId: string;
  publicKey: string;
  signCount: number;
  transports: string[];
  aaguid: string;
  attestationFormat: string;
  userVerified: boolean;
  backupEligible: boolean;
  backedUp: boolean;
}

export interface VerifiedAssertion {
  newSignCount: number;
  userVerified: boolean;
  backedUp: boolean;
}

/** A copy on its own ArrayBuffer (the verifier's types want `Uint8Array<ArrayBuffer>`). */
const own = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(bytes);

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

/** UUID → its 16 bytes: the user handle Kratos uses for an identity (`identity.ID.Bytes()`). */
export function userHandleOf(identityId: string): Uint8Array {
  return Uint8Array.from(Buffer.from(identityId.replace(/-/g, ''), 'hex'));
}

function parseJson(raw: unknown): Record<string, unknown> {
  if (typeof raw === 'object' && raw !== null) return raw as Record<string, unknown>;
  if (typeof raw !== 'string' || raw.trim() === '') throw new WebAuthnRejection('malformed', { reason: 'empty' });
  try {
    const value = JSON.parse(raw) as unknown;
    if (typeof value !== 'object' || value === null) throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch {
    throw new WebAuthnRejection('malformed', { reason: 'not JSON' });
  }
}

/** The credential id a submitted answer names (base64url), or null when there is none. */
export function answeredKeyId(raw: unknown): string | null {
  try {
    const value = parseJson(raw);
    const id = value.id ?? value.rawId;
    return typeof id === 'string' && /^[A-Za-z0-9_-]+={0,2}$/.test(id) ? id.replace(/=+$/, '') : null;
  } catch {
    return null;
  }
}

export class WebAuthnCeremonies {
  constructor(
    private readonly deps: { clock: Clock; random: Random },
    readonly rp: RelyingParty,
    readonly timeoutMs: number,
  ) {}

  private pending(challenge: string, userHandle?: string): PendingCeremony {
    return { challenge, issued_at_ms: this.deps.clock.nowMs(), timeout_ms: this.timeoutMs, ...(userHandle ? { user_handle: userHandle } : {}) };
  }

  /** Kratos's `{publicKey: …}` creation options (go-webauthn's JSON shape) and what to remember. */
  async registrationOptions(input: {
    userHandle: Uint8Array;
    userName: string;
    userDisplayName: string;
    exclude: WebAuthnKey[];
    residentKey: 'required' | 'preferred' | 'discouraged';
    userVerification: UserVerification;
    attestation: 'none' | 'direct' | 'enterprise';
  }): Promise<{ options: { publicKey: Record<string, unknown> }; pending: PendingCeremony }> {
    const { generateRegistrationOptions } = await simpleWebAuthn();
    const publicKey = await generateRegistrationOptions({
      rpName: this.rp.name,
      rpID: this.rp.id,
      userName: input.userName,
      userDisplayName: input.userDisplayName,
      userID: own(input.userHandle),
      challenge: own(this.deps.random.bytes(CHALLENGE_BYTES)),
      timeout: this.timeoutMs,
      attestationType: input.attestation,
      // Every registered key is excluded: a platform authenticator keeps one credential per RP and user handle, so
      // registering again would replace the entry on the device while both stayed on the server (WebAuthn §5.4.3).
      excludeCredentials: input.exclude.map((k) => ({ id: k.keyId, ...(k.transports.length ? { transports: k.transports } : {}) })),
      authenticatorSelection: { residentKey: input.residentKey, requireResidentKey: input.residentKey === 'required', userVerification: input.userVerification },
    });
    return { options: { publicKey: publicKey as unknown as Record<string, unknown> }, pending: this.pending(publicKey.challenge, b64url(input.userHandle)) };
  }

  /** Kratos's `{publicKey: …}` request options; `allow` empty means a discoverable credential (passkey). */
  async authenticationOptions(input: { allow: WebAuthnKey[]; userVerification: UserVerification }): Promise<{ options: { publicKey: Record<string, unknown> }; pending: PendingCeremony }> {
    const { generateAuthenticationOptions } = await simpleWebAuthn();
    const publicKey = await generateAuthenticationOptions({
      rpID: this.rp.id,
      challenge: own(this.deps.random.bytes(CHALLENGE_BYTES)),
      timeout: this.timeoutMs,
      userVerification: input.userVerification,
      allowCredentials: input.allow.map((k) => ({ id: k.keyId, ...(k.transports.length ? { transports: k.transports } : {}) })),
    });
    return { options: { publicKey: publicKey as unknown as Record<string, unknown> }, pending: this.pending(publicKey.challenge) };
  }

  private checkFresh(pending: PendingCeremony | undefined): PendingCeremony {
    if (!pending || typeof pending.challenge !== 'string') throw new WebAuthnRejection('challenge_mismatch', { reason: 'no challenge in this flow' });
    const ageMs = this.deps.clock.nowMs() - pending.issued_at_ms;
    if (ageMs > pending.timeout_ms) throw new WebAuthnRejection('timeout', { age_ms: ageMs, timeout_ms: pending.timeout_ms });
    return pending;
  }

  /** Whether authenticator data (base64url) was made for this RP ID: its first 32 bytes are SHA-256(RP ID). */
  private rpIdMatches(authenticatorData: unknown): boolean | null {
    if (typeof authenticatorData !== 'string') return null;
    const bytes = Buffer.from(authenticatorData, 'base64url');
    if (bytes.length < 37) return null;
    return bytes.subarray(0, 32).equals(createHash('sha256').update(this.rp.id).digest());
  }

  async verifyRegistration(raw: unknown, pending: PendingCeremony | undefined, requireUserVerification: boolean): Promise<VerifiedRegistration> {
    const fresh = this.checkFresh(pending);
    const response = parseJson(raw) as unknown as RegistrationResponseJSON;
    response.clientExtensionResults ??= {};
    const { verifyRegistrationResponse } = await simpleWebAuthn();
    let result: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
    try {
      result = await verifyRegistrationResponse({
        response,
        expectedChallenge: fresh.challenge,
        expectedOrigin: this.rp.origins,
        expectedRPID: this.rp.id,
        requireUserVerification,
      });
    } catch (err) {
      throw new WebAuthnRejection(causeOfVerifierError(err), { verifier: (err as Error).message?.slice(0, 200) });
    }
    if (!result.verified || !result.registrationInfo) throw new WebAuthnRejection('bad_signature');
    const info = result.registrationInfo;
    return {
      keyId: info.credential.id,
      publicKey: b64url(info.credential.publicKey),
      signCount: info.credential.counter,
      transports: (response.response.transports ?? info.credential.transports ?? []).map(String),
      aaguid: info.aaguid,
      attestationFormat: info.fmt,
      userVerified: info.userVerified,
      backupEligible: info.credentialDeviceType === 'multiDevice',
      backedUp: info.credentialBackedUp,
    };
  }

  /**
   * Verifies an assertion by one of `keys`. A key that is not among them is `unknown_key`, unless the answer was
   * made for another RP ID (`rp_id_mismatch`, a key of another domain). A signature counter that did not grow is
   * `cloned_key` (WebAuthn Level 2 §6.1.1).
   */
  async verifyAuthentication(raw: unknown, pending: PendingCeremony | undefined, keys: WebAuthnKey[], requireUserVerification: boolean): Promise<{ key: WebAuthnKey; assertion: VerifiedAssertion }> {
    const fresh = this.checkFresh(pending);
    const response = parseJson(raw) as unknown as AuthenticationResponseJSON;
    response.clientExtensionResults ??= {};
    if (typeof response.response !== 'object' || response.response === null) throw new WebAuthnRejection('malformed', { reason: 'no response' });
    const keyId = answeredKeyId(response);
    const key = keys.find((k) => k.keyId === keyId);
    if (!key) {
      if (this.rpIdMatches(response.response.authenticatorData) === false) throw new WebAuthnRejection('rp_id_mismatch', { rp_id: this.rp.id });
      throw new WebAuthnRejection('unknown_key', {});
    }
    const { verifyAuthenticationResponse } = await simpleWebAuthn();
    let result: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
    try {
      result = await verifyAuthenticationResponse({
        response,
        expectedChallenge: fresh.challenge,
        expectedOrigin: this.rp.origins,
        expectedRPID: this.rp.id,
        credential: { id: key.keyId, publicKey: own(Buffer.from(key.publicKey, 'base64url')), counter: key.signCount, transports: key.transports as never },
        requireUserVerification,
      });
    } catch (err) {
      const cause = causeOfVerifierError(err);
      throw new WebAuthnRejection(cause, { verifier: (err as Error).message?.slice(0, 200), key_id: key.id, ...(cause === 'cloned_key' ? { stored_sign_count: key.signCount } : {}) });
    }
    if (!result.verified) throw new WebAuthnRejection('bad_signature', { key_id: key.id });
    const info = result.authenticationInfo;
    return { key, assertion: { newSignCount: info.newCounter, userVerified: info.userVerified, backedUp: info.credentialBackedUp } };
  }
}
