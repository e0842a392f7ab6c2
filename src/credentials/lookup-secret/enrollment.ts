/**
 * Recovery codes at the enrollment of a second factor (the port credentials/totp and credentials/webauthn take in
 * their constructors, `RecoveryCodesAtEnrollment`): new codes kept encrypted in a settings flow until confirmed, and
 * one code as proof of the second factor (unlinking TOTP after losing the phone). The lookup-secret strategy uses
 * the same pending codes; built first, so every strategy is wired through its constructor.
 */
import type { Deps } from '../../deps.js';
import type { Identity } from '../../identity/identity.js';
import type { Db } from '../../storage/db.js';
import type { GuardRefusal, SecondFactorAttempt } from '../../mfa/attempts/second-factor-guard.js';
import { refusalMessage } from '../../mfa/attempts/messages.js';
import type { SecretCipher } from '../../crypto/secret-cipher.js';
import { FlowValidationError, type Flow } from '../../flows/flow.js';
import type { RequestInfo } from '../../flows/strategy.js';
import type { UiText } from '../../ui/messages.js';
import type { RecoveryCodesAtEnrollment } from '../totp/strategy.js';
import { codeHashes, generateCodes, normalizeCode } from './codes.js';
import { lookupMsg } from './messages.js';
import { LookupSecretRepository } from './repository.js';

export const LOOKUP_SECRET = 'lookup_secret';

/** Where the new codes of a settings flow wait for confirmation: `flow.internal`, encrypted (never in clear). */
export const PENDING_KEY = 'lookup_secret_pending';
/** Set by `lookup_secret_reveal` so the next render shows the codes' status. */
export const REVEAL_KEY = 'lookup_secret_reveal';

interface PendingCodes {
  ciphertext: string;
  count: number;
  created_at: number;
}

type EnrollmentDeps = Pick<Deps, 'config' | 'db' | 'clock' | 'random' | 'audit' | 'secondFactorGuard'>;

export class RecoveryCodeEnrollment implements RecoveryCodesAtEnrollment {
  readonly repository: LookupSecretRepository;

  constructor(
    private readonly deps: EnrollmentDeps,
    private readonly cipher: SecretCipher,
  ) {
    this.repository = new LookupSecretRepository(deps.db);
  }

  private get count(): number {
    return this.deps.config.selfservice.methods.lookup_secret.config.count;
  }

  /** The secrets codes are hashed under: the first stores, all are tried (rotation of `secrets.default`). */
  private get hashSecrets(): readonly string[] {
    return this.deps.config.secrets.default;
  }

  /** A guard's refusal becomes the flow's message (the code's verdict is never shown with it). */
  private refuseIf(refusal: GuardRefusal | null): void {
    if (refusal) throw FlowValidationError.global(refusalMessage(refusal, this.deps.clock.nowMs()));
  }

  private pendingAad(flow: Flow): string {
    return `lookup_secret_pending:${flow.id}`;
  }

  private storePending(flow: Flow, codes: string[]): void {
    const pending: PendingCodes = {
      ciphertext: this.cipher.encrypt(new TextEncoder().encode(codes.join('\n')), this.pendingAad(flow)),
      count: codes.length,
      created_at: this.deps.clock.nowMs(),
    };
    flow.internal[PENDING_KEY] = pending;
  }

  /** The codes waiting for confirmation in this flow, or null. */
  pendingCodes(flow: Flow): string[] | null {
    const pending = flow.kind === 'settings' ? (flow.internal[PENDING_KEY] as PendingCodes | undefined) : undefined;
    if (!pending || typeof pending.ciphertext !== 'string') return null;
    return new TextDecoder().decode(this.cipher.decrypt(pending.ciphertext, this.pendingAad(flow))).split('\n');
  }

  /** Generates new codes for the flow (kept encrypted in it until confirmed). */
  beginPending(flow: Flow): void {
    this.storePending(flow, generateCodes(this.deps.random, this.count));
    delete flow.internal[REVEAL_KEY];
  }

  // ---- RecoveryCodesAtEnrollment -------------------------------------------------------------------------------

  async required(identity: Identity, db: Db): Promise<boolean> {
    // An identity that still has unused codes (confirmed earlier) keeps them; one without gets new ones now.
    if (!identity.credentials[LOOKUP_SECRET]) return true;
    return (await this.repository.remaining(identity.id, db)).remaining === 0;
  }

  async begin(flow: Flow): Promise<UiText[]> {
    this.beginPending(flow);
    return [lookupMsg.totpVerifiedSaveCodes()];
  }

  async hasUnused(identity: Identity): Promise<boolean> {
    if (!identity.credentials[LOOKUP_SECRET]) return false;
    return (await this.repository.remaining(identity.id)).remaining > 0;
  }

  /**
   * One unused code as proof of the second factor outside login (unlinking TOTP after losing the phone): consumed
   * by the same single conditional UPDATE as at login and audited the same way. The caller holds the attempt slot
   * (mfa/attempts). False for a malformed, unknown or used code.
   */
  async consumeAsProof(trx: Db, input: { identity: Identity; code: string; flow: Flow; sessionId: string; request: RequestInfo; attempt: SecondFactorAttempt }): Promise<boolean> {
    const { identity } = input;
    if (!identity.credentials[LOOKUP_SECRET]) return false;
    const normalized = normalizeCode(input.code);
    if (!normalized) return false;
    const position = await this.repository.consume(trx, identity.id, codeHashes(this.hashSecrets, identity.id, normalized), this.deps.clock.nowMs());
    if (position === null) return false;
    this.refuseIf(await this.deps.secondFactorGuard.recordSuccess(trx, input.attempt));
    const { remaining, total } = await this.repository.remaining(identity.id, trx);
    await this.deps.audit.record(trx, {
      type: 'recovery_codes.used',
      identityId: identity.id,
      sessionId: input.sessionId,
      flowId: input.flow.id,
      actor: 'self',
      ipAddress: input.request.ip,
      userAgent: input.request.userAgent,
      details: { position, remaining, total, purpose: 'totp_unlink' },
    });
    return true;
  }
}
