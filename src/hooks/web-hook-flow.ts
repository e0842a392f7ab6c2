/**
 * What a flow needs to run a web_hook and act on its outcome, in Kairos's own types, and the executor the per-flow
 * hook registry runs (`WebHookHook`, below):
 *
 * - `webHookContext(request, parts)`: `ctx` as Kratos builds it (web_hook.go `templateContext`) from the plain
 *   request description and the JSON the public API already renders (flow, identity, session).
 * - `interruptError(groups)`: an `interrupt` as the `FlowValidationError` the engine already renders into the flow
 *   (messages on the node named by `instance_ptr`, or on the flow).
 * - `applyIdentityPatch(identity, patch)`: a `patch` applied to the identity before it is stored (pre-persist);
 *   the caller then stores it through `IdentityService` (create/update validate the traits against the schema and
 *   derive addresses, so a hook cannot store traits the schema refuses).
 */
import { FlowValidationError } from '../flows/flow.js';
export { applyIdentityPatch } from '../identity/patch.js';
import type { AfterCommitHookContext, BeforeHookContext, BlockingHookContext, BlockingHookResult, HookExecutor } from '../flows/hooks.js';
import { HttpError } from '../errors/http-error.js';
import type { Identity } from '../identity/identity.js';
import { flattenTraits } from '../identity/trait-nodes.js';
import type { UiText } from '../ui/messages.js';
import type { WebHookConfig, WebHookContext, WebHookExecutor, WebHookMessageGroup } from './web-hook.js';

export interface HookRequest {
  method: string;
  /** The full URL of the request as the client sent it (Kratos's `x.RequestURL`). */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  cookies?: Record<string, string | undefined>;
}

export function webHookContext(request: HookRequest, parts: { flow: unknown; identity?: unknown; session?: unknown }): WebHookContext {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) if (value !== undefined) headers[name] = value;
  const cookies: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.cookies ?? {})) if (name !== '' && value !== undefined) cookies[name] = value;
  return {
    flow: parts.flow,
    request_headers: headers,
    request_method: request.method,
    request_url: request.url,
    request_cookies: cookies,
    ...(parts.identity !== undefined ? { identity: parts.identity } : {}),
    ...(parts.session !== undefined ? { session: parts.session } : {}),
  };
}

/** The hook's messages in the flow, as Kratos shows a `can_interrupt` answer (`schema.NewHookValidationError`). */
export function interruptError(groups: WebHookMessageGroup[], keepValues: Record<string, unknown> = {}): FlowValidationError {
  const problems: { field: string | null; message: UiText }[] = [];
  for (const group of groups) {
    for (const m of group.messages) {
      const message: UiText = { id: m.id, text: m.text, type: m.type };
      if (m.context !== undefined && typeof m.context === 'object' && m.context !== null && !Array.isArray(m.context)) message.context = m.context as Record<string, unknown>;
      problems.push({ field: group.field, message });
    }
  }
  return new FlowValidationError(problems, keepValues);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);


/**
 * `web_hook` as an executor of the hook registry (flows/hooks.ts):
 * - `before`: before the flow is stored; an error answers the request instead of the flow (a refusal with
 *   messages is a 400 in Kratos's envelope whose details carry them: there is no flow yet to show them in);
 * - `blocking` (every hook without `response.ignore`): after the method succeeded and before the step writes,
 *   outside any transaction. `can_interrupt`/`response.parse` answers with messages refuse the step (the messages
 *   go into the flow, 400); `response.parse` answers change the identity before it is stored; any other failure
 *   (timeout, refused connection, error status, garbage) fails the step in Kratos's envelope (502/504) and nothing
 *   of the step's result is written. Kratos runs hooks without parse/can_interrupt after it stored the identity and
 *   then fails the request anyway; Kairos waits for them before, so a failing receiver never leaves a half-done step.
 * - `afterCommit` (`response.ignore`): once the step committed, in the background; failures are logged only.
 */
export class WebHookHook implements HookExecutor {
  readonly name = 'web_hook';
  readonly blocking?: HookExecutor['blocking'];
  readonly afterCommit?: HookExecutor['afterCommit'];

  constructor(
    readonly config: WebHookConfig,
    private readonly executor: WebHookExecutor,
    /** Where it is configured (`selfservice.flows.login.after.password.hooks[1]`), for the log. */
    private readonly key?: string,
  ) {
    if (config.response?.ignore) this.afterCommit = (context) => void this.background(context);
    else this.blocking = (context) => this.wait(context);
  }

  async before(context: BeforeHookContext): Promise<void> {
    const outcome = await this.executor.execute(this.config, webHookContext(context.request, { flow: await context.json.flow(context.flow), ...(context.session ? { session: context.json.session(context.session, null) } : {}) }), this.key);
    if (outcome.kind === 'error') throw outcome.error;
    if (outcome.kind === 'interrupt') throw interruptHttpError(outcome.messages);
  }

  private async wait(context: BlockingHookContext): Promise<BlockingHookResult | void> {
    const ctx = webHookContext(context.request, {
      flow: await context.json.flow(context.flow),
      identity: context.json.identity(context.identity),
      ...(context.session ? { session: context.json.session(context.session, context.identity) } : {}),
    });
    const outcome = await this.executor.execute(this.config, ctx, this.key);
    if (outcome.kind === 'error') throw outcome.error;
    if (outcome.kind === 'interrupt') throw interruptError(outcome.messages, flattenTraits(context.identity.traits));
    if (outcome.kind === 'patch') return { patch: outcome.identity };
  }

  private async background(context: AfterCommitHookContext): Promise<void> {
    const ctx = webHookContext(context.request, {
      flow: await context.json.flow(context.flow),
      ...(context.identity ? { identity: context.json.identity(context.identity) } : {}),
      ...(context.session ? { session: context.json.session(context.session, context.identity) } : {}),
    });
    // `response.ignore`: the executor runs the call in the background and logs a failure.
    await this.executor.execute(this.config, ctx, this.key);
  }
}

/** A refusal with messages where there is no flow to show them in (before hooks). */
function interruptHttpError(groups: WebHookMessageGroup[]): HttpError {
  const texts = groups.flatMap((g) => g.messages.map((m) => m.text)).filter((t) => t !== '');
  return new HttpError(400, {
    code: 400,
    status: 'Bad Request',
    reason: texts.join(' ') || 'A web hook refused the request.',
    message: 'a webhook target returned an error',
    details: { messages: groups.map((g) => ({ instance_ptr: g.instancePtr, messages: g.messages })) },
  });
}
