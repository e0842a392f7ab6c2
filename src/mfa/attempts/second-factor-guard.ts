/**
 * Brute-force limits shared by every second factor (TOTP codes, recovery codes): one place decides whether a
 * second-factor submission may be checked at all, and learns whether it failed or succeeded. Method-agnostic: the
 * method name is only recorded (audit, metrics).
 *
 * Layers (issue "TOTP second factor done right", DESIGN §2 "Brute force", README "Brute-force limits"):
 * - per pending login flow: at most MAX_WRONG_CODES_PER_FLOW submissions, then the first factor must be repeated;
 * - per identity: consecutive failures across flows and instances (increasing delay, delay-schedule.ts), and a hard
 *   lock at the NIST ceiling, cleared only by `clearLockout` (admin unlock, account recovery);
 * - per IP: @fastify/rate-limit on flow submissions (server.ts).
 *
 * The guard decides and the strategies speak: `check` (before the code is looked at) and `recordFailure` /
 * `recordSuccess` (after) return a refusal (`{ refused: 'delayed' | 'locked' | 'flow_budget', retryAtMs }`) or null,
 * and the strategy turns a refusal into its message (`refusalMessage`, messages.ts). Nothing here knows flows.
 *
 * Every call takes the step's transaction (`trx`, storage/unit-of-work.ts): the charge or reset commits with the
 * code's verdict, the flow's state and the audit events, or not at all. Each write is one conditional statement:
 * - a failure is counted, its delay set and the hard lock decided by one upsert that only applies while the row is
 *   still the one read (`consecutive_failures = read`, not locked, delay passed, `consecutive_failures < max`); a
 *   concurrent attempt that changed it first makes this one refused, so a burst of guesses cannot race past a limit;
 * - a success resets the counter by the same kind of conditional update (nothing to write when it was zero);
 * - the per-flow budget is read with the flow (locked for the step) and charged by a conditional increment.
 * The attempt is checked first (`check`), then the code, then the verdict is written: the lock order of a step
 * (flow, lockout row, credential rows) is kept because the strategies record the verdict before consuming a code.
 */
import type { Deps } from '../../deps.js';
import type { Db } from '../../storage/db.js';
import { parseDurationMs } from '../../config/duration.js';
import { DEFAULT_DELAY_SCHEDULE, delayMsAfter, type DelaySchedule } from './delay-schedule.js';
import { testPause } from '../../support/test-pause.js';
import { LockoutRepository, lockoutFact, lockoutFromFact, type LockoutState } from './lockout-repository.js';

/**
 * Code submissions allowed on one pending aal2 login flow (NIST SP 800-63B §5.2.2: a verifier limits failed
 * attempts). Five guesses at a 6-digit code with a ±1 window succeed with probability about 5·3/10^6.
 */
export const MAX_WRONG_CODES_PER_FLOW = 5;

/** Retry hint when a concurrent attempt of the same identity changed the counter first. */
const CONTENTION_RETRY_MS = 1000;

/** One second-factor submission, as the guard sees it (no flow or HTTP types: mfa/ does not import flows/). */
export interface SecondFactorAttempt {
  flowId: string;
  /** Wrong submissions already charged to the flow (read with the flow, which the step holds locked). */
  flowFailedAttempts: number;
  identityId: string;
  /** The method submitted (`totp`, `lookup_secret`). */
  method: string;
  request: { ip: string; userAgent: string | null };
  /** The identity's lockout state read by `check` (set by the guard). */
  state?: LockoutState;
  /** Set by `recordSuccess` when it reset a non-zero counter (a later failure of the same attempt restores it). */
  resetFrom?: number;
}

/** Why a submission was refused, and when trying again may help (null: never, without recovery or an admin). */
export interface GuardRefusal {
  refused: 'delayed' | 'locked' | 'flow_budget';
  retryAtMs: number | null;
}

/** The `lockout` section of `GET /admin/identities/{id}/mfa`. */
export interface LockoutReport {
  state: 'none' | 'delayed' | 'locked';
  consecutive_failures: number;
  max_consecutive_failures: number;
  last_failure_at: string | null;
  retry_at: string | null;
  locked_at: string | null;
}

/** Who lifted a lock (recorded in `lockout.cleared`). */
export type LockoutClearedBy = 'admin' | 'recovery' | 'success';

/** Counts wrong submissions per flow (storage/flow-repository.ts `FlowRepository` implements it; mfa/ does not import flows/). */
export interface FlowAttemptCounter {
  recordFailedAttempt(flowId: string, max: number, db: Db): Promise<number | null>;
}

type GuardDeps = Pick<Deps, 'db' | 'clock' | 'audit' | 'metrics' | 'logger' | 'config'> & { flowAttempts: FlowAttemptCounter };

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function scheduleFromConfig(config: Deps['config']): DelaySchedule {
  const lockout = config.selfservice.methods.totp.config.lockout;
  if (!lockout) return DEFAULT_DELAY_SCHEDULE;
  return {
    freeFailures: lockout.free_failures,
    baseDelayMs: parseDurationMs(lockout.base_delay),
    maxDelayMs: parseDurationMs(lockout.max_delay),
    maxConsecutiveFailures: lockout.max_consecutive_failures,
  };
}

/** A stored lockout state as the admin API (and `kairos doctor`) shows it at `nowMs`. */
export function lockoutReport(state: LockoutState, schedule: DelaySchedule, nowMs: number): LockoutReport {
  const delayed = state.nextAttemptAtMs !== null && state.nextAttemptAtMs > nowMs;
  return {
    state: state.lockedAtMs !== null ? 'locked' : delayed ? 'delayed' : 'none',
    consecutive_failures: state.consecutiveFailures,
    max_consecutive_failures: schedule.maxConsecutiveFailures,
    last_failure_at: iso(state.lastFailureAtMs),
    retry_at: state.lockedAtMs === null && delayed ? iso(state.nextAttemptAtMs) : null,
    locked_at: iso(state.lockedAtMs),
  };
}

export class SecondFactorGuard {
  readonly schedule: DelaySchedule;
  private readonly lockouts: LockoutRepository;
  private readonly refusedTotal;
  private readonly lockoutsTotal;
  private readonly clearedTotal;

  constructor(private readonly deps: GuardDeps) {
    this.schedule = scheduleFromConfig(deps.config);
    this.lockouts = new LockoutRepository(deps.db);
    this.refusedTotal = deps.metrics.counter(
      'kairos_mfa_attempts_refused_total',
      'Second-factor submissions refused before their code was checked',
      ['reason', 'method'],
    );
    this.lockoutsTotal = deps.metrics.counter(
      'kairos_mfa_lockouts_total',
      'Identities whose second factors became delayed (kind=delay) or locked (kind=locked) after consecutive wrong codes',
      ['kind', 'method'],
    );
    this.clearedTotal = deps.metrics.counter('kairos_mfa_lockouts_cleared_total', 'Second-factor lockouts cleared', ['by']);
  }

  /** The identity's lockout state as a session fact (loaded with the session by a second-factor step). */
  readonly sessionFact = { name: 'mfa_lockout', expression: lockoutFact };

  /** The lockout state a step loaded with its session (`sessionFact`), or undefined when it did not. */
  stateFromFacts(identityId: string, facts: Record<string, unknown> | undefined): LockoutState | undefined {
    if (!facts || !('mfa_lockout' in facts)) return undefined;
    return lockoutFromFact(identityId, facts.mfa_lockout);
  }

  private refuse(attempt: SecondFactorAttempt, refusal: GuardRefusal): GuardRefusal {
    this.refusedTotal.inc({ reason: refusal.refused === 'delayed' ? 'delay' : refusal.refused, method: attempt.method });
    return refusal;
  }

  /**
   * Whether the submission may be checked at all; call before looking at the code. A refusal never depends on the
   * code, so it reveals nothing about it. Reads the identity's lockout state (one statement, unless `known`).
   */
  async check(trx: Db, attempt: SecondFactorAttempt, known?: LockoutState): Promise<GuardRefusal | null> {
    // A used-up flow is dead whatever the identity's state: once its budget is used even the right code is refused,
    // so a pending login allows at most MAX_WRONG_CODES_PER_FLOW guesses.
    if (attempt.flowFailedAttempts >= MAX_WRONG_CODES_PER_FLOW) return this.refuse(attempt, { refused: 'flow_budget', retryAtMs: null });
    const state = known ?? (await this.lockouts.get(attempt.identityId, trx));
    attempt.state = state;
    const nowMs = this.deps.clock.nowMs();
    if (state.lockedAtMs !== null) return this.refuse(attempt, { refused: 'locked', retryAtMs: null });
    if (state.nextAttemptAtMs !== null && nowMs < state.nextAttemptAtMs) return this.refuse(attempt, { refused: 'delayed', retryAtMs: state.nextAttemptAtMs });
    return null;
  }

  /**
   * The submitted code was wrong (or replayed, or malformed): counts it for the flow and the identity in one
   * conditional statement each. A refusal means a concurrent attempt changed the identity's state first: this
   * submission must be answered as refused (its verdict is not shown).
   */
  async recordFailure(trx: Db, attempt: SecondFactorAttempt): Promise<GuardRefusal | null> {
    const state = attempt.state ?? (await this.lockouts.get(attempt.identityId, trx));
    const identityId = attempt.identityId;
    const nowMs = this.deps.clock.nowMs();
    // A right code that then could not be consumed (replayed) had reset the counter: it counts on from before.
    const counted = attempt.resetFrom ?? state.consecutiveFailures;
    const failures = counted + 1;
    const delayMs = delayMsAfter(failures, this.schedule);
    const locks = failures >= this.schedule.maxConsecutiveFailures;
    const charged = await this.lockouts.chargeFailure(trx, {
      identityId,
      expectedFailures: state.consecutiveFailures,
      failures,
      maxFailures: this.schedule.maxConsecutiveFailures,
      nowMs,
      nextAttemptAtMs: delayMs > 0 && !locks ? nowMs + delayMs : null,
      lock: locks,
    });
    if (!charged) {
      const now = await this.lockouts.get(identityId, trx);
      if (now.lockedAtMs !== null) return this.refuse(attempt, { refused: 'locked', retryAtMs: null });
      return this.refuse(attempt, { refused: 'delayed', retryAtMs: Math.max(now.nextAttemptAtMs ?? 0, nowMs + CONTENTION_RETRY_MS) });
    }
    await testPause('lockout.charged');
    // Per flow: a conditional increment; a flow whose budget a concurrent step used up refuses this one.
    const taken = await this.deps.flowAttempts.recordFailedAttempt(attempt.flowId, MAX_WRONG_CODES_PER_FLOW, trx);
    attempt.flowFailedAttempts = taken ?? MAX_WRONG_CODES_PER_FLOW;
    const base = { identityId, flowId: attempt.flowId, actor: 'system', ipAddress: attempt.request.ip, userAgent: attempt.request.userAgent };
    if (locks) {
      this.lockoutsTotal.inc({ kind: 'locked', method: attempt.method });
      this.deps.logger.warn({ identity_id: identityId, consecutive_failures: failures, method: attempt.method }, 'second factors locked after consecutive wrong codes');
      await this.deps.audit.record(trx, { ...base, type: 'lockout.started', details: { kind: 'locked', consecutive_failures: failures, method: attempt.method } });
    } else if (failures === this.schedule.freeFailures) {
      const retryAtMs = nowMs + delayMs;
      this.lockoutsTotal.inc({ kind: 'delay', method: attempt.method });
      this.deps.logger.info({ identity_id: identityId, consecutive_failures: failures, method: attempt.method }, 'second-factor delay started after consecutive wrong codes');
      await this.deps.audit.record(trx, { ...base, type: 'lockout.started', details: { kind: 'delay', consecutive_failures: failures, method: attempt.method, retry_at: iso(retryAtMs) } });
    }
    return null;
  }

  /**
   * A wrong answer to a first factor that names its identity by a public identifier (a passwordless security key):
   * counted for the flow only, so one pending login still allows at most MAX_WRONG_CODES_PER_FLOW answers. The
   * identity's counter is left alone on purpose: anyone who knows an identifier could otherwise lock the account
   * (the first factor's own limit is per client, as for passwords); a lock or delay set by second factors still
   * refuses the submission at `check`.
   */
  async recordFlowFailure(trx: Db, attempt: SecondFactorAttempt): Promise<void> {
    const taken = await this.deps.flowAttempts.recordFailedAttempt(attempt.flowId, MAX_WRONG_CODES_PER_FLOW, trx);
    attempt.flowFailedAttempts = taken ?? MAX_WRONG_CODES_PER_FLOW;
  }

  /**
   * The submitted code is right: the identity's counter starts again from zero (one conditional statement, none
   * when it already is zero). Call before consuming the code; a refusal (a concurrent attempt locked or delayed the
   * identity first) means the code must not be consumed and the submission is answered as refused.
   */
  async recordSuccess(trx: Db, attempt: SecondFactorAttempt): Promise<GuardRefusal | null> {
    const state = attempt.state ?? (await this.lockouts.get(attempt.identityId, trx));
    const previousFailures = state.consecutiveFailures;
    if (previousFailures === 0 && state.lockedAtMs === null) return null;
    const nowMs = this.deps.clock.nowMs();
    const reset = await this.lockouts.resetIfUnchanged(trx, attempt.identityId, previousFailures, nowMs);
    if (!reset) {
      const now = await this.lockouts.get(attempt.identityId, trx);
      if (now.lockedAtMs !== null) return this.refuse(attempt, { refused: 'locked', retryAtMs: null });
      return this.refuse(attempt, { refused: 'delayed', retryAtMs: Math.max(now.nextAttemptAtMs ?? 0, nowMs + CONTENTION_RETRY_MS) });
    }
    attempt.state = { ...state, consecutiveFailures: 0, lastFailureAtMs: null, nextAttemptAtMs: null, lockedAtMs: null };
    attempt.resetFrom = previousFailures;
    if (previousFailures >= this.schedule.freeFailures) {
      this.clearedTotal.inc({ by: 'success' });
      await this.deps.audit.record(trx, {
        type: 'lockout.cleared',
        identityId: attempt.identityId,
        flowId: attempt.flowId,
        actor: 'self',
        ipAddress: attempt.request.ip,
        userAgent: attempt.request.userAgent,
        details: { by: 'success', method: attempt.method, previous_failures: previousFailures },
      });
    }
    return null;
  }

  /**
   * Lifts the delay and the hard lock and resets the counter (admin unlock, account recovery). Records
   * `lockout.cleared` when there was something to clear; returns whether there was.
   */
  async clearLockout(
    input: { identityId: string; by: LockoutClearedBy; actor: string; reason?: string; ipAddress?: string | null },
    trx: Db = this.deps.db,
  ): Promise<boolean> {
    const before = await this.lockouts.get(input.identityId, trx);
    const cleared = await this.lockouts.reset(input.identityId, this.deps.clock.nowMs(), trx);
    if (!cleared) return false;
    this.clearedTotal.inc({ by: input.by });
    await this.deps.audit.record(trx, {
      type: 'lockout.cleared',
      identityId: input.identityId,
      actor: input.actor,
      ipAddress: input.ipAddress ?? null,
      details: {
        by: input.by,
        reason: input.reason ?? 'no reason given',
        previous_failures: before.consecutiveFailures,
        was_locked: before.lockedAtMs !== null,
      },
    });
    return true;
  }

  /** The identity's lockout state for the admin API (never a code). */
  async report(identityId: string): Promise<LockoutReport> {
    return lockoutReport(await this.lockouts.get(identityId), this.schedule, this.deps.clock.nowMs());
  }
}
