/**
 * Hooks as typed registries per flow (Kratos `selfservice/flow/<flow>/hook.go`, config
 * `selfservice.flows.<flow>.{before,after}.hooks` and `…after.<method>.hooks`).
 *
 * An executor implements the stages it takes part in; the flows call the registry at each stage:
 *
 * | stage         | when                                                              | transaction             |
 * |---------------|-------------------------------------------------------------------|-------------------------|
 * | `before`      | a flow is being created, before it is stored                      | none                    |
 * | `blocking`    | the method succeeded, before the step writes its result           | none (never across HTTP)|
 * | `inStep`      | inside the step's unit of work, after its main write              | the step's `trx`        |
 * | `afterCommit` | once the step committed; fire and forget, failures only logged    | none                    |
 *
 * `blocking` is where a hook that waits for an HTTP answer runs (web_hook without `response.ignore`): it may refuse
 * the step (throw a FlowValidationError, rendered into the flow, or an HttpError in Kratos's envelope) or return an
 * identity patch (`response.parse`), applied before the identity is stored. Because no transaction is open, the
 * flows run a step in two units of work when a blocking hook applies (engine.ts `HookPause`): the method's own
 * work, then the hooks, then the writes of the result. Verification is the exception, as in Kratos: its hooks run
 * after the address was stored as verified.
 *
 * Which hooks apply after a method: the method's own list when it has one, else the flow-wide list (Kratos's
 * `getHooks`: a method list replaces the global one), behind the hooks a module registers for every step
 * (`always`, e.g. Kratos's verification hook that mails codes to new addresses, which comes first).
 *
 * ```ts
 * const audit: HookExecutor = {
 *   name: 'my_hook',
 *   async inStep(context) {
 *     // context.trx: the step's transaction: write with it, or not at all.
 *     context.state.continueWith.push({ action: 'redirect_browser_to', redirect_browser_to: '/x' });
 *   },
 * };
 * hooks.configure('registration', 'password', [audit]); // or method null: the flow-wide list
 * ```
 */
import type { FlowRequest } from './request.js';
import type { Db } from '../storage/db.js';
import type { Identity } from '../identity/identity.js';
import type { AmrEntry, Session } from '../session/session.js';
import type { IdentityPatch } from '../identity/patch.js';
import type { Flow, FlowKind } from './flow.js';

export type HookPhase = 'before' | 'after';

/** The request as hooks see it (Kratos's template context: method, URL, headers, cookies). */
export interface HookRequest {
  method: string;
  /** The full public URL of the request (Kratos's `x.RequestURL`). */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  cookies: Record<string, string | undefined>;
  /** Whether the client asked for JSON (SPA / API) rather than an HTML page. */
  json: boolean;
}

/** Kratos's JSON of what a hook may pass on (web_hook's `ctx.flow`, `ctx.identity`, `ctx.session`). */
export interface HookJson {
  flow(flow: Flow): Promise<unknown>;
  identity(identity: Identity): unknown;
  session(session: Session, identity: Identity | null): unknown;
}

interface Common {
  kind: FlowKind;
  flow: Flow;
  request: HookRequest;
  json: HookJson;
}

export interface BeforeHookContext extends Common {
  /** The current session (settings; the session that asks for aal2 or refresh at login), else null. */
  session: Session | null;
}

export interface BlockingHookContext extends Common {
  /** The method that completed the step (`password`, `totp`, `code`, `profile`…). */
  method: string;
  /** The identity as it will be stored (registration: not stored yet; settings: with the change). */
  identity: Identity;
  /** The session the step will issue or update (login: not stored yet), or null. */
  session: Session | null;
}

export interface BlockingHookResult {
  /** Fields to set on the identity before it is stored (web_hook `response.parse`). */
  patch?: IdentityPatch;
}

/** What in-step hooks build together: the step's answer. */
export interface StepHookState {
  /** The session the step issues (registration: set by the `session` hook). */
  session: Session | null;
  /** Its token, when it is new. */
  token: string | null;
  /** Items for the answer's `continue_with`. */
  continueWith: Record<string, unknown>[];
  /** Where a browser (HTML) goes instead of the return URL (show_verification_ui). */
  browserRedirect: string | null;
}

export interface StepHookContext {
  kind: FlowKind;
  method: string;
  /** The step's transaction (storage/unit-of-work.ts): every write of a hook goes through it. */
  trx: Db;
  flow: Flow;
  identity: Identity;
  /** The methods the step completed (the AMR a new session gets). */
  amr: AmrEntry[];
  /** When the step started: what the step created has a timestamp at or after it. */
  startedAtMs: number;
  request: FlowRequest;
  hookRequest: HookRequest;
  state: StepHookState;
}

export interface AfterCommitHookContext extends Common {
  method: string | null;
  identity: Identity | null;
  session: Session | null;
}

export interface HookExecutor {
  /** Kratos's hook name (`session`, `show_verification_ui`, `web_hook`, `revoke_active_sessions`, …). */
  readonly name: string;
  before?(context: BeforeHookContext): Promise<void>;
  blocking?(context: BlockingHookContext): Promise<BlockingHookResult | void>;
  inStep?(context: StepHookContext): Promise<void>;
  afterCommit?(context: AfterCommitHookContext): void;
}

const GLOBAL = '';

/** Starts a verification flow for one address of the step's identity and mails its code (the code module's port). */
export type StartVerification = (input: { context: StepHookContext; address: string }) => Promise<{ id: string; url: string }>;

/** The hooks of every flow, per phase and method, in configuration order. */
export class HookRegistry {
  private readonly beforeHooks = new Map<FlowKind, HookExecutor[]>();
  private readonly afterHooks = new Map<string, HookExecutor[]>();
  private readonly alwaysHooks = new Map<FlowKind, HookExecutor[]>();

  /** Set by the module that runs verification flows (credentials/code/), for `require_verified_address`. */
  startVerification: StartVerification | null = null;

  /** The `before` list of a flow. */
  configureBefore(kind: FlowKind, executors: HookExecutor[]): void {
    this.beforeHooks.set(kind, executors);
  }

  /** The `after` list of a flow for one method (null: the flow-wide `after.hooks`). */
  configure(kind: FlowKind, method: string | null, executors: HookExecutor[]): void {
    this.afterHooks.set(`${kind}/${method ?? GLOBAL}`, executors);
  }

  /** Hooks a module runs after every successful step of `kind`, before the configured ones. */
  always(kind: FlowKind, executor: HookExecutor): void {
    this.alwaysHooks.set(kind, [...(this.alwaysHooks.get(kind) ?? []), executor]);
  }

  before(kind: FlowKind): HookExecutor[] {
    return this.beforeHooks.get(kind) ?? [];
  }

  /** Whether `kind` has an after list configured at all (for this method or flow-wide). */
  hasConfigured(kind: FlowKind, method: string): boolean {
    return this.afterHooks.has(`${kind}/${method}`) || this.afterHooks.has(`${kind}/${GLOBAL}`);
  }

  /** The hooks after a step of `kind` completed by `method`: `always`, then the method's list, else the flow-wide one. */
  after(kind: FlowKind, method: string): HookExecutor[] {
    const own = this.afterHooks.get(`${kind}/${method}`);
    const configured = own && own.length > 0 ? own : (this.afterHooks.get(`${kind}/${GLOBAL}`) ?? []);
    return [...(this.alwaysHooks.get(kind) ?? []), ...configured];
  }

  /** Whether any hook after this step must be waited for outside a transaction. */
  hasBlocking(kind: FlowKind, method: string): boolean {
    return this.after(kind, method).some((h) => h.blocking !== undefined);
  }

  async runBefore(context: BeforeHookContext): Promise<void> {
    for (const executor of this.before(context.kind)) await executor.before?.(context);
  }

  /** Runs the blocking hooks in order; each sees the patches of those before it. Returns the patches in order. */
  async runBlocking(context: BlockingHookContext, apply: (patch: IdentityPatch) => void): Promise<IdentityPatch[]> {
    const patches: IdentityPatch[] = [];
    for (const executor of this.after(context.kind, context.method)) {
      const result = await executor.blocking?.(context);
      if (result?.patch) {
        apply(result.patch);
        patches.push(result.patch);
      }
    }
    return patches;
  }

  async runInStep(context: StepHookContext): Promise<void> {
    for (const executor of this.after(context.kind, context.method)) await executor.inStep?.(context);
  }

  /** Schedules the after-commit hooks (`schedule`: the unit of work's `afterCommit`). */
  runAfterCommit(context: AfterCommitHookContext, schedule: (callback: () => void) => void): void {
    const executors = this.afterCommitExecutors(context.kind, context.method);
    for (const executor of executors) if (executor.afterCommit) schedule(() => executor.afterCommit!(context));
  }

  /** Whether a step of `kind` completed by `method` has hooks to run after its commit (most steps have none). */
  hasAfterCommit(kind: FlowKind, method: string | null): boolean {
    return this.afterCommitExecutors(kind, method).some((executor) => executor.afterCommit);
  }

  private afterCommitExecutors(kind: FlowKind, method: string | null) {
    return method === null ? (this.afterHooks.get(`${kind}/${GLOBAL}`) ?? []) : this.after(kind, method);
  }
}

/** An empty in-step state. */
export function newStepState(session: Session | null = null, token: string | null = null): StepHookState {
  return { session, token, continueWith: [], browserRedirect: null };
}
