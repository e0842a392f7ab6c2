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
  /**
   * A settings submission was refused (Kratos `SettingsFailed`): the method, whether it removed a factor, and the
   * message ids shown; never anything submitted. The friction report counts failed enrollments from it.
   */
  'settings.failed',
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
  // MFA policy by role (mfa/policy): every enforcement decision, each with `details.rule_id`.
  /** A rule started to apply to the identity (first time, or after a role change): grace starts here. */
  'mfa_policy.applied',
  /** A sign-in without a required second factor was let through inside the grace period (with a reminder). */
  'mfa_policy.grace_reminded',
  /** The grace period is over: the identity was sent to enroll (sign-in) or its session refused (whoami). */
  'mfa_policy.enrollment_enforced',
  /** A method the identity's rule does not allow was refused (enrollment in settings, or sign-in). */
  'mfa_policy.method_refused',
  /** A browser was remembered after a second factor (`remember_device`). */
  'mfa_policy.device_remembered',
  /** A remembered browser skipped the second factor. */
  'mfa_policy.device_used',
  /** A remembered-device cookie was presented and not honoured (other identity, revoked, expired, rule forbids). */
  'mfa_policy.device_refused',
  /** Remembered devices were revoked (by the user, an admin, a password change, an MFA reset or a recovery). */
  'mfa_policy.device_revoked',
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
