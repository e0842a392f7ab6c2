/**
 * Enforcement of the MFA policy at the server (port.ts is what the flows call): the rule is resolved at
 * every request from the identity as loaded (so a role change applies at its next request), and
 * - a method the rule forbids is not offered, cannot be enrolled, and does not count toward the session's AAL;
 * - a rule that requires a second factor makes the identity's sessions need aal2 (`highest_available`) once it has
 *   one; without one, sign-in succeeds with a reminder during the grace period and is sent to enroll after it
 *   (browser: settings; SPA: 403 `kairos_second_factor_enrollment_required` with `redirect_browser_to`), and whoami
 *   refuses the session until a second factor is enrolled;
 * - where the rule allows, a browser that completed a second factor is remembered (a cookie bound to the identity and
 *   the factor, stored as a keyed hash) and skips the second factor within the duration.
 *
 * Every decision is audited (`mfa_policy.*`, and `mfa_rule`/`mfa_decision` on `login.succeeded`).
 */
import type { Deps } from '../../deps.js';
import { HttpError, errors } from '../../errors/http-error.js';
import type { AuthenticationPolicy, LoginStepInput, LoginStepOutcome, PolicyRequest, SubmittedBody } from './port.js';
import type { Identity } from '../../identity/identity.js';
import { deriveAal, type AmrEntry, type Session } from '../../session/session.js';
import type { Db } from '../../storage/db.js';
import { keyedHash } from '../../support/crypto.js';
import { randomString } from '../../support/random.js';
import type { UiNode } from '../../ui/nodes.js';
import type { UiText } from '../../ui/messages.js';
import type { LoginDecision } from './index.js';
import { policyMsg } from './messages.js';
import { PolicyRepository, type RememberedDevice, type RevocationReason, type StoredPolicyState } from './repository.js';
import { CODE_METHOD, enabledPolicyMethods, methodAllowed, policyMethodOf, policyStatus, resolvePolicy, type MfaPolicies, type PolicyStatus, type ResolvedPolicy } from './rules.js';

/** The AMR entry a remembered browser adds in place of the second factor (aal2). */
export const REMEMBERED_DEVICE_METHOD = 'remembered_device';
/** The remembered-device cookie (HttpOnly, SameSite=Lax, Secure on https). */
export const DEVICE_COOKIE = 'kairos_remembered_device';
const DEVICE_TOKEN_PREFIX = 'krd_';
/** 43 base62 characters ≈ 256 bits (Copenhagen Book: ≥ 112). */
const DEVICE_TOKEN_CHARS = 43;

/** The error id shared with the MFA reset's re-enrollment gate (recovery/module.ts): one id for clients to handle. */
export const ENROLLMENT_REQUIRED_ERROR_ID = 'kairos_second_factor_enrollment_required';

export function policyEnrollmentError(settingsUrl: string, ruleId: string): HttpError {
  return new HttpError(
    403,
    {
      id: ENROLLMENT_REQUIRED_ERROR_ID,
      code: 403,
      status: 'Forbidden',
      reason: `The MFA policy "${ruleId}" requires a second factor for this identity and its enrollment grace period is over. Set up a second factor (in settings) before this session can be used.`,
      message: 'Second factor enrollment required',
      details: { redirect_browser_to: settingsUrl, rule_id: ruleId },
    },
    { redirect_browser_to: settingsUrl },
  );
}

/** Which settings submissions enroll (or renew) a method; removing one stays possible under any rule. */
const ENROLLS: Record<string, (body: SubmittedBody) => boolean> = {
  totp: (b) => b.method === 'totp' && !truthy(b.totp_unlink),
  webauthn: (b) => typeof b.webauthn_register === 'string' && b.webauthn_register !== '',
  passkey: (b) => typeof b.passkey_settings_register === 'string' && b.passkey_settings_register !== '',
  lookup_secret: (b) => truthy(b.lookup_secret_regenerate) || truthy(b.lookup_secret_confirm),
};
const REMOVAL_NODE = /_(unlink|remove|disable)$/;
const truthy = (v: unknown) => v === true || v === 'true' || v === '1';

type EnforcerDeps = Pick<Deps, 'config' | 'clock' | 'random' | 'audit' | 'identities' | 'urls' | 'sessions' | 'db' | 'logger'>;

export class PolicyEnforcer implements AuthenticationPolicy {
  readonly deviceCookieName = DEVICE_COOKIE;
  private readonly enabled: ReadonlySet<string>;

  constructor(
    private readonly deps: EnforcerDeps,
    readonly policies: MfaPolicies,
    readonly repository: PolicyRepository,
  ) {
    this.enabled = enabledPolicyMethods(deps.config.selfservice.methods, deps.config.courier.channels);
  }

  resolve(identity: Identity): ResolvedPolicy {
    return resolvePolicy(identity, this.policies, this.deps.clock);
  }

  // ---- what counts -----------------------------------------------------------------------------------------------

  countedAmr(identity: Identity, amr: AmrEntry[]): AmrEntry[] {
    const policy = this.resolve(identity);
    const now = this.deps.clock.nowMs();
    return amr.filter((entry) => {
      // A remembered browser's skip counts only while the rule in force still remembers browsers for that long.
      if (entry.method === REMEMBERED_DEVICE_METHOD) return policy.rememberDeviceMs !== null && now - entry.completedAtMs < policy.rememberDeviceMs;
      // A code counts by its channel (`email`, `sms`); one recorded without it counts only where both are allowed.
      return methodAllowed(policy.allowedMethods, policyMethodOf(entry), 'all');
    });
  }

  requiredAal(identity: Identity, configured: 'aal1' | 'highest_available'): 'aal1' | 'highest_available' {
    return this.resolve(identity).requiresSecondFactor ? 'highest_available' : configured;
  }

  /** `code` is allowed when one of its channels is (the strategy then offers only the allowed channels' addresses). */
  allows(identity: Identity, method: string): boolean {
    return methodAllowed(this.resolve(identity).allowedMethods, method, 'any');
  }

  /** The second factors the identity has that its rule allows, by their policy names (`email`, `sms` for codes). */
  enrolledMethods(identity: Identity): string[] {
    return this.deps.identities.secondFactorMethods(identity, { kinds: true });
  }

  // ---- refusals --------------------------------------------------------------------------------------------------

  private forbiddenIn(identity: Identity, body: SubmittedBody, at: 'login' | 'settings'): string | null {
    if (at === 'login') {
      const method = typeof body.method === 'string' ? body.method : null;
      if (method && !this.allows(identity, method)) return method;
      // A code step names its address (the "Send code to …" button, the code form's hidden field): its channel must be
      // allowed. (The strategy also refuses a code sent to an address whose channel is no longer allowed, whatever the
      // body says, and a code's AMR entry counts by the channel it really went by.)
      const codeStep = method === CODE_METHOD || body.resend === CODE_METHOD;
      if (codeStep && typeof body.address === 'string' && body.address !== '') {
        const channel = body.address.includes('@') ? 'email' : 'sms';
        if (!this.allows(identity, channel)) return channel;
      }
      return null;
    }
    for (const [method, enrolls] of Object.entries(ENROLLS)) if (enrolls(body) && !this.allows(identity, method)) return method;
    return null;
  }

  async refusal(db: Db, input: { identity: Identity; body: SubmittedBody; at: 'login' | 'settings'; flowId: string; sessionId: string | null; request: PolicyRequest }): Promise<UiText | null> {
    const method = this.forbiddenIn(input.identity, input.body, input.at);
    if (!method) return null;
    const policy = this.resolve(input.identity);
    await this.audit(db, 'mfa_policy.method_refused', input.identity.id, policy, { method, at: input.at }, input);
    return policyMsg.methodNotAllowed(method, policy.allowedMethods, policy.ruleId);
  }

  // ---- sign-in ---------------------------------------------------------------------------------------------------

  async afterLoginStep(trx: Db, input: LoginStepInput): Promise<LoginStepOutcome> {
    const { identity } = input;
    const policy = this.resolve(identity);
    const now = this.deps.clock.nowMs();
    const context = { flowId: input.flowId, sessionId: input.session.id, request: input.request };
    let state: StoredPolicyState | null = null;
    // A new sign-in (first factor, not a re-authentication) under a rule that requires a second factor: the rule
    // applies from now if it did not yet (its grace starts), and the sign-in is counted.
    if (policy.requiresSecondFactor && input.methodAal === 'aal1' && !input.refresh) {
      const applied = await this.repository.apply(trx, { identityId: identity.id, ruleId: policy.ruleId, nowMs: now, countLogin: true });
      state = applied.state;
      if (applied.applied) await this.recordApplied(trx, identity, policy, context);
    }

    let session = input.session;
    const messages: UiText[] = [];
    let enrollment: LoginStepOutcome['enrollment'] = null;
    let rememberDevice: LoginStepOutcome['rememberDevice'] = null;
    let decision: LoginDecision;
    const aal2 = () => deriveAal(this.countedAmr(identity, session.amr)) === 'aal2';
    const needsSecondFactor = this.requiredAal(identity, this.deps.config.session.whoami.required_aal) === 'highest_available' && this.deps.identities.hasSecondFactor(identity);

    if (input.methodAal === 'aal2') {
      decision = 'satisfied';
      if (aal2() && input.flowType === 'browser' && policy.rememberDeviceMs !== null) {
        rememberDevice = await this.remember(trx, identity, policy, input, messages);
      }
    } else if (aal2()) decision = 'satisfied';
    else if (needsSecondFactor) {
      decision = 'second_factor';
      if (input.deviceToken) {
        const skipped = await this.skipWithDevice(trx, identity, policy, session, input.deviceToken, context);
        if (skipped) {
          session = skipped;
          decision = 'device_skip';
        }
      }
    } else decision = policy.requiresSecondFactor ? 'satisfied' : 'not_required';

    // Whether the rule's enrollment is due: a second factor of another kind (or none) does not satisfy a rule that
    // requires specific methods.
    if (policy.requiresSecondFactor && decision !== 'second_factor') {
      state ??= (await this.repository.states(identity.id, trx)).find((s) => s.ruleId === policy.ruleId) ?? null;
      const status = policyStatus(policy, this.enrolledMethods(identity), state);
      const settingsUrl = this.deps.urls.browserInit('settings');
      if (status.status === 'grace') {
        decision = 'grace';
        messages.push(this.reminder(status, settingsUrl, policy));
        await this.audit(trx, 'mfa_policy.grace_reminded', identity.id, policy, { at: 'login', ...this.graceDetails(status) }, context);
      } else if (status.status === 'overdue') {
        decision = 'enrollment_required';
        messages.push(policyMsg.enrollmentRequired(settingsUrl, policy.ruleId));
        enrollment = { settingsUrl, error: policyEnrollmentError(settingsUrl, policy.ruleId) };
        await this.repository.recordDecision(trx, identity.id, policy.ruleId, 'enrollment_required', now);
        await this.audit(trx, 'mfa_policy.enrollment_enforced', identity.id, policy, { at: 'login', ...this.graceDetails(status) }, context);
      }
    }
    return { session, messages, enrollment, rememberDevice, auditDetails: { mfa_rule: policy.ruleId, mfa_decision: decision } };
  }

  private graceDetails(status: PolicyStatus): Record<string, unknown> {
    return {
      ...(status.graceDeadlineMs !== null ? { grace_deadline: new Date(status.graceDeadlineMs).toISOString() } : {}),
      ...(status.loginsLeft !== null ? { logins_left: status.loginsLeft } : {}),
    };
  }

  private reminder(status: PolicyStatus, settingsUrl: string, policy: ResolvedPolicy): UiText {
    if (status.graceDeadlineMs !== null) return policyMsg.graceUntil(status.graceDeadlineMs, status.loginsLeft, settingsUrl, policy.ruleId);
    return policyMsg.graceLogins(status.loginsLeft ?? 0, settingsUrl, policy.ruleId);
  }

  private async recordApplied(db: Db, identity: Identity, policy: ResolvedPolicy, context: { flowId?: string | null; sessionId?: string | null; request?: PolicyRequest | null }): Promise<void> {
    const grace = policy.grace;
    await this.audit(db, 'mfa_policy.applied', identity.id, policy, {
      required: Array.isArray(policy.required) ? [...policy.required] : policy.required,
      grace_deadline: grace?.durationMs ? new Date(this.deps.clock.nowMs() + grace.durationMs).toISOString() : null,
      grace_logins: grace?.logins ?? null,
    }, context);
  }

  // ---- remembered devices ----------------------------------------------------------------------------------------

  private tokenHashes(token: string): string[] {
    return this.deps.config.secrets.default.map((secret) => keyedHash(secret, `remembered_device:${token}`));
  }

  /** The device a cookie names, when the token is well-formed. */
  async deviceOf(token: string, db: Db = this.deps.db): Promise<RememberedDevice | null> {
    if (!token.startsWith(DEVICE_TOKEN_PREFIX) || token.length > 128) return null;
    return this.repository.findDeviceByHash(this.tokenHashes(token), db);
  }

  /**
   * A remembered browser skips the second factor only when every binding holds: the cookie names a device of THIS
   * identity (a cookie copied from another person's browser is useless), not revoked, within its duration and the
   * duration of the rule in force, the rule remembers browsers at all, and the factor completed when it was
   * remembered is still enrolled and allowed. Anything else is refused and audited.
   */
  private async skipWithDevice(trx: Db, identity: Identity, policy: ResolvedPolicy, session: Session, token: string, context: { flowId: string; sessionId: string; request: PolicyRequest }): Promise<Session | null> {
    const now = this.deps.clock.nowMs();
    const device = await this.deviceOf(token, trx);
    let reason: string | null = null;
    if (!device) reason = 'unknown';
    else if (device.identityId !== identity.id) reason = 'other_identity';
    else if (policy.rememberDeviceMs === null) reason = 'rule_forbids';
    else if (device.revokedAtMs !== null) reason = 'revoked';
    else if (now >= device.expiresAtMs || now >= device.createdAtMs + policy.rememberDeviceMs) reason = 'expired';
    else if (!this.enrolledMethods(identity).includes(device.method)) reason = 'factor_gone';
    else if (!(await this.repository.markUsed(trx, device.id, now))) reason = 'revoked';
    const own = device && device.identityId === identity.id ? { device_id: device.id } : {};
    if (reason) {
      await this.audit(trx, 'mfa_policy.device_refused', identity.id, policy, { reason, ...own }, context);
      return null;
    }
    const skipped = await this.deps.sessions.addAuthenticationMethods(trx, session, [{ method: REMEMBERED_DEVICE_METHOD, aal: 'aal2', completedAtMs: now }]);
    await this.audit(trx, 'mfa_policy.device_used', identity.id, policy, { device_id: device!.id, method: device!.method }, context);
    return skipped;
  }

  private async remember(trx: Db, identity: Identity, policy: ResolvedPolicy, input: LoginStepInput, messages: UiText[]): Promise<NonNullable<LoginStepOutcome['rememberDevice']>> {
    const now = this.deps.clock.nowMs();
    const context = { flowId: input.flowId, sessionId: input.session.id, request: input.request };
    // The browser's previous device of this identity is replaced (one row per browser and identity).
    const previous = input.deviceToken ? await this.deviceOf(input.deviceToken, trx) : null;
    if (previous && previous.identityId === identity.id && previous.revokedAtMs === null) {
      await this.repository.revoke(trx, { identityId: identity.id, deviceId: previous.id, reason: 'user', nowMs: now });
    }
    const token = DEVICE_TOKEN_PREFIX + randomString(this.deps.random, DEVICE_TOKEN_CHARS);
    const id = this.deps.random.uuid();
    const expiresAtMs = now + policy.rememberDeviceMs!;
    // Bound to the factor by its policy name: a code by its channel, so forbidding SMS later ends an SMS-bound skip.
    const completed = [...input.session.amr].reverse().find((e) => e.method === input.method);
    const method = policyMethodOf(completed ?? { method: input.method });
    await this.repository.insertDevice(trx, {
      id,
      identityId: identity.id,
      tokenHash: this.tokenHashes(token)[0]!,
      method,
      ruleId: policy.ruleId,
      userAgent: input.request.userAgent,
      ipAddress: input.request.ip,
      createdAtMs: now,
      expiresAtMs,
    });
    await this.audit(trx, 'mfa_policy.device_remembered', identity.id, policy, { device_id: id, method, expires_at: new Date(expiresAtMs).toISOString(), ...(previous ? { replaced_device_id: previous.id } : {}) }, context);
    messages.push(policyMsg.deviceRemembered(expiresAtMs));
    return { name: DEVICE_COOKIE, value: token, expiresAtMs };
  }

  /** Revokes devices (one, a factor's, or all) and audits it; returns how many. */
  async revokeDevices(db: Db, input: { identityId: string; reason: RevocationReason; deviceId?: string; method?: string; actor?: string; ipAddress?: string | null; sessionId?: string | null }): Promise<number> {
    const ids = await this.repository.revoke(db, { identityId: input.identityId, reason: input.reason, nowMs: this.deps.clock.nowMs(), deviceId: input.deviceId, method: input.method });
    if (ids.length > 0) {
      await this.deps.audit.record(db, {
        type: 'mfa_policy.device_revoked',
        identityId: input.identityId,
        sessionId: input.sessionId ?? null,
        actor: input.actor ?? 'system',
        ipAddress: input.ipAddress ?? null,
        details: { reason: input.reason, device_ids: ids, count: ids.length, ...(input.method ? { method: input.method } : {}) },
      });
    }
    return ids.length;
  }

  // ---- session use (whoami) --------------------------------------------------------------------------------------

  /** The identity's state under its rule, from the session's facts or read; created (the rule applies) when missing. */
  async ensureState(db: Db, identity: Identity, policy: ResolvedPolicy, known: StoredPolicyState[] | null, context: { sessionId?: string | null; request?: PolicyRequest | null } = {}): Promise<StoredPolicyState> {
    const states = known ?? (await this.repository.states(identity.id, db));
    const found = states.find((s) => s.ruleId === policy.ruleId);
    if (found) return found;
    const applied = await this.repository.apply(db, { identityId: identity.id, ruleId: policy.ruleId, nowMs: this.deps.clock.nowMs(), countLogin: false });
    if (applied.applied) await this.recordApplied(db, identity, policy, context);
    return applied.state;
  }

  /**
   * The whoami gate (and the hosted pages'): a session whose methods all stopped counting is inactive; an identity
   * past its grace period without an accepted second factor is refused with the enrollment error until it enrolls
   * (audited once per change, not per call).
   */
  async gate(current: { identity: Identity; session: Session; facts: Record<string, unknown> }, request: PolicyRequest | null = null): Promise<HttpError | null> {
    if (current.session.amr.length === 0) return errors.sessionInactive();
    const policy = this.resolve(current.identity);
    if (!policy.requiresSecondFactor) return null;
    const now = this.deps.clock.nowMs();
    const db = this.deps.db;
    const state = await this.ensureState(db, current.identity, policy, PolicyRepository.parseStatesFact(current.facts.mfa_policy_states), { sessionId: current.session.id, request });
    const status = policyStatus(policy, this.enrolledMethods(current.identity), state);
    if (status.status === 'overdue') {
      if (await this.repository.recordDecision(db, current.identity.id, policy.ruleId, 'enrollment_required', now)) {
        await this.audit(db, 'mfa_policy.enrollment_enforced', current.identity.id, policy, { at: 'whoami', ...this.graceDetails(status) }, { sessionId: current.session.id, request });
      }
      return policyEnrollmentError(this.deps.urls.browserInit('settings'), policy.ruleId);
    }
    if (state.lastDecision !== status.status) await this.repository.recordDecision(db, current.identity.id, policy.ruleId, status.status, now);
    return null;
  }

  /** `kairos.mfa_policy` in session JSON: the rule and where the identity stands (from the session's facts). */
  async sessionExtras(identity: Identity, facts: Record<string, unknown> | null): Promise<Record<string, unknown>> {
    const policy = this.resolve(identity);
    if (!policy.requiresSecondFactor) return { mfa_policy: { rule_id: policy.ruleId, status: 'not_required' } };
    const states = PolicyRepository.parseStatesFact(facts?.mfa_policy_states) ?? (await this.repository.states(identity.id));
    const status = policyStatus(policy, this.enrolledMethods(identity), states.find((s) => s.ruleId === policy.ruleId) ?? null);
    return {
      mfa_policy: {
        rule_id: policy.ruleId,
        status: status.status,
        ...(status.graceDeadlineMs !== null ? { enrollment_deadline: new Date(status.graceDeadlineMs).toISOString() } : {}),
        ...(status.loginsLeft !== null ? { logins_left: status.loginsLeft } : {}),
      },
    };
  }

  // ---- settings --------------------------------------------------------------------------------------------------

  settingsNodes(identity: Identity, nodes: UiNode[]): UiNode[] {
    const policy = this.resolve(identity);
    // Node groups are methods; the code method's group goes only when every channel is forbidden.
    const forbidden: string[] = [...this.enabled].filter((m) => !(policy.allowedMethods as readonly string[]).includes(m));
    if (!methodAllowed(policy.allowedMethods, CODE_METHOD, 'any')) forbidden.push(CODE_METHOD);
    if (forbidden.length === 0) return nodes;
    return nodes.filter((n) => !forbidden.includes(n.group) || (n.attributes.node_type === 'input' && REMOVAL_NODE.test(String(n.attributes.name))));
  }

  async settingsNotices(identity: Identity): Promise<UiText[]> {
    const policy = this.resolve(identity);
    const notices: UiText[] = [];
    if (policy.requiresSecondFactor) {
      const state = await this.ensureState(this.deps.db, identity, policy, null);
      const status = policyStatus(policy, this.enrolledMethods(identity), state);
      const settingsUrl = this.deps.urls.browserInit('settings');
      if (status.status === 'grace') notices.push(this.reminder(status, settingsUrl, policy));
      if (status.status === 'overdue') notices.push(policyMsg.enrollmentRequired(settingsUrl, policy.ruleId));
    }
    if ([...this.enabled].some((m) => !(policy.allowedMethods as readonly string[]).includes(m))) notices.push(policyMsg.allowedMethods(policy.allowedMethods, policy.ruleId));
    return notices;
  }

  // ---- audit -----------------------------------------------------------------------------------------------------

  private async audit(
    db: Db,
    type: Parameters<Deps['audit']['record']>[1]['type'],
    identityId: string,
    policy: ResolvedPolicy,
    details: Record<string, unknown>,
    context: { flowId?: string | null; sessionId?: string | null; request?: PolicyRequest | null },
  ): Promise<void> {
    await this.deps.audit.record(db, {
      type,
      identityId,
      flowId: context.flowId ?? null,
      sessionId: context.sessionId ?? null,
      actor: 'self',
      ipAddress: context.request?.ip ?? null,
      userAgent: context.request?.userAgent ?? null,
      details: { rule_id: policy.ruleId, ...details },
    });
  }
}
