/**
 * Where a key enrollment in a settings flow got to (security keys and passkeys), kept in the flow's `internal` for
 * the friction report (reports/friction.ts). The server never sees a person click the browser's prompt: what it
 * knows is that it offered a key (a registration challenge in the flow) to an identity that had none, and how each
 * answer that came back was refused: by the browser (webauthn.js reports `client_error`: cancelled, timed out, wrong
 * domain) or by Kairos (the attestation did not verify, the key was already registered…). A finished enrollment is
 * told by its audit event (same flow id), a key waiting for the recovery codes by the flow's pending key.
 */
import type { Flow } from '../../flows/flow.js';

export type KeyMethod = 'webauthn' | 'passkey';

export interface KeyEnrollmentProgress {
  /** The identity had no key of this method when the flow first offered one (an offer to enroll, as TOTP's). */
  first_key: boolean;
  /** Answers refused in this flow. */
  refused: number;
  /** Who refused the last answer: `browser` (client_error) or `server` (the verifier or Kairos's own checks). */
  last_refusal: 'browser' | 'server' | null;
}

/** Security keys: a verified key waiting for the recovery codes' confirmation (credentials/webauthn/strategy.ts). */
export const WEBAUTHN_PENDING_KEY = 'webauthn_pending_key';

/** The `flow.internal` entry of a method's progress. */
export const keyEnrollmentInternal = (method: KeyMethod): string => `${method}_enrollment`;

/** The settings node a method's registration starts from (the friction report checks the flow showed it). */
export const keyRegisterTrigger = (method: KeyMethod): string => `${method}_register_trigger`;

/** A settings flow offers a key: the first offer says whether the identity had one (later renders keep it). */
export function offerKey(flow: Flow, method: KeyMethod, hadKeys: boolean): void {
  const key = keyEnrollmentInternal(method);
  if (flow.internal[key] === undefined) flow.internal[key] = { first_key: !hadKeys, refused: 0, last_refusal: null } satisfies KeyEnrollmentProgress;
}

/** An answer to the flow's registration challenge was refused (the refusal's flow update keeps this). */
export function keyRefused(flow: Flow, method: KeyMethod, by: 'browser' | 'server'): void {
  const key = keyEnrollmentInternal(method);
  const progress = (flow.internal[key] as KeyEnrollmentProgress | undefined) ?? { first_key: false, refused: 0, last_refusal: null };
  flow.internal[key] = { ...progress, refused: progress.refused + 1, last_refusal: by } satisfies KeyEnrollmentProgress;
}
