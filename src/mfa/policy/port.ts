/**
 * The port through which the flows ask the MFA policy (implemented by enforcer.ts): which methods an identity's rule
 * allows, which recorded methods count toward its AAL, and what a sign-in step leads to. The flows call it from few
 * places (the engine's AAL check, login's step, settings' render and submit) and never look at rules themselves; the
 * policy returns decisions and messages, and the flows turn them into their answers (no import of flows/ here, as
 * for every mfa/ module). Without policies configured the engine has none (`FlowEngine.policy` is null).
 */
import type { HttpError } from '../../errors/http-error.js';
import type { Identity } from '../../identity/identity.js';
import type { AmrEntry, Session } from '../../session/session.js';
import type { Db } from '../../storage/db.js';
import type { UiNode } from '../../ui/nodes.js';
import type { UiText } from '../../ui/messages.js';

/** A submitted form or JSON body, as the flows pass it. */
export type SubmittedBody = Record<string, unknown>;

export interface PolicyRequest {
  ip: string;
  userAgent: string | null;
}

export interface LoginStepInput {
  identity: Identity;
  /** The session as stored after this step (its methods appended). */
  session: Session;
  /** The strategy that completed the step, and the level it proves. */
  method: string;
  methodAal: 'aal1' | 'aal2';
  /** A re-authentication (`refresh`) of an existing session: no new sign-in is counted. */
  refresh: boolean;
  flowId: string;
  flowType: 'browser' | 'api';
  request: PolicyRequest;
  /** The remembered-device cookie this browser sent, if any. */
  deviceToken: string | null;
}

export interface LoginStepOutcome {
  /** The session after the policy's part (a remembered browser may have completed the second step). */
  session: Session;
  /** For the person: a reminder with the deadline during the grace period. */
  messages: UiText[];
  /** The grace period is over: browsers go to `settingsUrl`; SPAs get `error` (403 with `redirect_browser_to`). */
  enrollment: { settingsUrl: string; error: HttpError } | null;
  /** A browser to remember: set this cookie (HttpOnly, SameSite=Lax, Secure on https). */
  rememberDevice: { name: string; value: string; expiresAtMs: number } | null;
  /** Added to the `login.succeeded` audit event: `mfa_rule`, `mfa_decision`. */
  auditDetails: Record<string, unknown>;
}

export interface AuthenticationPolicy {
  /** The name of the remembered-device cookie. */
  readonly deviceCookieName: string;
  /** The recorded methods that count for this identity: a method its rule forbids does not. */
  countedAmr(identity: Identity, amr: AmrEntry[]): AmrEntry[];
  /** The assurance this identity's sessions need: a rule that requires a second factor makes it highest_available. */
  requiredAal(identity: Identity, configured: 'aal1' | 'highest_available'): 'aal1' | 'highest_available';
  /** Whether the identity's rule allows this method (sign-in and enrollment); methods no rule names are allowed. */
  allows(identity: Identity, method: string): boolean;
  /**
   * A submission of a method the identity's rule forbids: at sign-in (any use) or in settings (an enrollment; removing
   * a forbidden factor stays possible). Returns the message to refuse it with (the refusal is audited), or null.
   */
  refusal(db: Db, input: { identity: Identity; body: SubmittedBody; at: 'login' | 'settings'; flowId: string; sessionId: string | null; request: PolicyRequest }): Promise<UiText | null>;
  /** A sign-in step succeeded (the session is stored): what the identity's rule makes of it. */
  afterLoginStep(trx: Db, input: LoginStepInput): Promise<LoginStepOutcome>;
  /** The nodes a settings flow shows this identity (enrollment of a forbidden method is not offered). */
  settingsNodes(identity: Identity, nodes: UiNode[]): UiNode[];
  /** Messages a new settings flow starts with: the reminder or the reason to enroll now, and what the rule allows. */
  settingsNotices(identity: Identity): Promise<UiText[]>;
}
