/**
 * Hooks as typed registries per flow (Kratos `selfservice/flow/<flow>/hook.go`, config
 * `selfservice.flows.<flow>.{before,after}.hooks` and `…after.<method>.hooks`).
 *
 * STATUS: this is the published interface (issue 12). The registry and executor types are final; the flows do not
 * run it yet: registration and settings still call their `afterHooks` arrays (flows/<flow>/handler.ts), and issuing
 * the session / `show_verification_ui` are still inline in the handlers. Moving them into built-in executors
 * registered here is the next step.
 *
 * How to write an executor (e.g. Kratos's `web_hook`, src/hooks/):
 * ```ts
 * const webHook: HookExecutor<'registration', 'after'> = {
 *   name: 'web_hook',
 *   async execute(context) {
 *     // context.trx: the step's transaction (storage/unit-of-work.ts): write with it, or not at all.
 *     // Throw a FlowValidationError to refuse the step (the flow is shown again with the message), an HttpError
 *     // for Kratos's error shape, anything else to roll the whole step back (500); or return `continueWith` items.
 *     return { continueWith: [] };
 *   },
 * };
 * hooks.register('registration', 'after', webHook, { method: 'password' }); // or no method: every method
 * ```
 * Executors run in registration order: `before` hooks when a flow is created (no identity yet for login and
 * registration), `after` hooks inside the submission's unit of work once the method succeeded. Slow calls (HTTP)
 * in an `after` hook hold the step's transaction: prefer `response.ignore` / asynchronous delivery (Kratos's
 * `can_interrupt: false`) and do the call after commit (`afterCommit`, storage/unit-of-work.ts).
 */
import type { Db } from '../storage/db.js';
import type { Identity } from '../identity/identity.js';
import type { Session } from '../session/session.js';
import type { Flow, FlowKind } from './flow.js';
import type { RequestInfo } from './strategy.js';

export type HookPhase = 'before' | 'after';

/** What every executor sees. `identity`/`session` are null where the phase has none yet (before login/registration). */
export interface HookContext<K extends FlowKind = FlowKind, P extends HookPhase = HookPhase> {
  kind: K;
  phase: P;
  /** The step's transaction (after hooks) or the root handle (before hooks, which run outside a step). */
  trx: Db;
  flow: Flow;
  /** The method that completed the step (after hooks), e.g. `password`, `totp`, `code`; null for before hooks. */
  method: P extends 'after' ? string : null;
  identity: Identity | null;
  session: Session | null;
  request: RequestInfo;
}

export interface HookResult {
  /** Items for the response's `continue_with` (Kratos shapes: `show_verification_ui`, `redirect_browser_to`, …). */
  continueWith?: Record<string, unknown>[];
}

export interface HookExecutor<K extends FlowKind = FlowKind, P extends HookPhase = HookPhase> {
  /** Kratos's hook name (`session`, `show_verification_ui`, `web_hook`, `revoke_active_sessions`, …). */
  readonly name: string;
  execute(context: HookContext<K, P>): Promise<HookResult | void>;
}

interface Registered {
  executor: HookExecutor;
  /** For after hooks: only this method (null: every method). */
  method: string | null;
}

/** The hooks of every flow kind and phase, in registration order. */
export class HookRegistry {
  private readonly hooks = new Map<string, Registered[]>();

  register<K extends FlowKind, P extends HookPhase>(kind: K, phase: P, executor: HookExecutor<K, P>, options: { method?: string } = {}): void {
    const key = `${kind}/${phase}`;
    const list = this.hooks.get(key) ?? [];
    list.push({ executor: executor as unknown as HookExecutor, method: options.method ?? null });
    this.hooks.set(key, list);
  }

  /** The executors that apply, in order (after hooks: those for every method, and those for `method`). */
  executors<K extends FlowKind, P extends HookPhase>(kind: K, phase: P, method: string | null = null): HookExecutor<K, P>[] {
    return (this.hooks.get(`${kind}/${phase}`) ?? [])
      .filter((h) => h.method === null || h.method === method)
      .map((h) => h.executor as unknown as HookExecutor<K, P>);
  }

  /** Runs the executors that apply, in order, and gathers their `continue_with` items. */
  async run<K extends FlowKind, P extends HookPhase>(context: HookContext<K, P>): Promise<Record<string, unknown>[]> {
    const continueWith: Record<string, unknown>[] = [];
    for (const executor of this.executors(context.kind, context.phase, context.method)) {
      const result = await executor.execute(context);
      if (result?.continueWith) continueWith.push(...result.continueWith);
    }
    return continueWith;
  }
}
