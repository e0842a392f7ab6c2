/**
 * Which MFA policy rule applies to an identity, for grouping the friction report and showing the rule (and whether
 * it makes the identity privileged) in the console. The one place that asks the policy module
 * (`resolvePolicy(identity, policies, clock)`, src/mfa/policy): the rule in force now, first match wins, else the
 * default rule (`selfservice.mfa.default_policy`, id `default` unless it names another).
 *
 * Privileged (the console's four eyes for MFA resets): a rule that requires a second factor and accepts only
 * phishing-resistant ones (WebAuthn security keys, passkeys) is one for identities whose takeover costs most, the
 * admins of issue 16; the policy has no separate flag.
 */
import type { Identity } from '../identity/identity.js';
import type { KairosConfig } from '../config/schema.js';
import type { Clock } from '../support/clock.js';
import { compilePolicies, enabledPolicyMethods, resolvePolicy, type ResolvedPolicy } from '../mfa/policy/index.js';

export type RuleOf = (identity: Identity) => string;

export const DEFAULT_RULE = 'default';

const PHISHING_RESISTANT = new Set(['webauthn', 'passkey']);

export interface RuleLookup {
  ruleOf: RuleOf;
  /** The rule in force marks the identity privileged (the console's four eyes). */
  privileged(identity: Identity): boolean;
  /** The resolved rule, for pages that show what it requires. */
  resolve(identity: Identity): ResolvedPolicy;
}

export function isPrivilegedRule(policy: Pick<ResolvedPolicy, 'requiresSecondFactor' | 'acceptedMethods'>): boolean {
  return policy.requiresSecondFactor && policy.acceptedMethods.length > 0 && policy.acceptedMethods.every((m) => PHISHING_RESISTANT.has(m));
}

export function createRuleOf(config: KairosConfig, clock: Clock): RuleLookup {
  // Validated at config load already (load.ts compiles them too); compiled once here.
  const policies = compilePolicies(config.selfservice.mfa, {
    enabled: enabledPolicyMethods(config.selfservice.methods, config.courier.channels),
    recoveryCodesAtEnrollment: config.selfservice.methods.totp.config.require_recovery_codes,
    webauthnPasswordless: config.selfservice.methods.webauthn.config.passwordless === true,
  });
  const resolve = (identity: Identity) => resolvePolicy(identity, policies, clock);
  return { resolve, ruleOf: (identity) => resolve(identity).ruleId, privileged: (identity) => isPrivilegedRule(resolve(identity)) };
}
