/**
 * The strategy interfaces the flows define and each authentication method implements (Kratos
 * `selfservice/flow/<flow>/strategy.go`). A flow never switches on method names: it asks every enabled strategy
 * for its nodes, and offers a submission to each until one does not answer NOT_RESPONSIBLE.
 */
import type { Identity } from '../identity/identity.js';
import type { IdentitySchema } from '../identity/schemas.js';
import type { AmrEntry, Session } from '../session/session.js';
import type { SessionFact } from '../session/session-service.js';
import type { UiNode } from '../ui/nodes.js';
import type { UiText } from '../ui/messages.js';
import type { Flow } from './flow.js';
import type { Db } from '../storage/db.js';

export const NOT_RESPONSIBLE = Symbol('strategy not responsible');
export type NotResponsible = typeof NOT_RESPONSIBLE;

/** What a strategy may know about the request: never the raw headers or cookies. */
export interface RequestInfo {
  ip: string;
  userAgent: string | null;
  requestId: string;
  /** The reader's language preference (the hosted UI's language cookie first, then `Accept-Language`), for messages sent in this step. */
  acceptLanguage?: string | null;
}

export type SubmittedBody = Record<string, unknown>;

/**
 * Work a strategy does before the step's unit of work opens (no transaction held): CPU-heavy or slow parts, such as
 * hashing or verifying a password, so the transaction (on SQLite, the database's write lock) is held for
 * milliseconds only. Reads done here are re-checked inside the step. Returns an opaque value the strategy receives
 * back as `prepared`, or undefined when the submission is not its own.
 */
export interface PreparesSubmission {
  prepare?(body: SubmittedBody): Promise<unknown>;
}

export interface LoginStrategy extends PreparesSubmission {
  readonly id: string;
  /** The level this method proves: aal1 (first factor) or aal2 (second factor). */
  readonly aal: 'aal1' | 'aal2';
  /** Values this method needs at login, loaded by the statement that loads the session (session/session-service.ts). */
  readonly sessionFacts?: readonly SessionFact[];
  /**
   * Nodes for a login flow. For aal2 and refresh flows `identity` is the session's identity and a strategy that the
   * identity has not set up returns none.
   */
  loginNodes(flow: Flow, identity: Identity | null): Promise<UiNode[]> | UiNode[];
  login(input: {
    /** The step's transaction (flows/engine.ts `runSubmit`): every write of the step goes through it. */
    trx: Db;
    flow: Flow;
    body: SubmittedBody;
    session: Session | null;
    identity: Identity | null;
    request: RequestInfo;
    /** What `prepare` returned for this submission, if anything. */
    prepared?: unknown;
    /** The session facts loaded with the session (including this strategy's `sessionFacts`). */
    facts?: Record<string, unknown>;
  }): Promise<LoginResult | NotResponsible>;
}

export interface LoginResult {
  identity: Identity;
  amr: AmrEntry;
  /** Informational messages to show with the result (e.g. remaining recovery codes). */
  messages?: UiText[];
  /** Extra fields for the `kairos` member of the session JSON in this response. */
  sessionExtras?: Record<string, unknown>;
  /**
   * Where a browser goes next instead of `return_to`, when the method needs the person's attention first (the last
   * recovery code was used: regenerate now). Only used once the session satisfies the required AAL.
   */
  redirectBrowserTo?: string;
}

export interface RegistrationStrategy extends PreparesSubmission {
  readonly id: string;
  registrationNodes(flow: Flow, schema: IdentitySchema): Promise<UiNode[]> | UiNode[];
  register(input: { trx: Db; flow: Flow; body: SubmittedBody; request: RequestInfo; prepared?: unknown }): Promise<RegistrationResult | NotResponsible>;
}

export interface RegistrationResult {
  /** Built (not stored) identity with its credentials; the flow stores it. */
  identity: Identity;
  amr: AmrEntry;
  /**
   * Writes the method's own rows once the identity is stored, in the step's transaction (a passkey's public key
   * lives in `webauthn_keys`, which refers to the identity).
   */
  afterCreate?: (trx: Db) => Promise<void>;
}

export interface SettingsStrategy extends PreparesSubmission {
  readonly id: string;
  settingsNodes(flow: Flow, identity: Identity): Promise<UiNode[]> | UiNode[];
  settings(input: {
    /** The step's transaction (flows/engine.ts `runSubmit`): every write of the step goes through it. */
    trx: Db;
    flow: Flow;
    body: SubmittedBody;
    identity: Identity;
    session: Session;
    request: RequestInfo;
    /** Throws the Kratos `session_refresh_required` error when the session is not privileged. */
    requirePrivileged(): void;
    /** What `prepare` returned for this submission, if anything. */
    prepared?: unknown;
  }): Promise<SettingsResult | NotResponsible>;
}

export interface SettingsResult {
  /**
   * `saved`: the change is stored; the flow shows 1050001 and moves to `success`.
   * `continue`: nothing final yet (e.g. codes shown for confirmation); the flow re-renders and stays `show_form`.
   */
  outcome: 'saved' | 'continue';
  /** Methods completed in this step, appended to the session (enrolling TOTP makes the session aal2). */
  amr?: AmrEntry[];
  messages?: UiText[];
}

/**
 * What a recovery submission came to. `continue`: the strategy changed the flow's state and UI (a code was mailed, a
 * further step is needed) and the flow is shown again. `recovered`: the strategy proved who this is; the flow revokes
 * the identity's other sessions, issues a privileged session and lands the person in a settings flow.
 */
export type RecoveryResult =
  | { outcome: 'continue' }
  | {
      outcome: 'recovered';
      identity: Identity;
      /** The methods this recovery completed (AMR of the new session). */
      amr: AmrEntry[];
      /** Details of the `recovery.completed` audit event. */
      details: Record<string, unknown>;
      /** Messages for the settings flow recovery lands in. */
      settingsMessages?: UiText[];
      /**
       * The strategy's own change that must wait until the after-recovery hooks agreed (an MFA reset removing the
       * second factors): the flow calls it after the hooks, in the step's unit of work, and continues with the
       * identity it returns. A refusing hook therefore leaves the account as it was.
       */
      complete?: () => Promise<Identity>;
    };

/** A recovery method (Kratos `selfservice/flow/recovery/strategy.go`). */
export interface RecoveryStrategy {
  readonly id: string;
  /** Nodes of a new recovery flow (what the method asks for first). */
  recoveryNodes(flow: Flow): UiNode[];
  /**
   * Handles a submission: the method's own, or a further step of a flow this strategy already owns. Throws
   * FlowValidationError for bad input; NOT_RESPONSIBLE when the submission is another method's.
   */
  recover(input: { trx: Db; flow: Flow; body: SubmittedBody; request: RequestInfo }): Promise<RecoveryResult | NotResponsible>;
  /**
   * A link that carries its secret in the query (`GET /self-service/recovery?flow=&token=`, Kratos's `link`
   * method). Null when the token is not valid for this flow; absent when the strategy has no links.
   */
  followLink?(input: { trx: Db; flow: Flow; token: string; request: RequestInfo }): Promise<RecoveryResult | null>;
}

/** A verification method (Kratos `selfservice/flow/verification/strategy.go`). */
export interface VerificationStrategy {
  readonly id: string;
  /** Nodes of a new flow (state `choose_method`). */
  verificationNodes(flow: Flow): UiNode[];
  /**
   * Handles a submission: updates the flow's state and UI (e.g. `sent_email` with a code field, or
   * `passed_challenge`). Throws FlowValidationError for bad input; NOT_RESPONSIBLE when the body is another
   * method's.
   */
  verify(input: { trx: Db; flow: Flow; body: SubmittedBody; request: RequestInfo }): Promise<void | NotResponsible>;
}

/** The strategies in play, by flow. Order is the order of nodes in the UI. */
export interface Strategies {
  login: LoginStrategy[];
  registration: RegistrationStrategy[];
  settings: SettingsStrategy[];
}

/** Runs every strategy's `prepare` for a submission, outside the unit of work; results by strategy id. */
export async function prepareSubmission(strategies: readonly (PreparesSubmission & { id: string })[], body: SubmittedBody): Promise<Map<string, unknown>> {
  const prepared = new Map<string, unknown>();
  for (const strategy of strategies) {
    if (!strategy.prepare) continue;
    const value = await strategy.prepare(body);
    if (value !== undefined) prepared.set(strategy.id, value);
  }
  return prepared;
}
