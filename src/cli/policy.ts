/**
 * `kairos policy explain <identity>`: which MFA rule applies to an identity and why (each rule in order with each
 * condition's outcome), what it requires and allows, and where the identity stands under it (enrolled, grace with
 * its deadline, overdue), from the database in the config. Reads only (SQLite read-only, one PostgreSQL connection).
 */
import pino from 'pino';
import type { KairosConfig } from '../config/schema.js';
import * as identityRepo from '../identity/repository.js';
import { createDeps, createModules, registerSecondFactorTypes } from '../registry.js';
import { openStorage, type Storage } from '../storage/db.js';
import { systemClock, type Clock } from '../support/clock.js';
import { PolicyEnforcer } from '../mfa/policy/enforcer.js';
import { policiesOf } from '../mfa/policy/module.js';
import { PolicyRepository } from '../mfa/policy/repository.js';
import { explainMatch, policyJson, policyStatus } from '../mfa/policy/rules.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export interface PolicyExplanation {
  identity: { id: string; schema_id: string; state: string };
  rule: Record<string, unknown>;
  /** Every configured rule in order, with each condition's outcome; the first matched one applies. */
  rules_checked: { rule_id: string; matched: boolean; conditions: { condition: string; holds: boolean }[] }[];
  status: string;
  first_applied_at: string | null;
  logins_under_rule: number;
  enrollment_deadline: string | null;
  logins_left: number | null;
  /** The second factors the identity has (codes by channel: `email`, `sms`), and which of them the rule counts. */
  second_factors: { method: string; allowed: boolean; accepted: boolean }[];
  remembered_devices: number;
}

async function findIdentityId(storage: Storage, needle: string): Promise<string | null> {
  if (UUID.test(needle) && (await identityRepo.findIdentity(storage.db, needle.toLowerCase()))) return needle.toLowerCase();
  for (const candidate of new Set([needle, needle.toLowerCase()])) {
    for (const type of ['password', 'code', 'webauthn', 'passkey']) {
      const id = await identityRepo.findIdentityIdByIdentifier(storage.db, type, candidate);
      if (id) return id;
    }
  }
  return null;
}

export async function explainPolicy(config: KairosConfig, needle: string, clock: Clock = systemClock): Promise<PolicyExplanation | null> {
  const storage = openStorage(config.dsn, { readOnly: true, poolSize: 1 });
  try {
    const identityId = await findIdentityId(storage, needle);
    if (!identityId) return null;
    const identity = (await identityRepo.findIdentity(storage.db, identityId))!;
    // The modules in play say which credential types are second factors (and add the code check), as in `serve`.
    const deps = createDeps(config, { storage, clock, logger: pino({ level: 'silent' }) });
    registerSecondFactorTypes(deps, createModules(deps));
    const policies = policiesOf(config);
    const repository = new PolicyRepository(storage.db, storage.dialect);
    const enforcer = new PolicyEnforcer(deps, policies, repository);
    const policy = enforcer.resolve(identity);
    const all = deps.identities.secondFactorMethods(identity, { all: true, kinds: true });
    const allowed = all.filter((m) => enforcer.allows(identity, m));
    const state = (await repository.states(identity.id)).find((s) => s.ruleId === policy.ruleId) ?? null;
    const status = policyStatus(policy, allowed, state);
    return {
      identity: { id: identity.id, schema_id: identity.schemaId, state: identity.state },
      rule: policyJson(policy),
      rules_checked: explainMatch(identity, policies).map((r) => ({ rule_id: r.ruleId, matched: r.matched, conditions: r.conditions })),
      status: status.status,
      first_applied_at: iso(state?.firstAppliedAtMs ?? null),
      logins_under_rule: state?.loginCount ?? 0,
      enrollment_deadline: iso(status.graceDeadlineMs),
      logins_left: status.loginsLeft,
      second_factors: all.map((method) => ({ method, allowed: allowed.includes(method), accepted: (policy.acceptedMethods as readonly string[]).includes(method) })),
      remembered_devices: (await repository.activeDevices(identity.id, clock.nowMs())).length,
    };
  } finally {
    await storage.close();
  }
}

const seconds = (s: number) => (s % 86_400 === 0 ? `${s / 86_400}d` : s % 3600 === 0 ? `${s / 3600}h` : `${s}s`);

/** The explanation for people. */
export function formatPolicyExplanation(r: PolicyExplanation): string {
  const rule = r.rule as { rule_id: string; default: boolean; matched_by: string[]; required: unknown; allowed_methods: string[]; enrollment_grace: { duration_seconds: number | null; logins: number | null } | null; remember_device_seconds: number | null };
  const lines: string[] = [];
  const row = (label: string, value: string) => lines.push(`${label.padEnd(16)}${value}`);
  row('identity', `${r.identity.id} (schema ${r.identity.schema_id}, ${r.identity.state})`);
  row('rule', `${rule.rule_id}${rule.default ? ' (the default rule: no rule matched)' : ''}`);
  row('why', rule.default ? 'no rule in selfservice.mfa.policies matched' : rule.matched_by.length ? rule.matched_by.join(' and ') : 'the rule matches every identity');
  lines.push('rules checked (first match wins):');
  const matchedIndex = r.rules_checked.findIndex((c) => c.matched);
  r.rules_checked.forEach((c, i) => {
    const verdict = i === matchedIndex ? 'applies' : matchedIndex !== -1 && i > matchedIndex ? 'not reached' : 'no match';
    const conditions = c.conditions.length ? c.conditions.map((x) => `${x.holds ? '✓' : '✗'} ${x.condition}`).join(', ') : 'matches every identity';
    lines.push(`  ${String(i + 1).padStart(2)}. ${c.rule_id.padEnd(20)} ${verdict.padEnd(12)} ${conditions}`);
  });
  row('required', Array.isArray(rule.required) ? `one of ${rule.required.join(', ')}` : String(rule.required));
  row('allowed', rule.allowed_methods.join(', ') || '(none)');
  const grace = rule.enrollment_grace;
  row('grace', grace ? [grace.duration_seconds !== null ? `${seconds(grace.duration_seconds)} from when the rule first applied` : null, grace.logins !== null ? `${grace.logins} sign-ins` : null].filter(Boolean).join(' or ') : 'none');
  row('remember device', rule.remember_device_seconds === null ? 'off' : seconds(rule.remember_device_seconds));
  const standing = [r.status];
  if (r.enrollment_deadline) standing.push(`deadline ${r.enrollment_deadline}`);
  if (r.logins_left !== null) standing.push(`${r.logins_left} sign-ins left`);
  row('status', standing.join(', '));
  row('first applied', r.first_applied_at ? `${r.first_applied_at} (${r.logins_under_rule} sign-ins under the rule since)` : 'not yet (at the next sign-in or session use)');
  row('second factors', r.second_factors.length ? r.second_factors.map((f) => `${f.method}${f.allowed ? (f.accepted ? '' : ' (allowed, does not satisfy required)') : ' (forbidden: does not count)'}`).join(', ') : 'none');
  row('remembered', `${r.remembered_devices} browser${r.remembered_devices === 1 ? '' : 's'}`);
  return lines.join('\n') + '\n';
}
