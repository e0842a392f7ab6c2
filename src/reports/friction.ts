/**
 * The friction baseline of an MFA rollout (issue 16, point 4), computed from what Kairos already records: the audit
 * trail (`audit_events`), the settings flows that started an enrollment (`selfservice_flows`), and the recovery-code
 * table for the current state. Read-only; plain Kysely queries that run the same on SQLite and PostgreSQL (only
 * range scans on indexed columns: `audit_events(created_at, id)`, `selfservice_flows(created_at)` is not indexed, so
 * flows are read by kind within the period, and identities by primary key).
 *
 * Each number, per ISO week (Monday 00:00 UTC) and per policy rule (rule-of.ts, the rule in force NOW, not when the
 * event happened), and in total:
 * - lockouts: `lockout.started` by kind (`delay`, `locked`), and the distinct identities concerned;
 * - enrollments: started (a settings flow that offered the TOTP set-up, or any finished enrollment), finished
 *   (`second_factor.enrolled`, any method, by method), still in progress (flow not expired), and abandoned, by the
 *   step where people stopped: `before_code` (never sent a right code), `after_wrong_code` (their last answer was
 *   a wrong code, Kratos 4000008) and `at_recovery_codes` (a right code, but the codes were never confirmed); and
 *   failed: refused enrollment submissions (`settings.failed` of a second factor or passkey that did not remove one:
 *   a wrong code, a refused key, recovery codes not acknowledged, a method the rule forbids). These fields keep
 *   their first meaning (TOTP set-ups; second factors finished), so dashboards built on them read the same;
 * - enrollments by method (`enrollments.by_method`), for every factor with an enrollment step, each with
 *   started = finished + in progress + abandoned:
 *   - `totp`: as above (`abandoned` is the same numbers; `finished` only TOTP's);
 *   - `webauthn` (security keys) and `passkey`: a settings flow that offered a key to an identity without one of that
 *     method, or in which someone answered (credentials/webauthn/enrollment-progress.ts, `internal.<method>_enrollment`,
 *     and the trigger node in the flow's UI: a method the MFA rule forbids is not shown, so not offered), finished by
 *     `second_factor.enrolled` (a second-factor key) or `identity.updated` with `security_key_added` / `passkey_added`
 *     (passwordless keys, passkeys; not those made at sign-up). Abandoned by where people stopped: `before_answer`
 *     (the browser never answered the challenge: the server cannot tell a person who never clicked from one who
 *     closed the prompt), `after_browser_error` (the last answer was the browser's refusal: cancelled, timed out,
 *     wrong domain), `after_refused_key` (the last answer was a key Kairos refused: the attestation did not verify,
 *     or the key was already registered), and, for security keys as a first second factor, `at_recovery_codes`;
 *   - email and SMS codes have no enrollment step: a code factor is "enrolled" by having a verified address of a
 *     trait marked `credentials.code.identifier` (credentials/code/mfa.ts), which the verification flow proves, so
 *     nothing can be started and left here. Recovery codes are counted within the factor they come with.
 * - recovery codes: uses (`recovery_codes.used`), rejections (`login.failed` with method `lookup_secret`: 4000012
 *   already used, 4000016 not valid), and uses that left the identity with `lowCodes` or fewer;
 * - recoveries by tier: `backup_code` (a sign-in with a recovery code), `recovery_address` (`recovery.completed`
 *   by an emailed code), `helpdesk` (`recovery.completed` with an admin-issued code or link, or an MFA reset
 *   completed by an operator);
 * - MFA resets: requested, completed by how (`password`, `delay`, `admin`), cancelled;
 * - helpdesk actions: `admin.action_performed` by `details.action` (admin API and console; not the console's own
 *   `console.sign_in`/`console.sign_out`);
 * - rejected-code causes: `second_factor.rejected` by `details.cause`;
 * - the MFA policy's decisions: `mfa_policy.grace_reminded`, `mfa_policy.enrollment_enforced`,
 *   `mfa_policy.method_refused`.
 * `current` is the state at `nowMs`: identities down to their last recovery codes and identities locked or delayed
 * (with ids, so the console can link to them).
 */
import type { Db } from '../storage/db.js';
import type { Identity } from '../identity/identity.js';
import { loadIdentities } from '../identity/repository.js';
import { LOW_REMAINING_CODES } from '../credentials/lookup-secret/messages.js';
import { DEFAULT_RULE, type RuleOf } from './rule-of.js';
import { keyEnrollmentInternal, keyRegisterTrigger, WEBAUTHN_PENDING_KEY, type KeyEnrollmentProgress, type KeyMethod } from '../credentials/webauthn/enrollment-progress.js';

export const DAY_MS = 86_400_000;
export const WEEK_MS = 7 * DAY_MS;

/** Kratos message ids that tell a rejected recovery code's cause, and the TOTP "wrong code" id. */
const LOOKUP_ALREADY_USED = 4000012;
const LOOKUP_INVALID = 4000016;
const TOTP_WRONG = 4000008;
/** Settings methods that enroll a second factor or passkey (a failed submission of one is a failed enrollment). */
const ENROLLABLE = new Set(['totp', 'webauthn', 'passkey', 'lookup_secret']);
/** Methods whose enrollment is a WebAuthn registration (credentials/webauthn/enrollment-progress.ts). */
const KEY_METHODS: readonly KeyMethod[] = ['webauthn', 'passkey'];

export interface TotpAbandonment {
  before_code: number;
  after_wrong_code: number;
  at_recovery_codes: number;
}

export interface PasskeyAbandonment {
  before_answer: number;
  after_browser_error: number;
  after_refused_key: number;
}

export interface KeyAbandonment extends PasskeyAbandonment {
  at_recovery_codes: number;
}

/** One method's enrollments: `started` = `finished` + `in_progress` + the abandoned (within one period). */
export interface MethodEnrollments<A> {
  started: number;
  finished: number;
  in_progress: number;
  abandoned: A;
}

export interface FrictionCounts {
  lockouts: { delay: number; locked: number; identities: number };
  enrollments: {
    started: number;
    finished: number;
    finished_by_method: Record<string, number>;
    /** Refused enrollment submissions (each wrong code, refused key, forbidden method…), not people. */
    failed: number;
    in_progress: number;
    abandoned: TotpAbandonment;
    /** Every factor with an enrollment step (email and SMS codes have none: see the header). */
    by_method: { totp: MethodEnrollments<TotpAbandonment>; webauthn: MethodEnrollments<KeyAbandonment>; passkey: MethodEnrollments<PasskeyAbandonment> };
  };
  recovery_codes: { used: number; rejected: { already_used: number; invalid: number }; left_low: number };
  recoveries: { backup_code: number; recovery_address: number; helpdesk: number };
  mfa_resets: { requested: number; completed: { password: number; delay: number; admin: number }; cancelled: number };
  helpdesk_actions: Record<string, number>;
  rejected_codes: Record<string, number>;
  /** The MFA policy's decisions: reminders during the grace period, sign-ins sent to enrollment, methods refused. */
  policy: { grace_reminders: number; enrollments_enforced: number; methods_refused: number };
}

export interface FrictionRow extends FrictionCounts {
  /** Monday of the ISO week, `YYYY-MM-DD` (UTC). */
  week: string;
  rule: string;
}

export interface FrictionReport {
  since: string;
  until: string;
  generated_at: string;
  low_codes_threshold: number;
  rows: FrictionRow[];
  totals: FrictionCounts;
  by_rule: Record<string, FrictionCounts>;
  /** Identities behind the numbers, by what happened to them in the period (at most `maxIds` each). */
  identities: { locked_out: string[]; abandoned_enrollment: string[]; recovered_by_helpdesk: string[] };
  current: {
    low_on_codes: { identity_id: string; remaining: number; rule: string }[];
    locked: { identity_id: string; state: 'locked' | 'delayed'; until: string | null; rule: string }[];
  };
}

export interface FrictionOptions {
  sinceMs: number;
  untilMs: number;
  nowMs: number;
  ruleOf?: RuleOf;
  lowCodes?: number;
  /** Ids listed per kind in `identities` and `current`. */
  maxIds?: number;
}

export function emptyCounts(): FrictionCounts {
  return {
    lockouts: { delay: 0, locked: 0, identities: 0 },
    enrollments: {
      started: 0,
      finished: 0,
      finished_by_method: {},
      failed: 0,
      in_progress: 0,
      abandoned: { before_code: 0, after_wrong_code: 0, at_recovery_codes: 0 },
      by_method: {
        totp: { started: 0, finished: 0, in_progress: 0, abandoned: { before_code: 0, after_wrong_code: 0, at_recovery_codes: 0 } },
        webauthn: { started: 0, finished: 0, in_progress: 0, abandoned: { before_answer: 0, after_browser_error: 0, after_refused_key: 0, at_recovery_codes: 0 } },
        passkey: { started: 0, finished: 0, in_progress: 0, abandoned: { before_answer: 0, after_browser_error: 0, after_refused_key: 0 } },
      },
    },
    recovery_codes: { used: 0, rejected: { already_used: 0, invalid: 0 }, left_low: 0 },
    recoveries: { backup_code: 0, recovery_address: 0, helpdesk: 0 },
    mfa_resets: { requested: 0, completed: { password: 0, delay: 0, admin: 0 }, cancelled: 0 },
    helpdesk_actions: {},
    rejected_codes: {},
    policy: { grace_reminders: 0, enrollments_enforced: 0, methods_refused: 0 },
  };
}

/** Monday 00:00 UTC of the ISO week holding `ms`, as `YYYY-MM-DD`. */
export function weekOf(ms: number): string {
  const day = Math.floor(ms / DAY_MS);
  // 1970-01-01 was a Thursday: (day + 3) mod 7 is 0 on Mondays.
  const monday = day - ((((day + 3) % 7) + 7) % 7);
  return new Date(monday * DAY_MS).toISOString().slice(0, 10);
}

/** `90d`, `12w`, `24h` → milliseconds (the `--since` of `kairos report friction`). */
export function parseSince(value: string): number {
  const m = /^(\d{1,4})([hdw])$/.exec(value.trim());
  if (!m) throw new RangeError(`since must look like 90d, 12w or 24h, not "${value}"`);
  const n = Number(m[1]);
  if (n <= 0) throw new RangeError('since must be more than zero');
  const ms = n * ({ h: 3_600_000, d: DAY_MS, w: WEEK_MS } as const)[m[2] as 'h' | 'd' | 'w'];
  if (ms > 3 * 366 * DAY_MS) throw new RangeError('since must be at most 3 years');
  return ms;
}

const inc = (map: Record<string, number>, key: string, by = 1) => {
  map[key] = (map[key] ?? 0) + by;
};

const parse = (text: string | null | undefined): Record<string, unknown> => {
  try {
    const value = JSON.parse(text ?? '{}');
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
};

const REPORTED_TYPES = [
  'lockout.started',
  'second_factor.enrolled',
  'settings.failed',
  'recovery_codes.used',
  'login.failed',
  'recovery.completed',
  'mfa_reset.requested',
  'mfa_reset.completed',
  'mfa_reset.cancelled',
  'admin.action_performed',
  'second_factor.rejected',
  'mfa_policy.grace_reminded',
  'mfa_policy.enrollment_enforced',
  'mfa_policy.method_refused',
] as const;

/** Adds `b` into `a` (for totals and per-rule sums). */
export function addCounts(a: FrictionCounts, b: FrictionCounts): void {
  const addMap = (x: Record<string, number>, y: Record<string, number>) => {
    for (const [k, v] of Object.entries(y)) inc(x, k, v);
  };
  a.lockouts.delay += b.lockouts.delay;
  a.lockouts.locked += b.lockouts.locked;
  a.lockouts.identities += b.lockouts.identities;
  a.enrollments.started += b.enrollments.started;
  a.enrollments.finished += b.enrollments.finished;
  addMap(a.enrollments.finished_by_method, b.enrollments.finished_by_method);
  a.enrollments.failed += b.enrollments.failed;
  a.enrollments.in_progress += b.enrollments.in_progress;
  a.enrollments.abandoned.before_code += b.enrollments.abandoned.before_code;
  a.enrollments.abandoned.after_wrong_code += b.enrollments.abandoned.after_wrong_code;
  a.enrollments.abandoned.at_recovery_codes += b.enrollments.abandoned.at_recovery_codes;
  for (const method of ['totp', 'webauthn', 'passkey'] as const) {
    const x = a.enrollments.by_method[method];
    const y = b.enrollments.by_method[method];
    x.started += y.started;
    x.finished += y.finished;
    x.in_progress += y.in_progress;
    addMap(x.abandoned as unknown as Record<string, number>, y.abandoned as unknown as Record<string, number>);
  }
  a.recovery_codes.used += b.recovery_codes.used;
  a.recovery_codes.rejected.already_used += b.recovery_codes.rejected.already_used;
  a.recovery_codes.rejected.invalid += b.recovery_codes.rejected.invalid;
  a.recovery_codes.left_low += b.recovery_codes.left_low;
  a.recoveries.backup_code += b.recoveries.backup_code;
  a.recoveries.recovery_address += b.recoveries.recovery_address;
  a.recoveries.helpdesk += b.recoveries.helpdesk;
  a.mfa_resets.requested += b.mfa_resets.requested;
  a.mfa_resets.completed.password += b.mfa_resets.completed.password;
  a.mfa_resets.completed.delay += b.mfa_resets.completed.delay;
  a.mfa_resets.completed.admin += b.mfa_resets.completed.admin;
  a.mfa_resets.cancelled += b.mfa_resets.cancelled;
  addMap(a.helpdesk_actions, b.helpdesk_actions);
  addMap(a.rejected_codes, b.rejected_codes);
  a.policy.grace_reminders += b.policy.grace_reminders;
  a.policy.enrollments_enforced += b.policy.enrollments_enforced;
  a.policy.methods_refused += b.policy.methods_refused;
}

/** Loads identities by id in bounded batches (for the rule of each). */
async function rulesOf(db: Db, ids: Iterable<string>, ruleOf: RuleOf): Promise<Map<string, string>> {
  const all = [...new Set(ids)];
  const rules = new Map<string, string>();
  for (let i = 0; i < all.length; i += 500) {
    const batch = all.slice(i, i + 500);
    const found: Identity[] = await loadIdentities(db, batch);
    for (const identity of found) rules.set(identity.id, ruleOf(identity));
  }
  return rules;
}

export async function frictionReport(db: Db, options: FrictionOptions): Promise<FrictionReport> {
  const { sinceMs, untilMs, nowMs } = options;
  const ruleOf: RuleOf = options.ruleOf ?? (() => DEFAULT_RULE);
  const lowCodes = options.lowCodes ?? LOW_REMAINING_CODES;
  const maxIds = options.maxIds ?? 100;

  const events = await db
    .selectFrom('audit_events')
    .select(['type', 'identity_id', 'flow_id', 'details', 'created_at'])
    .where('created_at', '>=', sinceMs)
    .where('created_at', '<', untilMs)
    .where((eb) =>
      eb.or([
        eb('type', 'in', [...REPORTED_TYPES]),
        // Passwordless keys and passkeys added in settings (a second-factor key is `second_factor.enrolled`).
        eb.and([eb('type', '=', 'identity.updated'), eb.or([eb('details', 'like', '%"security_key_added"%'), eb('details', 'like', '%"passkey_added"%')])]),
      ]),
    )
    .orderBy('created_at')
    .orderBy('id')
    .execute();

  // Settings flows that offered a TOTP enrollment (credentials/totp: `internal.totp_offer` until a right code,
  // then `internal.totp_pending` with `verified_step` while the recovery codes wait for confirmation; both are gone
  // once committed, which its `second_factor.enrolled` event (same flow id) tells), or a key (enrollment-progress.ts).
  const flows = await db
    .selectFrom('selfservice_flows')
    .select(['id', 'identity_id', 'internal', 'ui', 'expires_at', 'created_at'])
    .where('kind', '=', 'settings')
    .where('created_at', '>=', sinceMs)
    .where('created_at', '<', untilMs)
    .where((eb) =>
      eb.or([
        eb('internal', 'like', '%"totp_offer"%'),
        eb('internal', 'like', '%"totp_pending"%'),
        ...KEY_METHODS.map((m) => eb('internal', 'like', `%"${keyEnrollmentInternal(m)}"%`)),
      ]),
    )
    .execute();
  const enrolledFlows = new Set(events.filter((e) => e.type === 'second_factor.enrolled' && e.flow_id).map((e) => e.flow_id!));
  /** Flows in which a key of each method was added (`method|flow id`). */
  const keyAddedIn = new Set<string>();
  for (const e of events) {
    const method = keyAdded(e.type, parse(e.details));
    if (method && e.flow_id) keyAddedIn.add(`${method}|${e.flow_id}`);
  }

  const lowRows = await db
    .selectFrom('lookup_secret_codes')
    .select(['identity_id', (eb) => eb.fn.countAll<number>().as('remaining')])
    .where('used_at', 'is', null)
    .groupBy('identity_id')
    .having((eb) => eb.fn.countAll(), '<=', lowCodes)
    .orderBy('identity_id')
    .execute();
  // Identities whose codes are all used have no unused row: find them among the identities that have codes at all.
  const exhausted = await db
    .selectFrom('lookup_secret_codes')
    .select('identity_id')
    .groupBy('identity_id')
    .having((eb) => eb.fn.sum<number>(eb.case().when('used_at', 'is', null).then(1).else(0).end()), '=', 0)
    .orderBy('identity_id')
    .execute();
  const locks = await db
    .selectFrom('mfa_lockouts')
    .select(['identity_id', 'locked_at', 'next_attempt_at'])
    .where((eb) => eb.or([eb('locked_at', 'is not', null), eb('next_attempt_at', '>', nowMs)]))
    .orderBy('identity_id')
    .limit(maxIds)
    .execute();

  const low = [...lowRows.map((r) => ({ identity_id: r.identity_id, remaining: Number(r.remaining) })), ...exhausted.map((r) => ({ identity_id: r.identity_id, remaining: 0 }))]
    .sort((a, b) => a.remaining - b.remaining || a.identity_id.localeCompare(b.identity_id))
    .slice(0, maxIds);

  const rules = await rulesOf(
    db,
    [...events.map((e) => e.identity_id), ...flows.map((f) => f.identity_id), ...low.map((l) => l.identity_id), ...locks.map((l) => l.identity_id)].filter((id): id is string => !!id),
    ruleOf,
  );
  const ruleFor = (identityId: string | null) => (identityId && rules.get(identityId)) || DEFAULT_RULE;

  const rows = new Map<string, FrictionRow>();
  const lockedIdentities = new Map<string, Set<string>>();
  const row = (atMs: number, identityId: string | null): FrictionRow => {
    const week = weekOf(atMs);
    const rule = ruleFor(identityId);
    const key = `${week}|${rule}`;
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { week, rule, ...emptyCounts() }));
    return r;
  };
  const lockedOut = new Set<string>();
  const abandonedIds = new Set<string>();
  const helpdeskRecovered = new Set<string>();

  for (const e of events) {
    const d = parse(e.details);
    // A key made at sign-up is no settings enrollment: no row for it.
    if (e.type === 'identity.updated' && !keyAdded(e.type, d)) continue;
    const r = row(Number(e.created_at), e.identity_id);
    switch (e.type) {
      case 'lockout.started': {
        if (d.kind === 'locked') r.lockouts.locked++;
        else r.lockouts.delay++;
        if (e.identity_id) {
          const key = `${r.week}|${r.rule}`;
          const seen = lockedIdentities.get(key) ?? new Set<string>();
          lockedIdentities.set(key, seen);
          if (!seen.has(e.identity_id)) {
            seen.add(e.identity_id);
            r.lockouts.identities++;
          }
          lockedOut.add(e.identity_id);
        }
        break;
      }
      case 'second_factor.enrolled': {
        r.enrollments.started++;
        r.enrollments.finished++;
        inc(r.enrollments.finished_by_method, String(d.method ?? 'unknown'));
        const method = d.method === 'totp' ? 'totp' : keyAdded(e.type, d);
        if (method) {
          r.enrollments.by_method[method].started++;
          r.enrollments.by_method[method].finished++;
        }
        break;
      }
      case 'identity.updated': {
        const method = keyAdded(e.type, d);
        if (method) {
          r.enrollments.by_method[method].started++;
          r.enrollments.by_method[method].finished++;
        }
        break;
      }
      case 'settings.failed':
        if (ENROLLABLE.has(String(d.method)) && d.removal !== true) r.enrollments.failed++;
        break;
      case 'recovery_codes.used':
        r.recovery_codes.used++;
        if (typeof d.remaining === 'number' && d.remaining <= lowCodes) r.recovery_codes.left_low++;
        if (d.purpose !== 'totp_unlink') r.recoveries.backup_code++;
        break;
      case 'login.failed': {
        if (d.method !== 'lookup_secret') break;
        const ids = Array.isArray(d.message_ids) ? d.message_ids : [];
        if (ids.includes(LOOKUP_ALREADY_USED)) r.recovery_codes.rejected.already_used++;
        else if (ids.includes(LOOKUP_INVALID)) r.recovery_codes.rejected.invalid++;
        break;
      }
      case 'recovery.completed':
        if (d.issued_by === undefined || d.issued_by === 'self') r.recoveries.recovery_address++;
        else {
          r.recoveries.helpdesk++;
          if (e.identity_id) helpdeskRecovered.add(e.identity_id);
        }
        break;
      case 'mfa_reset.requested':
        r.mfa_resets.requested++;
        break;
      case 'mfa_reset.completed':
        if (d.via === 'password' || d.via === 'delay' || d.via === 'admin') r.mfa_resets.completed[d.via]++;
        if (d.via === 'admin') {
          r.recoveries.helpdesk++;
          if (e.identity_id) helpdeskRecovered.add(e.identity_id);
        }
        break;
      case 'mfa_reset.cancelled':
        r.mfa_resets.cancelled++;
        break;
      case 'admin.action_performed':
        // Operators signing in and out of the console are not actions on anyone's account.
        if (!String(d.action ?? '').startsWith('console.')) inc(r.helpdesk_actions, String(d.action ?? 'unknown'));
        break;
      case 'second_factor.rejected':
        inc(r.rejected_codes, String(d.cause ?? 'unknown'));
        break;
      case 'mfa_policy.grace_reminded':
        r.policy.grace_reminders++;
        break;
      case 'mfa_policy.enrollment_enforced':
        r.policy.enrollments_enforced++;
        break;
      case 'mfa_policy.method_refused':
        r.policy.methods_refused++;
        break;
    }
  }

  for (const f of flows) {
    const internal = parse(f.internal);
    const expired = Number(f.expires_at) <= nowMs;
    const enrolledHere = enrolledFlows.has(f.id) || KEY_METHODS.some((m) => keyAddedIn.has(`${m}|${f.id}`));
    for (const method of KEY_METHODS) {
      // A key added in this flow was counted (started and finished) with its event.
      if (keyAddedIn.has(`${method}|${f.id}`)) continue;
      const stop = keyStop(method, internal, f.ui, enrolledHere);
      if (!stop) continue;
      const r = row(Number(f.created_at), f.identity_id);
      const counts = r.enrollments.by_method[method];
      counts.started++;
      if (!expired) counts.in_progress++;
      else {
        inc(counts.abandoned as unknown as Record<string, number>, stop);
        if (f.identity_id) abandonedIds.add(f.identity_id);
      }
    }
    // TOTP (the flows the query found by their TOTP entries; a flow that only offered keys is not one).
    if (!f.internal.includes('"totp_offer"') && !f.internal.includes('"totp_pending"')) continue;
    // A finished enrollment was counted (started and finished) with its event.
    if (enrolledFlows.has(f.id)) continue;
    const r = row(Number(f.created_at), f.identity_id);
    const totp = r.enrollments.by_method.totp;
    r.enrollments.started++;
    totp.started++;
    const pending = (internal.totp_pending ?? {}) as { verified_step?: unknown };
    // A flow with neither an offer nor a pending secret was committed (its event may lie outside the period).
    if (!internal.totp_pending && !internal.totp_offer) continue;
    if (!expired) {
      r.enrollments.in_progress++;
      totp.in_progress++;
      continue;
    }
    if (f.identity_id) abandonedIds.add(f.identity_id);
    const stop: keyof TotpAbandonment = typeof pending.verified_step === 'number' ? 'at_recovery_codes' : lastCodeWasWrong(f.ui) ? 'after_wrong_code' : 'before_code';
    r.enrollments.abandoned[stop]++;
    totp.abandoned[stop]++;
  }

  const sorted = [...rows.values()].sort((a, b) => a.week.localeCompare(b.week) || a.rule.localeCompare(b.rule));
  const totals = emptyCounts();
  const byRule: Record<string, FrictionCounts> = {};
  for (const r of sorted) {
    const { week: _w, rule, ...counts } = r;
    addCounts(totals, counts);
    addCounts((byRule[rule] ??= emptyCounts()), counts);
  }
  // Distinct identities over the whole period (a person locked out in two weeks counts once in the totals).
  totals.lockouts.identities = lockedOut.size;

  return {
    since: new Date(sinceMs).toISOString(),
    until: new Date(untilMs).toISOString(),
    generated_at: new Date(nowMs).toISOString(),
    low_codes_threshold: lowCodes,
    rows: sorted,
    totals,
    by_rule: byRule,
    identities: {
      locked_out: [...lockedOut].sort().slice(0, maxIds),
      abandoned_enrollment: [...abandonedIds].sort().slice(0, maxIds),
      recovered_by_helpdesk: [...helpdeskRecovered].sort().slice(0, maxIds),
    },
    current: {
      low_on_codes: low.map((l) => ({ ...l, rule: ruleFor(l.identity_id) })),
      locked: locks.map((l) => ({
        identity_id: l.identity_id,
        state: l.locked_at !== null ? ('locked' as const) : ('delayed' as const),
        until: l.locked_at !== null || l.next_attempt_at === null ? null : new Date(Number(l.next_attempt_at)).toISOString(),
        rule: ruleFor(l.identity_id),
      })),
    },
  };
}

/** The key method a `second_factor.enrolled` or `identity.updated` event added a key of, if any. */
function keyAdded(type: string, d: Record<string, unknown>): KeyMethod | null {
  if (type === 'second_factor.enrolled') return d.method === 'webauthn' ? 'webauthn' : null;
  if (type !== 'identity.updated' || d.via === 'registration') return null;
  if (d.method === 'webauthn' && d.change === 'security_key_added') return 'webauthn';
  if (d.method === 'passkey' && d.change === 'passkey_added') return 'passkey';
  return null;
}

/**
 * Where a key enrollment of `method` in a settings flow stopped, or null when the flow did not start one: it
 * started when the flow showed the method's trigger to an identity without a key of it (and nothing else was
 * enrolled in the flow), or when someone answered the challenge.
 */
function keyStop(method: KeyMethod, internal: Record<string, unknown>, uiText: string, enrolledOtherFactor: boolean): keyof KeyAbandonment | null {
  const progress = internal[keyEnrollmentInternal(method)] as Partial<KeyEnrollmentProgress> | undefined;
  const pendingKey = method === 'webauthn' && internal[WEBAUTHN_PENDING_KEY] !== undefined;
  if (!progress && !pendingKey) return null;
  const refused = typeof progress?.refused === 'number' ? progress.refused : 0;
  if (!pendingKey && refused === 0) {
    if (!progress?.first_key || enrolledOtherFactor || !showedTrigger(uiText, method)) return null;
  }
  if (pendingKey) return 'at_recovery_codes';
  if (refused > 0) return progress?.last_refusal === 'browser' ? 'after_browser_error' : 'after_refused_key';
  return 'before_answer';
}

/** The persisted flow UI shows the method's registration trigger (the MFA rule may have hidden it). */
function showedTrigger(uiText: string, method: KeyMethod): boolean {
  const ui = parse(uiText) as { nodes?: { attributes?: { name?: string } }[] };
  const trigger = keyRegisterTrigger(method);
  return (ui.nodes ?? []).some((n) => n.attributes?.name === trigger);
}

/** The persisted flow UI: did its last answer put "wrong code" (4000008) on the TOTP code field? */
function lastCodeWasWrong(uiText: string): boolean {
  const ui = parse(uiText) as { nodes?: { attributes?: { name?: string }; messages?: { id?: number }[] }[] };
  return (ui.nodes ?? []).some((n) => n.attributes?.name === 'totp_code' && (n.messages ?? []).some((m) => m.id === TOTP_WRONG));
}

/** Flat CSV: one line per week and rule; nested counts as dotted column names; maps as `name:count;…`. */
export function frictionCsv(report: FrictionReport): string {
  const flatten = (value: unknown, prefix: string, out: Record<string, string>) => {
    if (typeof value === 'number') out[prefix] = String(value);
    else if (value && typeof value === 'object') {
      const entries = Object.entries(value as Record<string, unknown>);
      const isMap = prefix === 'helpdesk_actions' || prefix === 'rejected_codes' || prefix === 'enrollments.finished_by_method';
      if (isMap) out[prefix] = entries.sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}:${v}`).join(';');
      else for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, out);
    }
  };
  const lines: Record<string, string>[] = report.rows.map((r) => {
    const { week, rule, ...counts } = r;
    const out: Record<string, string> = { week, rule };
    flatten(counts, '', out);
    return out;
  });
  const header = ['week', 'rule'];
  const template: Record<string, string> = {};
  flatten(emptyCounts(), '', template);
  header.push(...Object.keys(template));
  const cell = (v: string) => (/[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  return [header.join(','), ...lines.map((l) => header.map((h) => cell(l[h] ?? '')).join(','))].join('\n') + '\n';
}

const STOP_WORDS: Record<string, string> = {
  before_code: 'before a code',
  after_wrong_code: 'after a wrong code',
  at_recovery_codes: 'at the recovery codes',
  before_answer: 'before the browser answered',
  after_browser_error: "after the browser's refusal",
  after_refused_key: 'after a refused key',
};

/** One method's enrollments, as a line of the text report. */
function methodText(m: MethodEnrollments<object>): string {
  const stops = Object.entries(m.abandoned as Record<string, number>).map(([k, v]) => `${v} ${STOP_WORDS[k] ?? k}`);
  return `${m.started} started, ${m.finished} finished, ${m.in_progress} in progress; abandoned: ${stops.join(', ')}`;
}

/** A short text table for people (`kairos report friction` without --json/--csv). */
export function frictionText(report: FrictionReport): string {
  const t = report.totals;
  const lines = [
    `friction ${report.since} .. ${report.until}`,
    `lockouts          ${t.lockouts.delay} delays, ${t.lockouts.locked} hard locks, ${t.lockouts.identities} identities`,
    `enrollments       ${t.enrollments.started} started, ${t.enrollments.finished} finished, ${t.enrollments.failed} failed submissions, ${t.enrollments.in_progress} in progress; abandoned: ${t.enrollments.abandoned.before_code} before a code, ${t.enrollments.abandoned.after_wrong_code} after a wrong code, ${t.enrollments.abandoned.at_recovery_codes} at the recovery codes`,
    `  totp            ${methodText(t.enrollments.by_method.totp)}`,
    `  security keys   ${methodText(t.enrollments.by_method.webauthn)}`,
    `  passkeys        ${methodText(t.enrollments.by_method.passkey)}`,
    `recovery codes    ${t.recovery_codes.used} used (${t.recovery_codes.left_low} left ${report.low_codes_threshold} or fewer), rejected: ${t.recovery_codes.rejected.already_used} already used, ${t.recovery_codes.rejected.invalid} invalid`,
    `recoveries        ${t.recoveries.backup_code} backup code, ${t.recoveries.recovery_address} recovery address, ${t.recoveries.helpdesk} helpdesk`,
    `mfa resets        ${t.mfa_resets.requested} requested; completed ${t.mfa_resets.completed.password} with password, ${t.mfa_resets.completed.delay} after the delay, ${t.mfa_resets.completed.admin} by an operator; ${t.mfa_resets.cancelled} cancelled`,
    `helpdesk actions  ${Object.entries(t.helpdesk_actions).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
    `rejected codes    ${Object.entries(t.rejected_codes).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
    `mfa policy        ${t.policy.grace_reminders} grace reminders, ${t.policy.enrollments_enforced} sign-ins sent to enrollment, ${t.policy.methods_refused} methods refused`,
    `low on codes now  ${report.current.low_on_codes.length} identities; locked or delayed now: ${report.current.locked.length}`,
    '',
    'week        rule        lockouts  enroll started/finished/abandoned  codes used/rejected  recoveries b/a/h  helpdesk',
  ];
  for (const r of report.rows) {
    const ab = r.enrollments.abandoned;
    lines.push(
      `${r.week}  ${r.rule.padEnd(10)}  ${String(r.lockouts.delay + r.lockouts.locked).padStart(8)}  ${`${r.enrollments.started}/${r.enrollments.finished}/${ab.before_code + ab.after_wrong_code + ab.at_recovery_codes}`.padStart(33)}  ${`${r.recovery_codes.used}/${r.recovery_codes.rejected.already_used + r.recovery_codes.rejected.invalid}`.padStart(19)}  ${`${r.recoveries.backup_code}/${r.recoveries.recovery_address}/${r.recoveries.helpdesk}`.padStart(16)}  ${String(Object.values(r.helpdesk_actions).reduce((a, b) => a + b, 0)).padStart(8)}`,
    );
  }
  return lines.join('\n') + '\n';
}
