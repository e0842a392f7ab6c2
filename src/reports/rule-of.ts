/**
 * Which MFA policy rule applies to an identity, for grouping the friction report and showing the rule in the
 * console. The one place that asks: until the policy module's `resolvePolicy(identity, …)` is on main, every
 * identity is under the rule `default`; swapping this body for the resolver's rule name is the whole change.
 */
import type { Identity } from '../identity/identity.js';

export type RuleOf = (identity: Identity) => string;

export const DEFAULT_RULE = 'default';

export const ruleOf: RuleOf = () => DEFAULT_RULE;

/**
 * Whether the rule in force marks the identity privileged (four eyes for MFA resets in the console). Until policy
 * lands: false; the console also treats every console operator as privileged (console/roles.ts).
 */
export const privilegedByRule = (_identity: Identity): boolean => false;
