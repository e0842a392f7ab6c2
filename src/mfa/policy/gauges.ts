/**
 * Prometheus gauges of the rollout's current state: `kairos_mfa_policy_identities{rule, status}`, the active
 * identities per rule that are `enrolled`, in their `grace` period (or whose grace has not started: the rule never
 * applied to them yet), `overdue`, or under a rule that requires nothing (`not_required`).
 *
 * Computed from the database at a scrape (every instance reports the shared state), identities read in pages of
 * 500 and the result kept for 30 s, so a busy Prometheus does not rescan the identities at each scrape.
 */
import type { Deps } from '../../deps.js';
import * as identityRepo from '../../identity/repository.js';
import type { PolicyEnforcer } from './enforcer.js';
import { policyStatus, type PolicyStatusName } from './rules.js';

const PAGE = 500;
const CACHE_MS = 30_000;
const STATUSES: PolicyStatusName[] = ['enrolled', 'grace', 'overdue', 'not_required'];

export type PolicyCounts = Map<string, Record<PolicyStatusName, number>>;

/** Counts every active identity by its rule and status (the gauges; `kairos policy explain` shows one). */
export async function countByRule(deps: Pick<Deps, 'db' | 'clock'>, enforcer: PolicyEnforcer): Promise<PolicyCounts> {
  const counts: PolicyCounts = new Map();
  for (const rule of [...enforcer.policies.rules, enforcer.policies.defaultRule]) counts.set(rule.id, { enrolled: 0, grace: 0, overdue: 0, not_required: 0 });
  let after: identityRepo.IdentityPageCursor | null = null;
  for (;;) {
    const ids = await identityRepo.listIdentityIds(deps.db, { pageSize: PAGE, after });
    if (ids.length === 0) break;
    const identities = await identityRepo.loadIdentities(deps.db, ids);
    const rows = await deps.db.selectFrom('mfa_policy_states').selectAll().where('identity_id', 'in', ids).execute();
    for (const identity of identities) {
      if (identity.state !== 'active') continue;
      const policy = enforcer.resolve(identity);
      const row = rows.find((r) => r.identity_id === identity.id && r.rule_id === policy.ruleId);
      const state = row ? { ruleId: row.rule_id, firstAppliedAtMs: Number(row.first_applied_at), loginCount: Number(row.login_count) } : null;
      const { status } = policyStatus(policy, enforcer.enrolledMethods(identity), state);
      counts.get(policy.ruleId)![status]++;
    }
    const last = identities.at(-1);
    if (ids.length < PAGE || !last) break;
    after = { createdAtMs: last.createdAtMs, id: last.id };
  }
  return counts;
}

export function registerPolicyGauges(deps: Pick<Deps, 'db' | 'clock' | 'metrics'>, enforcer: PolicyEnforcer): void {
  let cached: { atMs: number; counts: PolicyCounts } | null = null;
  deps.metrics.gauge(
    'kairos_mfa_policy_identities',
    'Active identities per MFA policy rule and status: enrolled, grace (not enrolled, inside the grace period or not started), overdue, not_required',
    ['rule', 'status'],
    async function () {
      try {
        const now = deps.clock.nowMs();
        if (!cached || now - cached.atMs >= CACHE_MS || now < cached.atMs) cached = { atMs: now, counts: await countByRule(deps, enforcer) };
        for (const [rule, byStatus] of cached.counts) for (const status of STATUSES) this.set({ rule, status }, byStatus[status]);
      } catch {
        // A database outage keeps the last values; kairos_ready reports it.
      }
    },
  );
}
