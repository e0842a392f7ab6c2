/**
 * Who may do what in the operator console. Operators are Kairos identities whose `metadata_admin.role` (a string,
 * or `metadata_admin.roles`, a list) names a console role:
 * - `auditor`: sees everything the console shows (search, identities, timelines, dashboard, configuration,
 *   approvals) and can change nothing;
 * - `helpdesk`: an auditor who can also act on an identity: diagnose and resync TOTP, unlock second factors, revoke
 *   sessions, start an MFA reset, issue a recovery code or link, and approve another operator's four-eyes request;
 * - `admin`: a helpdesk operator who can also deactivate and reactivate identities.
 * Every page and action asks `can(operator, permission)` on the server; an identity with no console role gets 403
 * everywhere. `metadata_admin` is writable through the admin API only, never by its owner.
 */
import type { Identity } from '../identity/identity.js';
import type { RuleLookup } from '../reports/rule-of.js';

export const CONSOLE_ROLES = ['auditor', 'helpdesk', 'admin'] as const;
export type ConsoleRole = (typeof CONSOLE_ROLES)[number];

export const PERMISSIONS = {
  view: ['auditor', 'helpdesk', 'admin'],
  diagnose: ['helpdesk', 'admin'],
  resync: ['helpdesk', 'admin'],
  unlock: ['helpdesk', 'admin'],
  revoke_sessions: ['helpdesk', 'admin'],
  mfa_reset: ['helpdesk', 'admin'],
  recovery_issue: ['helpdesk', 'admin'],
  approve: ['helpdesk', 'admin'],
  deactivate: ['admin'],
} as const satisfies Record<string, readonly ConsoleRole[]>;
export type Permission = keyof typeof PERMISSIONS;

/** The identity's console roles (empty: not an operator). */
export function consoleRolesOf(identity: Pick<Identity, 'metadataAdmin'>): ConsoleRole[] {
  const meta = identity.metadataAdmin;
  if (typeof meta !== 'object' || meta === null) return [];
  const { role, roles } = meta as { role?: unknown; roles?: unknown };
  const named = [...(typeof role === 'string' ? [role] : []), ...(Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [])];
  return CONSOLE_ROLES.filter((r) => named.includes(r));
}

export function can(roles: readonly ConsoleRole[], permission: Permission): boolean {
  return roles.some((r) => (PERMISSIONS[permission] as readonly ConsoleRole[]).includes(r));
}

/**
 * Privileged identities need four eyes for an MFA reset: console operators themselves (a reset of an operator's
 * second factor is a way into the console), and identities the MFA policy marks privileged (reports/rule-of.ts).
 */
export function isPrivileged(identity: Identity, rules: RuleLookup): boolean {
  return consoleRolesOf(identity).length > 0 || rules.privileged(identity);
}
