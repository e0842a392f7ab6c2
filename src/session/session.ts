/**
 * Sessions record which methods were completed (the AMR); the assurance level is derived from it, never set
 * (Kratos `session/session.go SetAuthenticatorAssuranceLevel`): aal2 iff at least one aal1 method and one aal2
 * method were completed; aal0 without any.
 */
import { toIso } from '../support/clock.js';
export type Aal = 'aal0' | 'aal1' | 'aal2';

export interface AmrEntry {
  method: string;
  aal: 'aal1' | 'aal2';
  completedAtMs: number;
  /**
   * Kairos: how a `code` reached the person (`email` or `sms`), so the MFA policy can forbid SMS alone. Stored with the
   * session only: Kratos's `authentication_methods` entries have no such field (session/session.go
   * AuthenticationMethod: method, aal, completed_at, provider, organization, upstream_*), and the wire keeps `code`.
   */
  channel?: 'email' | 'sms';
}

export interface Session {
  id: string;
  identityId: string;
  active: boolean;
  issuedAtMs: number;
  expiresAtMs: number;
  authenticatedAtMs: number;
  amr: AmrEntry[];
  ipAddress: string | null;
  userAgent: string | null;
}

export function deriveAal(amr: AmrEntry[]): Aal {
  if (amr.length === 0) return 'aal0';
  const first = amr.some((e) => e.aal === 'aal1');
  const second = amr.some((e) => e.aal === 'aal2');
  return first && second ? 'aal2' : 'aal1';
}

export function isSessionActive(session: Session, nowMs: number): boolean {
  return session.active && session.expiresAtMs > nowMs;
}

export function sessionToJson(
  session: Session,
  nowMs: number,
  identityJson: Record<string, unknown> | null,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const iso = toIso;
  return {
    id: session.id,
    active: isSessionActive(session, nowMs),
    expires_at: iso(session.expiresAtMs),
    authenticated_at: iso(session.authenticatedAtMs),
    authenticator_assurance_level: deriveAal(session.amr),
    authentication_methods: session.amr.map((e) => ({ method: e.method, aal: e.aal, completed_at: iso(e.completedAtMs) })),
    issued_at: iso(session.issuedAtMs),
    identity: identityJson,
    devices: [
      {
        id: session.id,
        ip_address: session.ipAddress,
        user_agent: session.userAgent,
        location: '',
      },
    ],
    ...extra,
  };
}
