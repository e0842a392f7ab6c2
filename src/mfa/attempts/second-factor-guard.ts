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
 * A strategy calls `beginAttempt` before it looks at the code (so concurrent guesses cannot race past a limit),
 * then exactly one of `recordFailure` / `recordSuccess` with the same attempt object.
 *
 * `beginAttempt` counts the attempt as a failure in advance (a compare-and-swap on the identity's counter), so an
 * attempt that is never resolved (crash, timeout) stays a failure: fail closed. `recordSuccess` resets the counter.
 */
import type { Deps } from '../../deps.js';
import type { Flow } from '../../flows/flow.js';
import { FlowValidationError } from '../../flows/flow.js';
import type { RequestInfo } from '../../flows/strategy.js';
import type { Identity } from '../../identity/identity.js';
import { parseDurationMs } from '../../config/duration.js';
import { DEFAULT_DELAY_SCHEDULE, delayMsAfter, type DelaySchedule } from './delay-schedule.js';
import { LockoutRepository, type LockoutState } from './lockout-repository.js';
import { lockoutMessages } from './messages.js';

/**
 * Code submissions allowed on one pending aal2 login flow (NIST SP 800-63B §5.2.2: a verifier limits failed
 * attempts). Five guesses at a 6-digit code with a ±1 window succeed with probability about 5·3/10^6.
 */
export const MAX_WRONG_CODES_PER_FLOW = 5;

/** Compare-and-swap retries when concurrent attempts of one identity race for the next slot. */
const CHARGE_RETRIES = 5;

export interface SecondFactorAttempt {
  flow: Flow;
  identity: Identity;
  /** The method submitted (`totp`, `lookup_secret`). */
  method: string;
  request: RequestInfo;
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

type GuardDeps = Pick<Deps, 'flows' | 'db' | 'clock' | 'audit' | 'metrics' | 'logger' | 'config'>;

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

export class SecondFactorGuard {
  readonly schedule: DelaySchedule;
  private readonly lockouts: LockoutRepository;
  /** The identity's failure count including a charged attempt, until it is resolved. */
  private readonly charged = new WeakMap<SecondFactorAttempt, number>();
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

  /**
   * Takes one attempt slot before the code is checked, atomically. Throws a FlowValidationError (the flow is shown
   * again with a global message) when the submission may not be checked; the message never says whether the code
   * would have been right.
   */
  async beginAttempt(attempt: SecondFactorAttempt): Promise<void> {
    // A used-up flow is dead whatever the identity's state: say so first (the atomic check follows below).
    if ((await this.deps.flows.failedAttempts(attempt.flow.id)) >= MAX_WRONG_CODES_PER_FLOW) this.refuseFlow(attempt);
    await this.chargeIdentity(attempt);
    // Once the flow's budget is used even the right code is refused, so a pending login allows at most
    // MAX_WRONG_CODES_PER_FLOW guesses. (The identity's counter already holds this attempt: fail closed.)
    const taken = await this.deps.flows.recordFailedAttempt(attempt.flow.id, MAX_WRONG_CODES_PER_FLOW);
    if (taken === null) this.refuseFlow(attempt);
  }

  private refuseFlow(attempt: SecondFactorAttempt): never {
    this.refusedTotal.inc({ reason: 'flow_budget', method: attempt.method });
    throw FlowValidationError.global(lockoutMessages.flowBudgetUsed());
  }

  /** The submitted code was wrong (or replayed, or malformed). */
  async recordFailure(attempt: SecondFactorAttempt): Promise<void> {
    const failures = this.charged.get(attempt);
    this.charged.delete(attempt);
    if (failures === undefined) return;
    const identityId = attempt.identity.id;
    const nowMs = this.deps.clock.nowMs();
    const base = { identityId, flowId: attempt.flow.id, actor: 'system', ipAddress: attempt.request.ip, userAgent: attempt.request.userAgent };
    if (failures >= this.schedule.maxConsecutiveFailures) {
      if (await this.lockouts.lockIfReached(identityId, this.schedule.maxConsecutiveFailures, nowMs)) {
        this.lockoutsTotal.inc({ kind: 'locked', method: attempt.method });
        this.deps.logger.warn({ identity_id: identityId, consecutive_failures: failures, method: attempt.method }, 'second factors locked after consecutive wrong codes');
        await this.deps.audit.record({ ...base, type: 'lockout.started', details: { kind: 'locked', consecutive_failures: failures, method: attempt.method } });
      }
    } else if (failures === this.schedule.freeFailures) {
      const retryAtMs = nowMs + delayMsAfter(failures, this.schedule);
      this.lockoutsTotal.inc({ kind: 'delay', method: attempt.method });
      this.deps.logger.info({ identity_id: identityId, consecutive_failures: failures, method: attempt.method }, 'second-factor delay started after consecutive wrong codes');
      await this.deps.audit.record({ ...base, type: 'lockout.started', details: { kind: 'delay', consecutive_failures: failures, method: attempt.method, retry_at: iso(retryAtMs) } });
    }
  }

  /** The submitted code was accepted: the identity's counter starts again from zero. */
  async recordSuccess(attempt: SecondFactorAttempt): Promise<void> {
    const failures = this.charged.get(attempt);
    this.charged.delete(attempt);
    const previousFailures = failures === undefined ? 0 : failures - 1;
    const nowMs = this.deps.clock.nowMs();
    await this.lockouts.reset(attempt.identity.id, nowMs);
    if (previousFailures >= this.schedule.freeFailures) {
      this.clearedTotal.inc({ by: 'success' });
      await this.deps.audit.record({
        type: 'lockout.cleared',
        identityId: attempt.identity.id,
        flowId: attempt.flow.id,
        actor: 'self',
        ipAddress: attempt.request.ip,
        userAgent: attempt.request.userAgent,
        details: { by: 'success', method: attempt.method, previous_failures: previousFailures },
      });
    }
  }

  /**
   * Lifts the delay and the hard lock and resets the counter (admin unlock, account recovery). Records
   * `lockout.cleared` when there was something to clear; returns whether there was.
   */
  async clearLockout(input: { identityId: string; by: LockoutClearedBy; actor: string; reason?: string; ipAddress?: string | null }): Promise<boolean> {
    const before = await this.lockouts.get(input.identityId);
    const cleared = await this.lockouts.reset(input.identityId, this.deps.clock.nowMs());
    if (!cleared) return false;
    this.clearedTotal.inc({ by: input.by });
    await this.deps.audit.record({
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
    const state = await this.lockouts.get(identityId);
    const nowMs = this.deps.clock.nowMs();
    const delayed = state.nextAttemptAtMs !== null && state.nextAttemptAtMs > nowMs;
    return {
      state: state.lockedAtMs !== null ? 'locked' : delayed ? 'delayed' : 'none',
      consecutive_failures: state.consecutiveFailures,
      max_consecutive_failures: this.schedule.maxConsecutiveFailures,
      last_failure_at: iso(state.lastFailureAtMs),
      retry_at: state.lockedAtMs === null && delayed ? iso(state.nextAttemptAtMs) : null,
      locked_at: iso(state.lockedAtMs),
    };
  }

  /** Refuses a locked or delayed identity, else counts this attempt as a failure in advance (compare-and-swap). */
  private async chargeIdentity(attempt: SecondFactorAttempt): Promise<void> {
    const identityId = attempt.identity.id;
    const nowMs = this.deps.clock.nowMs();
    let state: LockoutState = await this.lockouts.get(identityId);
    for (let tries = 0; tries < CHARGE_RETRIES; tries++) {
      this.refuseIfBlocked(state, nowMs, attempt.method);
      if (!state.stored) await this.lockouts.ensure(identityId, nowMs);
      const failures = state.consecutiveFailures + 1;
      const delayMs = delayMsAfter(failures, this.schedule);
      const charged = await this.lockouts.chargeFailure({
        identityId,
        expectedFailures: state.consecutiveFailures,
        nowMs,
        nextAttemptAtMs: delayMs > 0 ? nowMs + delayMs : null,
      });
      if (charged) {
        this.charged.set(attempt, failures);
        return;
      }
      state = await this.lockouts.get(identityId);
    }
    // Persistent contention on one identity: many concurrent guesses. Refuse this one unchecked.
    this.refuseIfBlocked(state, nowMs, attempt.method);
    this.refusedTotal.inc({ reason: 'delay', method: attempt.method });
    throw FlowValidationError.global(lockoutMessages.delayed(nowMs + 1000, nowMs));
  }

  private refuseIfBlocked(state: LockoutState, nowMs: number, method: string): void {
    if (state.lockedAtMs !== null) {
      this.refusedTotal.inc({ reason: 'locked', method });
      throw FlowValidationError.global(lockoutMessages.locked(state.lockedAtMs));
    }
    if (state.nextAttemptAtMs !== null && nowMs < state.nextAttemptAtMs) {
      this.refusedTotal.inc({ reason: 'delay', method });
      throw FlowValidationError.global(lockoutMessages.delayed(state.nextAttemptAtMs, nowMs));
    }
  }
}
