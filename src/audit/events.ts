/**
 * The closed list of audit events, past tense (Kratos `x/events/events.go`). An event never carries a secret, code
 * or token: details hold ids, counts, causes and reasons only.
 */
export const AUDIT_EVENT_TYPES = [
  'identity.created',
  'identity.updated',
  'identity.deleted',
  'registration.succeeded',
  'login.succeeded',
  'login.failed',
  'session.revoked',
  'settings.succeeded',
  'password.changed',
  'credential.deleted',
  'second_factor.enrolled',
  'second_factor.removed',
  'second_factor.rejected',
  /** A WebAuthn key's signature counter did not grow: a cloned authenticator (WebAuthn Level 2 §6.1.1). */
  'second_factor.clone_detected',
  'recovery_codes.generated',
  'recovery_codes.revealed',
  'recovery_codes.used',
  'recovery_codes.regenerated',
  'recovery_codes.disabled',
  'lockout.started',
  'lockout.cleared',
  'recovery.requested',
  'recovery.completed',
  'recovery.cancelled',
  'mfa_reset.requested',
  'mfa_reset.completed',
  'mfa_reset.cancelled',
  'verification.completed',
  'admin.action_performed',
  'courier.delivery_failed',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export interface AuditEvent {
  type: AuditEventType;
  identityId?: string | null;
  sessionId?: string | null;
  flowId?: string | null;
  /** Who acted: `self`, `admin:<key id>`, `system`. */
  actor?: string | null;
  ipAddress?: string | null;
  userAgent?: string | null;
  details?: Record<string, unknown>;
}
