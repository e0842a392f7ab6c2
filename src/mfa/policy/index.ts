/**
 * MFA policy by role: the public surface for other modules (the friction report, the helpdesk console).
 *
 * - `compilePolicies(config.selfservice.mfa, …)` → `MfaPolicies` (validated; the server and CLI do it at startup);
 * - `resolvePolicy(identity, policies, clock)` → the rule in force: `{ruleId, required, acceptedMethods,
 *   allowedMethods, grace, rememberDeviceMs, …}`;
 * - `policyStatus(resolved, enrolledMethods, state)` → `enrolled | grace | overdue | not_required`, with the deadline;
 * - `POLICY_AUDIT_EVENTS`: the audit events of enforcement decisions. Each carries `details.rule_id`, and
 *   `login.succeeded` carries `details.mfa_rule` and `details.mfa_decision` (one of `LOGIN_DECISIONS`), so events
 *   can be grouped by rule.
 */
export {
  compilePolicies,
  CODE_CHANNELS,
  CODE_METHOD,
  enabledPolicyMethods,
  explainMatch,
  methodAllowed,
  parsePolicyDurationMs,
  policyJson,
  policyMethodOf,
  policyStatus,
  resolvePolicy,
  PolicyConfigError,
  POLICY_METHOD_NAMES,
  POLICY_METHODS,
  SECOND_FACTOR_METHODS,
  type IdentityFacts,
  type MfaConfig,
  type MfaPolicies,
  type MfaPolicyRuleConfig,
  type PolicyMethod,
  type PolicyRule,
  type PolicyState,
  type PolicyStatus,
  type PolicyStatusName,
  type ResolvedPolicy,
} from './rules.js';

/** The audit events of the policy's decisions (all in src/audit/events.ts); each has `details.rule_id`. */
export const POLICY_AUDIT_EVENTS = [
  'mfa_policy.applied',
  'mfa_policy.grace_reminded',
  'mfa_policy.enrollment_enforced',
  'mfa_policy.method_refused',
  'mfa_policy.device_remembered',
  'mfa_policy.device_used',
  'mfa_policy.device_refused',
  'mfa_policy.device_revoked',
] as const;

/**
 * What a sign-in step led to under the identity's rule, in `login.succeeded` `details.mfa_decision`:
 * - `not_required`: the rule requires nothing (the configured AAL still applies);
 * - `second_factor`: the identity has an accepted second factor and is asked for it next;
 * - `device_skip`: a remembered browser skipped the second factor;
 * - `grace`: not enrolled, let in during the grace period with a reminder;
 * - `enrollment_required`: not enrolled and the grace is over: sent to settings to enroll;
 * - `satisfied`: the step completed what the rule requires (a second factor, or a first factor whose session already
 *   had one).
 */
export const LOGIN_DECISIONS = ['not_required', 'second_factor', 'device_skip', 'grace', 'enrollment_required', 'satisfied'] as const;
export type LoginDecision = (typeof LOGIN_DECISIONS)[number];
