/**
 * The flow engine: what every self-service flow does the same way (create, persist, render as Kratos JSON, answer
 * browsers with redirects and SPAs/API clients with JSON, turn validation problems into UI messages). Each flow
 * kind (flows/<kind>/handler.ts) adds only its own decisions.
 */
import { toIso } from '../support/clock.js';
import type { Deps } from '../deps.js';
import { HttpError, errors } from '../errors/http-error.js';
import { identityToJson, type Identity } from '../identity/identity.js';
import { deriveAal, type Session } from '../session/session.js';
import type { SessionFact } from '../session/session-service.js';
import { inputNode, type UiNode } from '../ui/nodes.js';
import { FLOW_EXPIRED_MESSAGE } from '../ui/messages.js';
import { isJsonRequest, queryOf, requestInfo, sessionTokenOf, submittedBody, type CsrfCheck, type FlowReply, type FlowRequest } from './request.js';
import type { AuditEventType } from '../audit/events.js';
import { applyProblems, FlowValidationError, INITIAL_STATE, type Flow, type FlowKind, type FlowType } from './flow.js';
import { prepareSubmission, type PreparesSubmission, type Strategies, type SubmittedBody } from './strategy.js';
import { parseDurationMs } from '../config/duration.js';
import { testPause } from '../support/test-pause.js';
import type { Db } from '../storage/db.js';
import type { AuthenticationPolicy } from '../mfa/policy/port.js';
import { HookRegistry, type HookJson, type HookRequest } from './hooks.js';
import { applyIdentityPatch } from '../identity/patch.js';
import { TraitsInvalidError } from '../identity/identity-service.js';
import { flattenTraits } from '../identity/trait-nodes.js';
import { afterCommit } from '../storage/unit-of-work.js';
import { sessionToJson } from '../session/session.js';

export interface CurrentSession {
  session: Session;
  identity: Identity;
  token: string;
  /** The session facts modules declared (`FlowEngine.sessionFacts`), loaded with the session. */
  facts: Record<string, unknown>;
}

/** Kratos's node order for each flow (`selfservice/flow/<flow>/sort.go`): csrf first, then groups in this order. */
const GROUP_ORDER: Record<FlowKind, string[]> = {
  login: ['default', 'oidc', 'webauthn', 'passkey', 'code', 'password', 'totp', 'lookup_secret'],
  registration: ['default', 'oidc', 'code', 'password', 'webauthn', 'passkey', 'profile'],
  settings: ['default', 'profile', 'password', 'oidc', 'lookup_secret', 'webauthn', 'passkey', 'totp'],
  recovery: ['default', 'code', 'link'],
  verification: ['default', 'code', 'link'],
};

export function sortNodes(kind: FlowKind, nodes: UiNode[]): UiNode[] {
  const order = GROUP_ORDER[kind];
  const rank = (n: UiNode) => {
    const i = order.indexOf(n.group);
    return i === -1 ? order.length : i;
  };
  return nodes
    .map((node, index) => ({ node, index }))
    .sort((a, b) => rank(a.node) - rank(b.node) || a.index - b.index)
    .map((x) => x.node);
}

const stepOutcomes = new WeakMap<object, Promise<boolean>>();

/**
 * Thrown by a step that must wait for blocking hooks (an HTTP call) before it writes its result: no transaction may
 * be held across that wait. `runSubmit` ends the step's unit of work (committing what the step wrote so far when
 * `commit`, else rolling it back), runs `run` outside any transaction, then opens a second unit of work, loads and
 * locks the flow again and calls `resume` with what `run` returned. An error from `run` (a hook's refusal) is
 * answered in that second unit of work as any error of the step is (`fail`).
 */
export class HookPause<T = unknown> extends Error {
  constructor(
    readonly commit: boolean,
    readonly run: () => Promise<T>,
    readonly resume: (trx: Db, flow: Flow, outcome: T) => Promise<FlowReply>,
  ) {
    super('step paused for blocking hooks');
  }
}

/**
 * For the reply to a submission that ran as a step: resolves once its unit of work ended, true when it committed.
 * Null for other replies. The HTTP layer holds the response until then (http/public/self-service.ts).
 */
export function stepOutcome(reply: object): Promise<boolean> | null {
  return stepOutcomes.get(reply) ?? null;
}

/** Thrown through a step's transaction to roll it back when one of its `stepLimits` refused it. */
const LIMIT_REFUSED = Symbol('step refused by a limit');

export class FlowEngine {
  /**
   * Modules add fields to the `kairos` member of session JSON (e.g. remaining recovery codes), from the session's
   * facts when it was loaded with them (no query), else by reading them.
   */
  readonly sessionExtraProviders: ((
    identityId: string,
    facts: Record<string, unknown> | null,
    identity?: Identity,
  ) => Promise<Record<string, unknown>> | Record<string, unknown>)[] = [];

  /** The MFA policy (mfa/policy), set by its module when policies are configured: see mfa/policy/port.ts. */
  policy: AuthenticationPolicy | null = null;

  /** Values loaded by the current session's own statement (session/session-service.ts `findCurrent`). */
  readonly sessionFacts: SessionFact[] = [];

  /**
   * Modules that keep a secret out of the stored flow (the pending TOTP secret is stored only encrypted in
   * `flow.internal`) fill their placeholder nodes here, when a flow is sent. A revealer returns new node objects and
   * never changes the stored ones.
   */
  readonly nodeRevealers: ((flow: Flow, nodes: UiNode[]) => Promise<UiNode[]> | UiNode[])[] = [];

  /**
   * Checks a module adds to every use of a session at whoami (e.g. an identity whose second factor was reset must
   * enroll again first). A gate returns the error to answer with, or null.
   */
  readonly sessionGates: ((current: CurrentSession) => Promise<HttpError | null>)[] = [];

  /**
   * Limits charged inside a step's own transaction, once its flow is loaded and locked (http/plugins/rate-limit.ts:
   * the per-identity limit, with the database store). A limit throws the HttpError to answer with (a 429); the
   * charge commits with the step, so it costs no transaction of its own.
   */
  readonly stepLimits: ((trx: Db, flow: Flow, request: FlowRequest) => Promise<void>)[] = [];

  async sessionExtras(current: CurrentSession | string): Promise<Record<string, unknown>> {
    if (this.sessionExtraProviders.length === 0) return {};
    const kairos: Record<string, unknown> = {};
    const [identityId, facts, identity] = typeof current === 'string' ? [current, null, undefined] : [current.identity.id, current.facts, current.identity];
    for (const provider of this.sessionExtraProviders) Object.assign(kairos, await provider(identityId, facts, identity));
    return Object.keys(kairos).length ? { kairos } : {};
  }

  /** Kratos's self-service hooks, per flow, phase and method (flows/hooks.ts). */
  readonly hooks = new HookRegistry();

  constructor(
    readonly deps: Deps,
    readonly csrf: CsrfCheck,
    readonly strategies: Strategies,
  ) {}

  /** The request as hooks see it. */
  hookRequest(request: FlowRequest): HookRequest {
    return {
      method: request.method,
      url: this.deps.urls.public(request.url),
      headers: request.headers as Record<string, string | string[] | undefined>,
      cookies: (request.cookies ?? {}) as Record<string, string | undefined>,
      json: isJsonRequest(request),
    };
  }

  /** Kratos's `before` hooks of a flow being created, before it is stored (no transaction is open). */
  async runBeforeHooks(flow: Flow, request: FlowRequest, session: Session | null = null): Promise<void> {
    await this.hooks.runBefore({ kind: flow.kind, flow, request: this.hookRequest(request), json: this.hookJson, session });
  }

  /**
   * The blocking `after` hooks of a step (never inside a transaction): their patches are applied to `identity`,
   * whose traits must then still satisfy its schema (else the step is refused with the schema's messages). Returns
   * the names of the identity fields the hooks changed.
   */
  async runBlockingHooks(flow: Flow, method: string, request: FlowRequest, identity: Identity, session: Session | null): Promise<string[]> {
    const changed = new Set<string>();
    const now = this.deps.clock.nowMs();
    await this.hooks.runBlocking(
      { kind: flow.kind, method, flow, request: this.hookRequest(request), json: this.hookJson, identity, session },
      (patch) => applyIdentityPatch(identity, patch, now).forEach((field) => changed.add(field)),
    );
    if (changed.size > 0) {
      try {
        this.deps.identities.validateTraits(identity.schemaId, identity.traits);
      } catch (err) {
        if (err instanceof TraitsInvalidError) throw new FlowValidationError(err.problems.map((p) => ({ field: p.field, message: p.message })), flattenTraits(identity.traits));
        throw err;
      }
    }
    return [...changed];
  }

  /** Schedules the `after` hooks that run once the step committed (web_hook with `response.ignore`). */
  runAfterCommitHooks(flow: Flow, method: string | null, request: FlowRequest, identity: Identity | null, session: Session | null): void {
    // The flow is copied for the hooks (they run after the answer, the flow object may change meanwhile): only when
    // there are any.
    if (!this.hooks.hasAfterCommit(flow.kind, method)) return;
    this.hooks.runAfterCommit({ kind: flow.kind, method, flow: structuredClone(flow), request: this.hookRequest(request), json: this.hookJson, identity, session }, afterCommit);
  }

  /** Kratos JSON for hooks (the flow without its CSRF token: a receiver has no use for it). */
  readonly hookJson: HookJson = {
    flow: (flow) => this.flowDocument(flow, ''),
    identity: (identity) => this.identityJson(identity),
    session: (session, identity) => sessionToJson(session, this.deps.clock.nowMs(), identity ? this.identityJson(identity) : null),
  };

  lifespanMs(kind: FlowKind): number {
    return parseDurationMs(this.deps.config.selfservice.flows[kind].lifespan);
  }

  /**
   * A new flow (not stored) with Kratos's base fields; `ui.nodes` is filled by the flow kind. `requestPath` is the
   * path (and query) of the request that created it, Kratos's `request_url`.
   */
  newFlow(kind: FlowKind, type: FlowType, requestPath: string, options: { returnTo?: string | null } = {}): Flow {
    const now = this.deps.clock.nowMs();
    const id = this.deps.random.uuid();
    return {
      id,
      kind,
      type,
      state: INITIAL_STATE[kind],
      identityId: null,
      sessionId: null,
      requestUrl: this.deps.urls.public(requestPath),
      returnTo: options.returnTo ?? null,
      requestedAal: null,
      refresh: false,
      active: null,
      ui: { action: this.deps.urls.flowAction(kind, id), method: 'POST', nodes: [] },
      internal: {},
      issuedAtMs: now,
      expiresAtMs: now + this.lifespanMs(kind),
      createdAtMs: now,
      updatedAtMs: now,
      failedAttempts: 0,
    };
  }

  /** `return_to` from the query, resolved against the default return URL and checked against `selfservice.allowed_return_urls`. */
  returnToOf(request: FlowRequest): string | null {
    const value = (request.query as Record<string, unknown>).return_to;
    if (typeof value !== 'string' || value === '') return null;
    const resolved = this.deps.urls.resolveReturnUrl(value);
    if (resolved === null) throw errors.returnToForbidden(value);
    return resolved;
  }

  /**
   * The request's session, with its identity and the modules' facts. `shared` (whoami, which only reads): the
   * identity and session may be the same frozen objects other requests get (session/session-service.ts findCurrent),
   * so they are parsed once while nothing in the database changed.
   */
  async currentSession(request: FlowRequest, db?: Db, extraFacts: readonly SessionFact[] = [], options: { shared?: boolean } = {}): Promise<CurrentSession | null> {
    const found = sessionTokenOf(request, this.deps.config.session.cookie.name);
    if (!found) return null;
    const facts = extraFacts.length ? [...this.sessionFacts, ...extraFacts.filter((f) => !this.sessionFacts.some((g) => g.name === f.name))] : this.sessionFacts;
    const current = await this.deps.sessions.findCurrent(found.token, facts, db, options);
    if (!current || current.identity.state !== 'active') return null;
    // Methods the identity's MFA rule forbids do not count (a role change applies at the next request).
    if (this.policy) current.session = { ...current.session, amr: this.policy.countedAmr(current.identity, current.session.amr) };
    return { ...current, token: found.token };
  }

  /**
   * Is the session's assurance level enough under `required` (`aal1 | highest_available`)? highest_available
   * means aal2 whenever the identity has a second factor (Kratos `DoesSessionSatisfy`).
   */
  satisfiesAal(current: CurrentSession, required: 'aal1' | 'highest_available'): boolean {
    // An MFA rule that requires a second factor asks for highest_available, and a method it forbids does not count.
    const policy = this.policy;
    const effective = policy ? policy.requiredAal(current.identity, required) : required;
    if (effective === 'aal1') return true;
    if (deriveAal(policy ? policy.countedAmr(current.identity, current.session.amr) : current.session.amr) === 'aal2') return true;
    return !this.deps.identities.hasSecondFactor(current.identity);
  }

  identityJson(identity: Identity): Record<string, unknown> {
    // A frozen identity (a shared one, see currentSession) cannot change: its JSON is made once.
    if (Object.isFrozen(identity)) {
      let json = this.frozenIdentityJson.get(identity);
      if (!json) this.frozenIdentityJson.set(identity, (json = identityToJson(identity, { schemaUrl: this.deps.schemas.urlFor(identity.schemaId) })));
      return json;
    }
    return identityToJson(identity, { schemaUrl: this.deps.schemas.urlFor(identity.schemaId) });
  }

  private readonly frozenIdentityJson = new WeakMap<Identity, Record<string, unknown>>();

  /** Kratos's flow JSON. Browser flows get their CSRF node with this browser's token. */
  async flowJson(flow: Flow, request: FlowRequest, reply: FlowReply): Promise<Record<string, unknown>> {
    return this.flowDocument(flow, flow.type === 'browser' ? this.csrf.ensure(request, reply) : '');
  }

  private async flowDocument(flow: Flow, csrfValue: string): Promise<Record<string, unknown>> {
    const iso = toIso;
    let nodes = flow.ui.nodes.filter((n) => !(n.attributes.node_type === 'input' && n.attributes.name === 'csrf_token'));
    for (const reveal of this.nodeRevealers) nodes = await reveal(flow, nodes);
    const csrfNode = inputNode('default', 'csrf_token', 'hidden', { value: csrfValue, required: true });
    const ui = { ...flow.ui, nodes: [csrfNode, ...nodes] };
    const json: Record<string, unknown> = {
      id: flow.id,
      type: flow.type,
      expires_at: iso(flow.expiresAtMs),
      issued_at: iso(flow.issuedAtMs),
      request_url: flow.requestUrl,
      ...(flow.returnTo ? { return_to: flow.returnTo } : {}),
      ...(flow.active ? { active: flow.active } : {}),
      ui,
      created_at: iso(flow.createdAtMs),
      updated_at: iso(flow.updatedAtMs),
      state: flow.state,
    };
    if (flow.kind === 'login') {
      json.refresh = flow.refresh;
      json.requested_aal = flow.requestedAal ?? 'aal1';
      json.organization_id = null;
    }
    if (flow.kind === 'settings' && flow.identityId) {
      const identity = await this.deps.identities.get(flow.identityId);
      json.identity = identity ? this.identityJson(identity) : null;
    }
    if (flow.internal.continue_with) json.continue_with = flow.internal.continue_with;
    return json;
  }

  async respondFlow(request: FlowRequest, reply: FlowReply, flow: Flow, status = 200): Promise<FlowReply> {
    const body = await this.flowJson(flow, request, reply);
    return reply.code(status).header('cache-control', 'private, no-store').send(body);
  }

  /** A flow after a step: browsers (HTML forms) go to its UI page (303), SPAs and API clients get its JSON. */
  async show(request: FlowRequest, reply: FlowReply, flow: Flow): Promise<FlowReply> {
    if (flow.type === 'browser' && !isJsonRequest(request)) return this.redirectToUi(reply, flow);
    return this.respondFlow(request, reply, flow);
  }

  /**
   * GET /self-service/<kind>/{browser,api}: `start` creates and stores the flow (or answers itself, e.g. a redirect,
   * by returning the reply); browsers get their CSRF cookie and a 303 to the UI, others the flow JSON; HttpErrors
   * go out in Kratos's shape for this flow type.
   */
  async runInit(request: FlowRequest, reply: FlowReply, type: FlowType, start: () => Promise<Flow | FlowReply>): Promise<FlowReply> {
    try {
      const started: Flow | FlowReply | undefined = await start();
      // A `start` that answered itself (an "already signed in" redirect) returns Fastify's reply, a thenable: the
      // async function adopts it, so what arrives here is undefined once the reply is sent (issue 14, finding 6).
      if (started === undefined || (started as unknown) === reply || reply.sent) return reply;
      const flow = started as Flow;
      if (type === 'browser' && !isJsonRequest(request)) {
        this.csrf.ensure(request, reply);
        return this.redirectToUi(reply, flow);
      }
      return this.respondFlow(request, reply, flow);
    } catch (err) {
      if (err instanceof HttpError) return this.sendError(request, reply, err, type);
      throw err;
    }
  }

  /**
   * POST /self-service/<kind>?flow=: the unit of work of a submission (storage/unit-of-work.ts). Opens one
   * transaction, loads and locks the flow, checks a browser flow's CSRF token, runs `handle` with the transaction,
   * and answers whatever it throws (see `fail`). A decision (success, a validation problem, an error in Kratos's
   * shape) commits with everything the step wrote, the flow's new state and its audit events included; anything
   * else (a bug, a lost database) rolls the whole step back.
   */
  async runSubmit(
    kind: FlowKind,
    request: FlowRequest,
    reply: FlowReply,
    handle: (trx: Db, flow: Flow, body: SubmittedBody, prepared: Map<string, unknown>) => Promise<FlowReply>,
    /** The strategies whose `prepare` runs before the unit of work opens (flows/strategy.ts `PreparesSubmission`). */
    preparers: readonly (PreparesSubmission & { id: string })[] = [],
  ): Promise<FlowReply> {
    let prepared = new Map<string, unknown>();
    if (preparers.length > 0) {
      try {
        prepared = await prepareSubmission(preparers, submittedBody(request));
      } catch (err) {
        // A malformed body: the step below answers it in the flow's shape.
        if (!(err instanceof HttpError)) throw err;
      }
    }
    return this.runStep(kind, request, reply, queryOf(request).flow, (trx, flow) => {
      const body = submittedBody(request);
      if (flow.type === 'browser') this.csrf.verify(request, body.csrf_token);
      return handle(trx, flow, body, prepared);
    });
  }

  /**
   * One step on the flow `flowId` as a unit of work: a submission (`runSubmit`), or a link that carries its secret
   * in the query (the emailed verification link, an admin recovery link). Loads and locks the flow in the step's
   * transaction, runs `handle`, answers what it throws (`fail`) and commits; a step paused for blocking hooks
   * (`HookPause`) ends its unit of work, runs them outside any transaction, and resumes in a second one.
   */
  async runStep(kind: FlowKind, request: FlowRequest, reply: FlowReply, flowId: unknown, handle: (trx: Db, flow: Flow) => Promise<FlowReply>): Promise<FlowReply> {
    // The answer is written only once the step committed (`stepOutcome`, awaited by the HTTP layer before the
    // response leaves): a client never sees a decision the database does not hold yet.
    let settle!: (committed: boolean) => void;
    stepOutcomes.set(reply, new Promise<boolean>((resolve) => (settle = resolve)));
    let boxed: { reply: FlowReply | null };
    try {
      let pause: HookPause | null = null;
      // A limit that refuses the step (or cannot be checked) rolls the step back and is answered outside it: on
      // PostgreSQL a failed charge has aborted the transaction, where not even the error page's row can be written.
      let limitRefusal: { flow: Flow; error: unknown } | null = null;
      boxed = await this.deps.storage
        .transaction(async (trx) => {
          let flow: Flow | null = null;
          let answered: { reply: FlowReply | null };
          try {
            flow = await this.loadFlow(kind, flowId, trx);
            for (const limit of this.stepLimits) {
              await limit(trx, flow, request).catch((error: unknown) => {
                limitRefusal = { flow: flow!, error };
                throw LIMIT_REFUSED;
              });
            }
            answered = { reply: await handle(trx, flow) };
          } catch (err) {
            if (err === LIMIT_REFUSED) throw err;
            if (err instanceof HookPause) {
              pause = err;
              if (err.commit) return { reply: null };
              throw err;
            }
            answered = { reply: await this.fail(request, reply, flow, err, trx) };
          }
          await testPause(`${kind}.before_commit`);
          return answered;
        })
        .catch(async (err: unknown) => {
          if (err !== null && err === pause) return { reply: null };
          const refused = limitRefusal as { flow: Flow; error: unknown } | null;
          if (err === LIMIT_REFUSED && refused) return { reply: await this.fail(request, reply, refused.flow, refused.error) };
          throw err;
        });
      const paused = pause as HookPause | null;
      if (paused) {
        // No transaction is open here: the hooks may take as long as their HTTP calls do.
        let outcome: unknown;
        let refusal: unknown = null;
        try {
          outcome = await paused.run();
        } catch (err) {
          refusal = err ?? new Error('hook failed');
        }
        boxed = await this.deps.storage.transaction(async (trx) => {
          let flow: Flow | null = null;
          let answered: { reply: FlowReply | null };
          try {
            flow = await this.loadFlow(kind, flowId, trx);
            if (refusal !== null) throw refusal;
            answered = { reply: await paused.resume(trx, flow, outcome) };
          } catch (err) {
            answered = { reply: await this.fail(request, reply, flow, err, trx) };
          }
          await testPause(`${kind}.before_commit`);
          return answered;
        });
      }
      await testPause(`${kind}.after_commit`);
      settle(true);
    } catch (err) {
      settle(false);
      throw err;
    }
    return boxed.reply!;
  }

  /**
   * A request that needs no session came with one: browsers go to `returnTo` (or the default return URL), others
   * get Kratos's `session_already_available`.
   */
  alreadySignedIn(request: FlowRequest, reply: FlowReply, type: FlowType, returnTo: string | null): FlowReply {
    if (type === 'browser' && !isJsonRequest(request)) return reply.redirect(returnTo ?? this.deps.urls.defaultReturn(), 303);
    throw errors.sessionAlreadyAvailable();
  }

  /**
   * A submission to an expired flow: `replacement` (a new flow of the same kind, rendered) is stored with the
   * expired message; browsers go to it, others get the 410 naming it.
   */
  async replaceExpired(request: FlowRequest, reply: FlowReply, expired: Flow, replacement: Flow, trx?: Db): Promise<FlowReply> {
    replacement.ui.messages = [this.expiredMessage(expired)];
    await this.deps.flows.insert(replacement, trx);
    if (expired.type === 'browser' && !isJsonRequest(request)) return this.redirectToUi(reply, replacement);
    throw this.expiredError(expired, replacement.id);
  }

  /** Browser: 303 to the flow's UI page. */
  redirectToUi(reply: FlowReply, flow: Flow): FlowReply {
    return reply.redirect(this.deps.urls.flowUi(flow.kind, flow.id), 303);
  }

  /**
   * An audit event about a submission to `flow` by its own user (`actor: self`, the flow's identity and session, the
   * request's address and agent), in the step's transaction. `details` must never hold what was typed.
   */
  async auditSubmission(trx: Db, request: FlowRequest, flow: Flow, type: AuditEventType, details: Record<string, unknown>): Promise<void> {
    const info = requestInfo(request);
    await this.deps.audit.record(trx, {
      type,
      identityId: flow.identityId,
      sessionId: flow.sessionId,
      flowId: flow.id,
      actor: 'self',
      ipAddress: info.ip,
      userAgent: info.userAgent,
      details,
    });
  }

  /** The flow of a request; with `trx` (a submission), locked for the step. */
  async loadFlow(kind: FlowKind, id: unknown, trx?: Db): Promise<Flow> {
    if (typeof id !== 'string' || id === '') throw errors.badRequest('The flow query parameter is missing or malformed.');
    const flow = trx ? await this.deps.flows.getForStep(trx, id) : await this.deps.flows.get(id);
    if (!flow || flow.kind !== kind) throw errors.notFound(`Unable to locate the ${kind} flow.`);
    return flow;
  }

  isExpired(flow: Flow): boolean {
    return flow.expiresAtMs <= this.deps.clock.nowMs();
  }

  expiredError(flow: Flow, replacementId: string | null): HttpError {
    const since = this.deps.clock.nowMs() - flow.expiresAtMs;
    return errors.flowExpired(flow.kind, replacementId, flow.expiresAtMs, since);
  }

  /** Message for a replacement flow created because the old one expired. */
  expiredMessage(flow: Flow) {
    const ago = this.deps.clock.nowMs() - flow.expiresAtMs;
    return FLOW_EXPIRED_MESSAGE[flow.kind](ago, flow.expiresAtMs);
  }

  /**
   * Answers a failed submission: validation problems go into the flow (400 flow JSON, or 303 back to the form for
   * browsers); errors in Kratos's envelope go out as JSON, or for browsers as a redirect (to `redirect_browser_to`
   * when the error carries one, else to the error page).
   */
  async fail(request: FlowRequest, reply: FlowReply, flow: Flow | null, err: unknown, trx?: Db): Promise<FlowReply> {
    if (err instanceof FlowValidationError && flow) {
      applyProblems(flow.ui, err);
      await this.deps.flows.update(flow, this.deps.clock.nowMs(), trx);
      if (flow.type === 'browser' && !isJsonRequest(request)) return this.redirectToUi(reply, flow);
      return this.respondFlow(request, reply, flow, 400);
    }
    if (err instanceof HttpError) return this.sendError(request, reply, err, flow, trx);
    throw err;
  }

  /** `context`: the flow, or the flow type of an init request (browser inits redirect; api inits answer JSON). */
  async sendError(request: FlowRequest, reply: FlowReply, err: HttpError, context: Flow | FlowType | null = null, trx?: Db): Promise<FlowReply> {
    const type = context === null ? 'browser' : typeof context === 'string' ? context : context.type;
    const browser = type === 'browser' && !isJsonRequest(request);
    if (browser) {
      const redirect = err.extra.redirect_browser_to;
      if (typeof redirect === 'string') return reply.redirect(redirect, 303);
      const id = this.deps.random.uuid();
      await this.deps.flows.insertError(id, err.body, this.deps.clock.nowMs(), trx);
      return reply.redirect(this.deps.urls.errorUi(id), 303);
    }
    if (err.body.id) reply.header('ory-error-id', err.body.id);
    return reply.code(err.status).send(err.toJSON());
  }
}

/** Session cookie (HttpOnly, SameSite from config, Secure when the public base URL is https). */
export function setSessionCookie(engine: FlowEngine, reply: FlowReply, token: string, session: Session): void {
  const c = engine.deps.config.session.cookie;
  reply.setCookie(c.name, token, {
    httpOnly: true,
    sameSite: c.same_site.toLowerCase() as 'lax' | 'strict' | 'none',
    secure: engine.deps.config.serve.public.base_url.startsWith('https:') || c.same_site === 'None',
    path: c.path,
    ...(c.domain ? { domain: c.domain } : {}),
    ...(c.persistent ? { expires: new Date(session.expiresAtMs) } : {}),
  });
}

export function clearSessionCookie(engine: FlowEngine, reply: FlowReply): void {
  const c = engine.deps.config.session.cookie;
  reply.clearCookie(c.name, { path: c.path, ...(c.domain ? { domain: c.domain } : {}) });
}
