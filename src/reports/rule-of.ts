/**
 * Which MFA policy rule applies to an identity, for grouping the friction report and showing the rule (and whether
 * it makes the identity privileged) in the console. The one place that asks: until the policy module's
 * `resolvePolicy(identity, policies, clock)` (src/mfa/policy) is on this branch, every identity is under the rule
 * `default` and no rule marks anyone privileged; the swap is the body of `createRuleOf`.
 */
import type { Identity } from '../identity/identity.js';
import type { KairosConfig } from '../config/schema.js';
import type { Clock } from '../support/clock.js';

export type RuleOf = (identity: Identity) => string;

export const DEFAULT_RULE = 'default';

export interface RuleLookup {
  ruleOf: RuleOf;
  /** The rule in force marks the identity privileged (the console's four eyes). */
  privileged(identity: Identity): boolean;
}

export function createRuleOf(_config: KairosConfig, _clock: Clock): RuleLookup {
  return { ruleOf: () => DEFAULT_RULE, privileged: () => false };
}
