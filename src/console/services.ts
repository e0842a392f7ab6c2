/**
 * What the console shows and does, over Kairos's own services (identities, sessions, the second-factor guard, MFA
 * resets, admin recovery, the TOTP diagnosis). Every action:
 * - is checked on the server for the operator's permission (roles.ts) and refused on the operator's own identity
 *   (operators use self-service for themselves);
 * - needs a reason, and records `admin.action_performed` with the operator as actor (`console:<identity id>`), the
 *   reason and, for resets and recovery codes, the verification checklist;
 * - never logs, stores or echoes a code the user read out.
 */
import type { FastifyRequest } from 'fastify';
import type { Deps } from '../deps.js';
import type { Identity } from '../identity/identity.js';
import type { KairosModule } from '../module.js';
import type { RecoveryModule } from '../recovery/module.js';
import { parseDurationMs } from '../config/duration.js';
import { SecretCipher } from '../crypto/secret-cipher.js';
import { TotpRepository, type TotpCredentialRow } from '../credentials/totp/repository.js';
import { normalizeTotpCode, timeStep } from '../otp/otp.js';
import { DiagnosisRepository } from '../mfa/diagnosis/repository.js';
import { diagnoseStoredCode } from '../mfa/diagnosis/totp-diagnostics.js';
import { describeDeviceOffset, type Diagnosis } from '../mfa/diagnosis/diagnose.js';
import { hintFor } from '../mfa/diagnosis/messages.js';
import { deriveAal, type Session } from '../session/session.js';
import type { RuleLookup } from '../reports/rule-of.js';
import { isPrivileged } from './roles.js';
import { ConsoleStore, type ConsoleApprovalRow } from './store.js';
import { resyncTotp, describeResync, type ResyncOutcome } from './resync.js';
import type { Operator } from './auth.js';
import { MfaResets } from '../recovery/mfa-reset.js';

/** Evidence an operator can tick before a reset or a recovery code (stored with the action). */
export const CHECKLIST = {
  callback: 'Called the person back on the phone number on file',
  id_document: 'Checked a photo ID on a video call',
  manager: 'The person\'s manager confirmed the request',
  known_facts: 'The person answered questions only the account holder knows',
  ticket: 'The request is logged in a support ticket',
} as const;
export type ChecklistItem = keyof typeof CHECKLIST;
export const MAX_REASON = 1000;
/** Refused future steps kept per credential (as mfa/diagnosis keeps them). */
const REFUSED_STEPS_KEPT = 8;

export class ConsoleActionError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const actorOf = (operator: Operator) => `console:${operator.id}`;

export interface FactorView {
  type: string;
  createdAtMs: number;
  lastUsedMs: number | null;
  detail: string;
}

export interface IdentityView {
  identity: Identity;
  rule: string;
  /** What the rule in force requires, for people ("totp, webauthn; grace 7d"). */
  ruleSummary: string;
  privileged: boolean;
  factors: FactorView[];
  recoveryCodes: { total: number; remaining: number } | null;
  lockout: Awaited<ReturnType<Deps['secondFactorGuard']['report']>>;
  sessions: (Session & { aal: string; lastActivityMs: number })[];
  pendingResets: { id: string; createdAtMs: number; notBeforeMs: number; flowId: string | null }[];
  approvals: ConsoleApprovalRow[];
  totp: TotpCredentialRow | null;
  secondaryRecoveryAddresses: { value: string; verified: boolean }[];
}

export class ConsoleServices {
  readonly store: ConsoleStore;
  private resetsCache: MfaResets | null = null;
  private readonly totpRepo: TotpRepository;

  constructor(
    private readonly deps: Deps,
    private readonly modules: () => KairosModule[],
    private readonly rules: RuleLookup,
  ) {
    this.store = new ConsoleStore(deps.db);
    this.totpRepo = new TotpRepository(deps.db);
  }

  /** The recovery module's MFA resets (the modules list is complete only once the server is built). */
  private get resets(): MfaResets {
    return (this.resetsCache ??= this.recoveryModule()?.resets ?? new MfaResets(this.deps));
  }

  private recoveryModule(): RecoveryModule | null {
    return (this.modules().find((m) => m.name === 'recovery') as RecoveryModule | undefined) ?? null;
  }

  private cipher(): SecretCipher {
    return new SecretCipher(this.deps.config.secrets.cipher, this.deps.random);
  }

  async identity(id: string): Promise<Identity | null> {
    return /^[0-9a-f-]{36}$/i.test(id) ? this.deps.identities.get(id.toLowerCase()) : null;
  }

  async view(identity: Identity): Promise<IdentityView> {
    const { deps } = this;
    const now = deps.clock.nowMs();
    const sessions = await deps.sessions.listForIdentity(identity.id, { activeOnly: true });
    const lastByMethod: Record<string, number> = {};
    for (const s of await deps.sessions.listForIdentity(identity.id)) for (const e of s.amr) lastByMethod[e.method] = Math.max(lastByMethod[e.method] ?? 0, e.completedAtMs);
    const totp = identity.credentials.totp ? ((await this.totpRepo.findByIdentityId(identity.id))[0] ?? null) : null;
    const keys = await deps.db.selectFrom('webauthn_keys').select(['method', 'display_name', 'created_at', 'last_used_at']).where('identity_id', '=', identity.id).execute();
    const factors: FactorView[] = [];
    for (const [type, credential] of Object.entries(identity.credentials).sort(([a], [b]) => a.localeCompare(b))) {
      let lastUsedMs: number | null = lastByMethod[type] ?? null;
      let detail = '';
      if (type === 'totp' && totp) {
        if (totp.lastUsedStep !== null) lastUsedMs = Math.max(lastUsedMs ?? 0, totp.lastUsedStep * totp.parameters.periodSeconds * 1000);
        detail = `${totp.issuer ? `${totp.issuer} (${totp.accountName})` : totp.accountName}; ${totp.parameters.algorithm}, ${totp.parameters.digits} digits, ${totp.parameters.periodSeconds} s; drift ${totp.driftSteps ?? 0} steps`;
      }
      if (type === 'webauthn' || type === 'passkey') {
        const mine = keys.filter((k) => k.method === type);
        const used = mine.map((k) => (k.last_used_at === null ? 0 : Number(k.last_used_at))).filter((n) => n > 0);
        if (used.length) lastUsedMs = Math.max(lastUsedMs ?? 0, ...used);
        detail = mine.map((k) => k.display_name).join(', ');
      }
      if (type === 'password') detail = credential.identifiers.join(', ');
      factors.push({ type, createdAtMs: credential.createdAtMs, lastUsedMs, detail });
    }
    let recoveryCodes: IdentityView['recoveryCodes'] = null;
    if (identity.credentials.lookup_secret) {
      const rows = await deps.db.selectFrom('lookup_secret_codes').select(['used_at']).where('identity_id', '=', identity.id).execute();
      recoveryCodes = { total: rows.length, remaining: rows.filter((r) => r.used_at === null).length };
    }
    const pending = await deps.db.selectFrom('mfa_reset_requests').selectAll().where('identity_id', '=', identity.id).where('status', '=', 'pending').orderBy('created_at').execute();
    const secondary = await deps.db.selectFrom('identity_secondary_recovery_addresses').select(['value', 'verified']).where('identity_id', '=', identity.id).execute();
    return {
      identity,
      rule: this.rules.ruleOf(identity),
      ruleSummary: ruleSummary(this.rules.resolve(identity)),
      privileged: isPrivileged(identity, this.rules),
      factors,
      recoveryCodes,
      lockout: await deps.secondFactorGuard.report(identity.id),
      sessions: sessions.map((s) => ({ ...s, aal: deriveAal(s.amr), lastActivityMs: Math.max(s.authenticatedAtMs, ...s.amr.map((e) => e.completedAtMs)) })),
      pendingResets: pending.map((p) => ({ id: p.id, createdAtMs: Number(p.created_at), notBeforeMs: Number(p.not_before), flowId: p.flow_id })),
      approvals: await this.store.pendingApprovals(now, { identityId: identity.id }),
      totp,
      secondaryRecoveryAddresses: secondary.map((a) => ({ value: a.value, verified: a.verified === 1 })),
    };
  }

  private async record(request: FastifyRequest, operator: Operator, identityId: string, action: string, details: Record<string, unknown>): Promise<void> {
    await this.deps.audit.record(this.deps.db, {
      type: 'admin.action_performed',
      identityId,
      sessionId: operator.kairosSessionId,
      actor: actorOf(operator),
      ipAddress: request.ip,
      userAgent: request.headers['user-agent'] ?? null,
      details: { action, ...details },
    });
  }

  /** The diagnosis of a code the user reads out; the code is never accepted, stored or logged. */
  async diagnose(request: FastifyRequest, operator: Operator, identity: Identity, rawCode: string, reason: string): Promise<{ diagnosis: Diagnosis; summary: string; say: string } | null> {
    const row = identity.credentials.totp ? ((await this.totpRepo.findByIdentityId(identity.id))[0] ?? null) : null;
    if (!row) return null;
    const totpConfig = this.deps.config.selfservice.methods.totp.config;
    const nowMs = this.deps.clock.nowMs();
    const previous = await new DiagnosisRepository(this.deps.db).previousSecrets(identity.id, nowMs - parseDurationMs(totpConfig.diagnostics.previous_secret_retention));
    const diagnosis = diagnoseStoredCode({
      row,
      previousRows: previous,
      code: normalizeTotpCode(rawCode),
      nowMs,
      cipher: this.cipher(),
      windowSteps: totpConfig.window,
      maxSkewSeconds: Math.floor(parseDurationMs(totpConfig.diagnostics.max_skew) / 1000),
    });
    const currentIssuer = totpConfig.issuer ?? this.deps.config.ui.brand.name ?? new URL(this.deps.config.serve.public.base_url).hostname;
    const say = diagnosis.cause === 'replayed' && diagnosis.offsetSteps !== null && Math.abs(diagnosis.offsetSteps) <= totpConfig.window + Math.abs(row.driftSteps ?? 0)
      ? // A right, current code (or one already used): the console never accepts it, so tell the user it is fine.
        'That code matches your authenticator right now. Sign in again and enter the code your app shows then.'
      : hintFor({ diagnosis, issuer: row.issuer, accountName: row.accountName, parameters: row.parameters, currentIssuer }).text;
    const burned = await this.burnReadOutStep(row, diagnosis, nowMs);
    const summary = operatorSummary(diagnosis, row) + (burned ? ' The code was used up, so nobody who heard it can sign in with it.' : '');
    await this.record(request, operator, identity.id, 'totp.diagnose', { reason, cause: diagnosis.cause, offset_steps: diagnosis.offsetSteps, offset_seconds: diagnosis.offsetSeconds, burned });
    return { diagnosis, summary, say };
  }

  /**
   * A code read out over the phone has been heard: if it could still sign in (its step is in the accepted window and
   * unused) its step is used up now; if it lies in the future (a device ahead), that step is refused for good, as a
   * skew diagnosis at sign-in does. Earlier steps outside the window can never be accepted anyway.
   */
  private async burnReadOutStep(row: TotpCredentialRow, diagnosis: Diagnosis, nowMs: number): Promise<boolean> {
    if (diagnosis.offsetSteps === null || (diagnosis.cause !== 'replayed' && diagnosis.cause !== 'clock_skew')) return false;
    const window = this.deps.config.selfservice.methods.totp.config.window;
    const currentStep = timeStep(nowMs, row.parameters.periodSeconds);
    const step = currentStep + diagnosis.offsetSteps;
    if (Math.abs(diagnosis.offsetSteps - (row.driftSteps ?? 0)) <= window) return this.totpRepo.consumeStep(step, row.credentialId, null);
    if (step <= currentStep) return false;
    const refused = [...(row.refusedSteps ?? []).filter((s) => s > currentStep - window - 1 && s !== step), step].slice(-REFUSED_STEPS_KEPT);
    await new DiagnosisRepository(this.deps.db).saveRefusedSteps(this.deps.db, row.credentialId, refused.join(','));
    return true;
  }

  async resync(request: FastifyRequest, operator: Operator, identity: Identity, code1: string, code2: string, reason: string): Promise<{ outcome: ResyncOutcome; text: string } | null> {
    const row = identity.credentials.totp ? ((await this.totpRepo.findByIdentityId(identity.id))[0] ?? null) : null;
    if (!row) return null;
    const outcome = await resyncTotp(this.deps.db, { config: this.deps.config, cipher: this.cipher(), row, code1, code2, nowMs: this.deps.clock.nowMs() });
    await this.record(request, operator, identity.id, 'totp.resync', {
      reason,
      credential_id: row.credentialId,
      result: outcome.ok ? 'resynchronised' : outcome.reason,
      ...(outcome.ok ? { offset_steps: outcome.offsetSteps, offset_seconds: outcome.offsetSeconds, previous_drift_steps: outcome.previousDriftSteps } : {}),
    });
    return { outcome, text: describeResync(outcome, row.parameters.periodSeconds) };
  }

  async unlock(request: FastifyRequest, operator: Operator, identity: Identity, reason: string): Promise<boolean> {
    const cleared = await this.deps.secondFactorGuard.clearLockout({ identityId: identity.id, by: 'admin', actor: actorOf(operator), reason, ipAddress: request.ip });
    await this.record(request, operator, identity.id, 'mfa.unlock', { reason, cleared });
    return cleared;
  }

  async revokeSessions(request: FastifyRequest, operator: Operator, identity: Identity, reason: string): Promise<number> {
    const count = await this.deps.sessions.revokeAllForIdentity(identity.id);
    await this.deps.audit.record(this.deps.db, { type: 'session.revoked', identityId: identity.id, actor: actorOf(operator), ipAddress: request.ip, details: { via: 'console', count, reason } });
    await this.record(request, operator, identity.id, 'sessions.revoke', { reason, count });
    return count;
  }

  async setState(request: FastifyRequest, operator: Operator, identity: Identity, state: 'active' | 'inactive', reason: string): Promise<void> {
    if (identity.state === state) throw new ConsoleActionError(409, `The identity is already ${state}.`);
    identity.state = state;
    identity.stateChangedAtMs = this.deps.clock.nowMs();
    await this.deps.identities.update(identity, { credentialTypes: [] });
    let revoked = 0;
    if (state === 'inactive') revoked = await this.deps.sessions.revokeAllForIdentity(identity.id);
    await this.deps.audit.record(this.deps.db, { type: 'identity.updated', identityId: identity.id, actor: actorOf(operator), ipAddress: request.ip, details: { via: 'console', state } });
    await this.record(request, operator, identity.id, state === 'inactive' ? 'identity.deactivate' : 'identity.reactivate', { reason, revoked_sessions: revoked });
  }

  async issueRecovery(request: FastifyRequest, operator: Operator, identity: Identity, kind: 'code' | 'link', reason: string, checklist: ChecklistItem[]): Promise<{ link: string; code: string | null; expiresAtMs: number }> {
    const recovery = this.recoveryModule();
    if (!recovery) throw new ConsoleActionError(409, 'Recovery is disabled (selfservice.flows.recovery.enabled).');
    const { flow, value } = await recovery.issueRecovery(request, kind, { body: { identity_id: identity.id }, actor: actorOf(operator), reason, returnTo: null });
    await this.record(request, operator, identity.id, kind === 'code' ? 'recovery.code' : 'recovery.link', { reason, checklist, flow_id: flow.id });
    const link = kind === 'code' ? this.deps.urls.public('/self-service/recovery', { flow: flow.id }) : this.deps.urls.public('/self-service/recovery', { flow: flow.id, token: value });
    return { link, code: kind === 'code' ? value : null, expiresAtMs: flow.expiresAtMs };
  }

  /**
   * Starts an MFA reset. With the delay: a pending request the user completes by recovering after
   * `selfservice.flows.recovery.mfa_reset_delay` (every verified address is told, with a cancel link). Without: the
   * second factors and recovery codes are removed now and the user must enroll again. A privileged identity's reset
   * waits for a second operator (four eyes) when `console.four_eyes` is on.
   */
  async startMfaReset(request: FastifyRequest, operator: Operator, identity: Identity, input: { delay: boolean; reason: string; checklist: ChecklistItem[] }): Promise<{ kind: 'approval_requested'; approvalId: string } | { kind: 'done'; completed: boolean; notBeforeMs: number }> {
    if (!this.deps.identities.hasSecondFactor(identity) && !identity.credentials.lookup_secret) throw new ConsoleActionError(409, 'This identity has no second factor to reset.');
    if (this.deps.config.console.four_eyes && isPrivileged(identity, this.rules)) {
      const now = this.deps.clock.nowMs();
      const id = this.deps.random.uuid();
      await this.store.createApproval({
        id,
        identity_id: identity.id,
        action: 'mfa_reset',
        params: JSON.stringify({ delay: input.delay, checklist: input.checklist }),
        reason: input.reason,
        requested_by: operator.id,
        status: 'pending',
        decided_by: null,
        decision_reason: null,
        decided_at: null,
        expires_at: now + parseDurationMs(this.deps.config.console.approval_lifespan),
        created_at: now,
      });
      await this.record(request, operator, identity.id, 'mfa_reset.approval_requested', { reason: input.reason, checklist: input.checklist, delay: input.delay, approval_id: id });
      return { kind: 'approval_requested', approvalId: id };
    }
    const result = await this.performReset(request, operator, identity, input.delay);
    await this.record(request, operator, identity.id, input.delay ? 'mfa_reset.start_delayed' : 'mfa_reset.now', { reason: input.reason, checklist: input.checklist, completed: result.completed });
    return { kind: 'done', ...result };
  }

  private async performReset(request: FastifyRequest, operator: Operator, identity: Identity, delay: boolean): Promise<{ completed: boolean; notBeforeMs: number }> {
    const info = { ip: request.ip, userAgent: request.headers['user-agent'] ?? null, requestId: String(request.id) };
    // A console reset belongs to no self-service flow.
    const { request: reset } = await this.resets.open(identity, { flowId: null as unknown as string, request: info, actor: actorOf(operator) });
    if (delay) return { completed: false, notBeforeMs: Number(reset.not_before) };
    const completed = await this.resets.complete(reset, identity, { via: 'admin', flowId: null, request: info, actor: actorOf(operator) });
    return { completed, notBeforeMs: Number(reset.not_before) };
  }

  /** The second operator's decision on a four-eyes request; approving performs the reset as requested. */
  async decide(request: FastifyRequest, operator: Operator, approvalId: string, approve: boolean, reason: string): Promise<{ status: 'approved' | 'rejected'; identityId: string }> {
    const approval = await this.store.approval(approvalId);
    const now = this.deps.clock.nowMs();
    if (!approval || approval.status !== 'pending' || approval.expires_at <= now) throw new ConsoleActionError(409, 'This request is no longer pending.');
    if (approval.requested_by === operator.id) throw new ConsoleActionError(403, 'A second operator must decide: you asked for this reset.');
    if (approval.identity_id === operator.id) throw new ConsoleActionError(403, 'You cannot decide on a reset of your own account.');
    const identity = await this.deps.identities.get(approval.identity_id);
    if (!identity) throw new ConsoleActionError(404, 'The identity no longer exists.');
    if (!(await this.store.decide(this.deps.db, approval.id, approve ? 'approved' : 'rejected', operator.id, reason, now))) throw new ConsoleActionError(409, 'This request is no longer pending.');
    const params = JSON.parse(approval.params) as { delay: boolean; checklist: ChecklistItem[] };
    if (approve) {
      const result = await this.performReset(request, operator, identity, params.delay);
      await this.record(request, operator, identity.id, 'mfa_reset.approved', { reason, approval_id: approval.id, requested_by: approval.requested_by, request_reason: approval.reason, checklist: params.checklist, delay: params.delay, completed: result.completed });
    } else {
      await this.record(request, operator, identity.id, 'mfa_reset.rejected', { reason, approval_id: approval.id, requested_by: approval.requested_by });
    }
    return { status: approve ? 'approved' : 'rejected', identityId: identity.id };
  }
}

function ruleSummary(policy: ReturnType<RuleLookup['resolve']>): string {
  const required = policy.required === 'none' ? 'no second factor required' : policy.required === 'any' ? 'any second factor required' : `requires ${policy.required.join(' or ')}`;
  const grace = policy.grace ? `; grace ${policy.grace.durationMs !== null ? `${Math.round(policy.grace.durationMs / 86_400_000)} days` : `${policy.grace.logins} sign-ins`}` : '';
  const matched = policy.matchedBy.length ? ` (matched by ${policy.matchedBy.join(', ')})` : '';
  return `${required}; allowed: ${policy.allowedMethods.join(', ') || 'none'}${grace}${matched}`;
}

function operatorSummary(d: Diagnosis, row: TotpCredentialRow): string {
  switch (d.cause) {
    case 'malformed':
      return d.malformed === 'not_digits' ? 'Malformed: the code has characters other than digits.' : `Malformed: ${d.actualLength} characters; this credential has ${d.expectedDigits} digits.`;
    case 'replayed':
      if (d.offsetSteps !== null && d.offsetSeconds !== null && Math.abs(d.offsetSteps - (row.driftSteps ?? 0)) > 1) {
        return `Clock skew: the device clock is ${describeDeviceOffset(d.offsetSeconds)} (${d.offsetSteps} steps); this code's step was already refused after an earlier attempt.`;
      }
      return `Right code, but its time step (offset ${d.offsetSteps} steps) was already used or is the current one: the device is fine; the user should wait for the next code.`;
    case 'clock_skew':
      return `Clock skew: the device clock is ${describeDeviceOffset(d.offsetSeconds!)} (${d.offsetSteps} steps of ${row.parameters.periodSeconds} s).`;
    case 'previous_secret':
      return `Old entry: the code comes from a secret enrolled ${new Date(d.previousSecret!.enrolledAtMs).toISOString().slice(0, 10)} and replaced ${new Date(d.previousSecret!.retiredAtMs).toISOString().slice(0, 10)}.`;
    case 'parameter_mismatch': {
      const p = d.detectedParameters!;
      return `Parameter mismatch: the app generates ${p.algorithm}, ${p.digits} digits, ${p.periodSeconds} s codes; the credential uses ${row.parameters.algorithm}, ${row.parameters.digits} digits, ${row.parameters.periodSeconds} s.`;
    }
    case 'no_match':
      return 'No match: wrong entry in the app or a badly scanned secret. Re-enrollment is the fix.';
  }
}
