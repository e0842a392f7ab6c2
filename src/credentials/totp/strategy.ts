import type { Deps } from '../../deps.js';
import type { Identity } from '../../identity/identity.js';
import type { SecretCipher } from '../../crypto/secret-cipher.js';
import { FlowValidationError, type Flow } from '../../flows/flow.js';
import {
  NOT_RESPONSIBLE,
  type LoginResult,
  type LoginStrategy,
  type NotResponsible,
  type RequestInfo,
  type SettingsResult,
  type SettingsStrategy,
  type SubmittedBody,
} from '../../flows/strategy.js';
import type { AmrEntry } from '../../session/session.js';
import { parseDurationMs } from '../../config/duration.js';
import { imageNode, inputNode, textNode, type UiNode } from '../../ui/nodes.js';
import { msg, type UiText } from '../../ui/messages.js';
import { CredentialExistsError } from '../../identity/identity-service.js';
import type { Db } from '../../storage/db.js';
import type { GuardRefusal, SecondFactorAttempt } from '../../mfa/attempts/second-factor-guard.js';
import { refusalMessage, secondFactorMessages } from '../../mfa/attempts/messages.js';
import { lookupMsg } from '../lookup-secret/messages.js';
import {
  encodeBase32,
  matchTotpCode,
  normalizeTotpCode,
  type TotpAlgorithm,
  type TotpMatch,
  type TotpParameters,
} from '../../otp/otp.js';
import { SECRET_BYTES_BY_ALGORITHM } from '../../otp/totp-parameters.js';
import { buildOtpauthUrl } from './otpauth-url.js';
import { renderQrPngDataUri } from './qr-code.js';
import { testPause } from '../../support/test-pause.js';
import { TotpRepository, totpCredentialFact, totpRowFromFact, type TotpCredentialRow } from './repository.js';
import type { SessionFact } from '../../session/session-service.js';
import type { TotpDiagnostics } from '../../mfa/diagnosis/totp-diagnostics.js';

export const TOTP = 'totp';

/** Kratos renders the enrollment QR code at 256×256 (`key.Image(256, 256)`). */
const QR_SIZE_PX = 256;

type TotpDeps = Pick<Deps, 'config' | 'db' | 'clock' | 'random' | 'identities' | 'flows' | 'audit' | 'urls' | 'secondFactorGuard'>;

/** The enrollment secret of one settings flow, kept in `flow.internal` (server-only), encrypted like a stored one. */
export interface PendingTotp {
  /** The id the credential will get; it is the cipher's additional data, so the ciphertext moves as is. */
  credential_id: string;
  secret_ciphertext: string;
  algorithm: TotpAlgorithm;
  digits: 6 | 8;
  period_seconds: number;
  issuer: string;
  account_name: string;
  /**
   * Set when the code was right but the enrollment waits for recovery codes to be confirmed: the matched time step,
   * stored as the credential's last used step at commit so the enrollment code can never log in.
   */
  verified_step?: number;
}

/**
 * Recovery codes as TOTP enrollment needs them (implemented by credentials/lookup-secret, wired in registry.ts), so
 * with `require_recovery_codes` no one is enrolled without codes: a right code generates codes in the flow instead
 * of committing, and the codes' confirmation commits both (`confirmPendingEnrollment`).
 */
export interface RecoveryCodesAtEnrollment {
  /** Whether this enrollment must stop to show new codes (false when the identity still has unused codes). */
  required(identity: Identity, db: Db): Promise<boolean>;
  /** Generates the codes for this flow (kept in the flow until confirmed); returns the messages to show with them. */
  begin(flow: Flow, identity: Identity): Promise<UiText[]>;
  /** Whether the identity has unused recovery codes (the unlink form then also asks for one, as an alternative). */
  hasUnused(identity: Identity): Promise<boolean>;
  /**
   * Consumes one unused recovery code of the identity as proof of the second factor (unlinking TOTP with a lost
   * phone); single use, audited as `recovery_codes.used`. False for a wrong or used code.
   */
  consumeAsProof(trx: Db, input: { identity: Identity; code: string; flow: Flow; sessionId: string; request: RequestInfo; attempt: SecondFactorAttempt }): Promise<boolean>;
}


/** A confirmed secret waiting to be committed (recovery codes first), encrypted; see PendingTotp. */
const PENDING_KEY = 'totp_pending';
/** The enrollment offer of a settings flow (no secret; see `offerOf`). */
const OFFER_KEY = 'totp_offer';
/** 128 bits: the offer's nonce is HKDF salt, so two flows never derive one secret. */
const OFFER_NONCE_BYTES = 16;

/**
 * The flow as sent to a page that shows only the "Set up an authenticator app" action (hosted UI): without its
 * offer, so no secret is computed and no QR code drawn before the person asks for them.
 */
export function withoutTotpOffer(flow: Flow): Flow {
  if (!(OFFER_KEY in flow.internal)) return flow;
  const { [OFFER_KEY]: _offer, ...internal } = flow.internal;
  return { ...flow, internal };
}

/** What a settings flow offers to enroll: parameters fixed when the flow was rendered, and the derivation nonce. */
interface TotpOffer {
  nonce: string;
  algorithm: TotpAlgorithm;
  digits: 6 | 8;
  period_seconds: number;
  issuer: string;
  account_name: string;
}

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const truthy = (value: unknown) => value === true || value === 'true' || value === '1' || value === 1;

/** TOTP (Kratos `selfservice/strategy/totp`): a second factor in login (aal2) and its enrollment in settings. */
export class TotpStrategy implements LoginStrategy, SettingsStrategy {
  readonly id = TOTP;
  readonly aal = 'aal2' as const;
  readonly repository: TotpRepository;
  constructor(
    private readonly deps: TotpDeps,
    private readonly cipher: SecretCipher,
    /** Rejection diagnosis and drift learning (mfa/diagnosis); null: a wrong code is just 4000008. */
    private readonly diagnostics: TotpDiagnostics | null = null,
    /** Recovery codes at enrollment (credentials/lookup-secret), when they are enabled. */
    private readonly recoveryCodes: RecoveryCodesAtEnrollment | null = null,
  ) {
    this.repository = new TotpRepository(deps.db);
  }

  private get config() {
    return this.deps.config.selfservice.methods.totp.config;
  }

  /** The issuer shown in authenticator apps: the configured one, else the public host (as Kratos). */
  private get issuer(): string {
    return this.config.issuer ?? new URL(this.deps.config.serve.public.base_url).hostname;
  }

  // ---- shared --------------------------------------------------------------------------------------------------

  /** The identity's TOTP row, or null when it has no (complete) TOTP credential. */
  async credentialOf(identity: Identity, db: Db = this.deps.db): Promise<TotpCredentialRow | null> {
    const credential = identity.credentials[TOTP];
    if (!credential) return null;
    return this.repository.findByCredentialId(credential.id, db);
  }

  /**
   * Checks a code against a stored credential with the credential's own parameters, in its window centred on the
   * learned drift (RFC 6238 §6), and consumes the matched step. Returns false for a malformed, wrong or replayed
   * code, or a step a diagnosis revealed (`refusedSteps`). A right code is first reported to the guard (which may
   * still refuse: a concurrent attempt delayed the identity; the code is then not consumed), then consumed with the
   * drift it teaches in one conditional statement.
   */
  private async verifyStored(trx: Db, row: TotpCredentialRow, rawCode: string, attempt: SecondFactorAttempt): Promise<boolean> {
    const secret = this.cipher.decrypt(row.secretCiphertext, row.credentialId);
    const match = this.match(secret, row.parameters, rawCode, row.driftSteps ?? 0);
    secret.fill(0);
    if (!match || (row.refusedSteps ?? []).includes(match.step)) return false;
    this.refuseIf(await this.deps.secondFactorGuard.recordSuccess(trx, attempt));
    const drift = this.diagnostics?.driftAfter(row, match.offsetSteps) ?? null;
    if (!(await this.repository.consumeStep(match.step, row.credentialId, drift, trx))) return false;
    if (drift) await this.diagnostics!.acceptedWith(trx, row, match.offsetSteps, drift);
    return true;
  }

  private match(secret: Uint8Array, parameters: TotpParameters, rawCode: string, centerOffsetSteps = 0): TotpMatch | null {
    return matchTotpCode({
      secret,
      parameters,
      code: normalizeTotpCode(rawCode),
      nowMs: this.deps.clock.nowMs(),
      windowSteps: this.config.window,
      centerOffsetSteps,
    });
  }

  /**
   * The error for a rejected code: Kratos's (4000003 on `totp_code` for a code shorter than the credential's
   * digits, else 4000008), plus the diagnosis hint (mfa/diagnosis) when hints are on. The diagnosis is logged,
   * counted and audited whatever `user_hints` says.
   */
  private async rejection(trx: Db, row: TotpCredentialRow, rawCode: string, context: { identity: Identity; flow: Flow; sessionId?: string | null; request: { ip: string; userAgent: string | null } }): Promise<FlowValidationError> {
    const code = normalizeTotpCode(rawCode);
    const problems: FlowValidationError['problems'] = [];
    const digits = row.parameters.digits;
    if (/^[0-9]*$/.test(code) && code.length < digits) problems.push({ field: 'totp_code', message: msg.minLength(digits, code.length) });
    else problems.push({ field: null, message: msg.totpWrong() });
    if (this.diagnostics) {
      const { hint } = await this.diagnostics.reportRejection(trx, row, code, {
        identityId: context.identity.id,
        flowId: context.flow.id,
        sessionId: context.sessionId ?? null,
        ipAddress: context.request.ip,
        userAgent: context.request.userAgent,
      });
      if (hint) problems.push({ field: null, message: hint });
    }
    return new FlowValidationError(problems);
  }

  private amr(): AmrEntry {
    return { method: TOTP, aal: 'aal2', completedAtMs: this.deps.clock.nowMs() };
  }

  // ---- login ---------------------------------------------------------------------------------------------------

  loginNodes(flow: Flow, identity: Identity | null): UiNode[] {
    if (flow.requestedAal !== 'aal2' || !identity?.credentials[TOTP]) return [];
    return [
      inputNode('totp', 'totp_code', 'text', {
        required: true,
        inputmode: 'numeric',
        autocomplete: 'one-time-code',
        label: msg.loginTotpLabel(),
      }),
      inputNode('totp', 'method', 'submit', { value: TOTP, label: msg.loginUseTotp() }),
    ];
  }

  /** The TOTP row and the lockout state, loaded with the session of an aal2 step (no statement of their own). */
  get sessionFacts(): SessionFact[] {
    return [{ name: 'totp_credential', expression: totpCredentialFact }, this.deps.secondFactorGuard.sessionFact];
  }

  async login(input: Parameters<LoginStrategy['login']>[0]): Promise<LoginResult | NotResponsible> {
    const { trx, flow, body, identity } = input;
    if (body.method !== TOTP || flow.requestedAal !== 'aal2') return NOT_RESPONSIBLE;
    const code = str(body.totp_code);
    if (!code) throw FlowValidationError.field('totp_code', msg.required('totp_code'));
    const loaded = input.facts && 'totp_credential' in input.facts ? totpRowFromFact(input.facts.totp_credential) : undefined;
    const credentialId = identity?.credentials[TOTP]?.id;
    const row = !identity || !credentialId ? null : loaded?.credentialId === credentialId ? loaded : await this.credentialOf(identity, trx);
    if (!identity || !row) throw FlowValidationError.global(msg.noTotpDevice());
    // The guard decides whether this submission may be checked at all (brute-force limits live in mfa/attempts).
    const attempt = this.attemptOf(flow, identity, TOTP, input.request);
    this.refuseIf(await this.deps.secondFactorGuard.check(trx, attempt, this.deps.secondFactorGuard.stateFromFacts(identity.id, input.facts)));
    if (!(await this.verifyStored(trx, row, code, attempt))) {
      this.refuseIf(await this.deps.secondFactorGuard.recordFailure(trx, attempt));
      throw await this.rejection(trx, row, code, { identity, flow, sessionId: input.session?.id ?? null, request: input.request });
    }
    return { identity, amr: this.amr() };
  }

  /**
   * The second factor other than TOTP (and other than backup codes, which are typed as proof instead) that this
   * session completed within `privileged_session_max_age`, or null. Such a session proved a second factor of the
   * identity just now, so it may remove the authenticator app of a lost phone.
   */
  private freshOtherSecondFactor(session: { amr: AmrEntry[] }): string | null {
    const since = this.deps.clock.nowMs() - parseDurationMs(this.deps.config.selfservice.flows.settings.privileged_session_max_age);
    const entry = session.amr.filter((e) => e.aal === 'aal2' && e.method !== TOTP && e.method !== 'lookup_secret' && e.completedAtMs >= since).at(-1);
    return entry?.method ?? null;
  }

  private attemptOf(flow: Flow, identity: Identity, method: string, request: RequestInfo): SecondFactorAttempt {
    return { flowId: flow.id, flowFailedAttempts: flow.failedAttempts, identityId: identity.id, method, request };
  }

  /** A guard's refusal becomes the flow's message (the code's verdict is never shown with it). */
  private refuseIf(refusal: GuardRefusal | null): void {
    if (refusal) throw FlowValidationError.global(refusalMessage(refusal, this.deps.clock.nowMs()));
  }

  // ---- settings ------------------------------------------------------------------------------------------------

  /**
   * The enrollment offer of a settings flow: set when the flow is rendered for an identity without TOTP and kept
   * for the flow's life (so every view of one flow shows the same secret), dropped once TOTP is enrolled.
   *
   * Kratos (`selfservice/strategy/totp/settings.go`, PopulateSettingsMethod) generates a key for every settings flow
   * and stores its `otpauth://` URL in the flow's internal context. Kairos keeps the wire format (every settings flow
   * of an identity without TOTP has `totp_qr` and `totp_secret_key`) but stores no secret until the person asks for
   * it by confirming a code: the flow holds only this offer (a 128-bit random nonce and the parameters), and the
   * secret is computed from it and `secrets.cipher` (`SecretCipher.deriveBytes`) when the nodes are sent or a code is
   * checked. The hosted UI computes it only after "Set up an authenticator app" is chosen.
   */
  private offerOf(flow: Flow, identity: Identity): TotpOffer {
    const existing = flow.internal[OFFER_KEY] as TotpOffer | undefined;
    if (existing && typeof existing.nonce === 'string') return existing;
    const offer: TotpOffer = {
      nonce: Buffer.from(this.deps.random.bytes(OFFER_NONCE_BYTES)).toString('base64url'),
      algorithm: this.config.algorithm,
      digits: this.config.digits,
      period_seconds: this.config.period,
      issuer: this.issuer,
      account_name: this.deps.identities.facts(identity).totpAccountName ?? identity.id,
    };
    flow.internal[OFFER_KEY] = offer;
    return offer;
  }

  /**
   * The secrets an offer stands for, the one to show first: one per `secrets.cipher` key (a secret shown before a
   * key rotation can still be confirmed after it). Bound to the flow and the identity, so an offer copied into
   * another flow yields another secret.
   */
  private offeredSecrets(flow: Flow, offer: TotpOffer): Uint8Array[] {
    const length = SECRET_BYTES_BY_ALGORITHM[offer.algorithm];
    if (length === undefined) throw new TypeError('TOTP algorithm must be SHA1, SHA256 or SHA512');
    return this.cipher.deriveBytes(`totp-enrollment\0${flow.id}\0${flow.identityId ?? ''}`, Buffer.from(offer.nonce, 'base64url'), length);
  }

  /** The secret(s) a code typed in this flow may be for, with the offer's parameters; null when the flow offers none. */
  private candidatesOf(flow: Flow): { secrets: Uint8Array[]; offer: Omit<TotpOffer, 'nonce'> } | null {
    // A flow stored before offers existed (or waiting for its recovery codes) holds its secret encrypted.
    const pending = flow.internal[PENDING_KEY] as PendingTotp | undefined;
    if (pending && typeof pending.secret_ciphertext === 'string') {
      return { secrets: [this.cipher.decrypt(pending.secret_ciphertext, pending.credential_id)], offer: { ...pending } };
    }
    const offer = flow.internal[OFFER_KEY] as TotpOffer | undefined;
    if (!offer || typeof offer.nonce !== 'string') return null;
    return { secrets: this.offeredSecrets(flow, offer), offer };
  }

  /** The confirmed secret becomes a pending credential: encrypted for the row it will be stored in. */
  private pendingFrom(secret: Uint8Array, offer: Omit<TotpOffer, 'nonce'>): PendingTotp {
    const credentialId = this.deps.random.uuid();
    return {
      credential_id: credentialId,
      secret_ciphertext: this.cipher.encrypt(secret, credentialId),
      algorithm: offer.algorithm,
      digits: offer.digits,
      period_seconds: offer.period_seconds,
      issuer: offer.issuer,
      account_name: offer.account_name,
    };
  }

  private pendingParameters(pending: PendingTotp): TotpParameters {
    return { algorithm: pending.algorithm, digits: pending.digits, periodSeconds: pending.period_seconds };
  }

  /** A right code was given in this flow and the enrollment waits for the recovery codes' confirmation. */
  hasVerifiedPendingEnrollment(flow: Flow): boolean {
    const pending = flow.internal[PENDING_KEY] as PendingTotp | undefined;
    return typeof pending?.verified_step === 'number';
  }

  isEnrolled(identity: Identity): boolean {
    return identity.credentials[TOTP] !== undefined;
  }

  async settingsNodes(flow: Flow, identity: Identity): Promise<UiNode[]> {
    // Waiting for the recovery codes' confirmation: the lookup_secret group carries the step.
    if (!identity.credentials[TOTP] && this.hasVerifiedPendingEnrollment(flow)) return [];
    if (identity.credentials[TOTP]) {
      // Lost phone: a backup recovery code typed into the same field proves the second factor instead.
      const withRecoveryCode = (await this.recoveryCodes?.hasUnused(identity)) ?? false;
      return [
        inputNode('totp', 'totp_code', 'text', {
          autocomplete: withRecoveryCode ? 'off' : 'one-time-code',
          ...(withRecoveryCode ? {} : { inputmode: 'numeric' }),
          label: withRecoveryCode ? secondFactorMessages.codeOrBackupCodeLabel() : msg.labelVerifyCode(),
        }),
        inputNode('totp', 'totp_unlink', 'submit', { value: 'true', required: true, label: msg.settingsUnlinkTotp() }),
      ];
    }
    this.offerOf(flow, identity);
    // Placeholders: the stored flow never holds the secret; `revealNodes` computes it when the flow is sent.
    return [
      imageNode('totp', 'totp_qr', '', QR_SIZE_PX, msg.settingsTotpQrCode()),
      textNode('totp', 'totp_secret_key', msg.settingsTotpSecret(''), msg.settingsTotpSecretLabel()),
      inputNode('totp', 'totp_code', 'text', { inputmode: 'numeric', autocomplete: 'one-time-code', label: msg.labelVerifyCode() }),
      inputNode('totp', 'method', 'submit', { value: TOTP, label: msg.labelSave() }),
    ];
  }

  /**
   * Fills the QR code and secret placeholders of a settings flow with its offered secret (engine.nodeRevealers):
   * computed here, when the flow is sent, and nowhere stored.
   */
  async revealNodes(flow: Flow, nodes: UiNode[]): Promise<UiNode[]> {
    if (flow.kind !== 'settings' || !nodes.some((n) => n.group === 'totp' && n.type !== 'input')) return nodes;
    const candidates = this.candidatesOf(flow);
    if (!candidates) return nodes;
    const [secret] = candidates.secrets;
    const offer = candidates.offer;
    const parameters: TotpParameters = { algorithm: offer.algorithm, digits: offer.digits, periodSeconds: offer.period_seconds };
    const url = buildOtpauthUrl({ issuer: offer.issuer, accountName: offer.account_name, secret: secret!, parameters });
    const qr = await renderQrPngDataUri(url, QR_SIZE_PX);
    const text = msg.settingsTotpSecret(encodeBase32(secret!));
    for (const s of candidates.secrets) s.fill(0);
    return nodes.map((node) => {
      if (node.group !== 'totp') return node;
      if (node.attributes.node_type === 'img' && node.attributes.id === 'totp_qr') {
        return { ...node, attributes: { ...node.attributes, src: qr } };
      }
      if (node.attributes.node_type === 'text' && node.attributes.id === 'totp_secret_key') {
        return { ...node, attributes: { ...node.attributes, text } };
      }
      return node;
    });
  }

  async settings(input: Parameters<SettingsStrategy['settings']>[0]): Promise<SettingsResult | NotResponsible> {
    const { body, identity, flow } = input;
    const unlink = truthy(body.totp_unlink);
    // Kratos: `totp_unlink` forces the method.
    if (body.method !== TOTP && !unlink) return NOT_RESPONSIBLE;
    input.requirePrivileged();
    const code = str(body.totp_code);
    const enrolled = identity.credentials[TOTP];

    if (enrolled) {
      if (!unlink) {
        // This flow's own pending secret lost a race against another flow's enrollment: say so instead of a
        // silent success (the person scanned a secret that will never be stored).
        if (code && (flow.internal[PENDING_KEY] || flow.internal[OFFER_KEY])) {
          delete flow.internal[PENDING_KEY];
          delete flow.internal[OFFER_KEY];
          throw FlowValidationError.global(lookupMsg.totpEnrolledElsewhere());
        }
        // Kratos treats a submission without unlink as a no-op success.
        return { outcome: 'saved' };
      }
      // Kratos #2450: unlinking without proof of the second factor lets a stolen session strip it. The proof is a
      // current TOTP code or (phone lost) one unused recovery code, both typed into `totp_code` so Kratos clients
      // need no new field: digits only are a TOTP code, anything else a recovery code. Either goes through the
      // brute-force guard. A person who lost the phone and signed in with another second factor of theirs (a
      // security key kept as a backup) within the privileged window has just proven one: no code is asked for.
      if (!code) {
        const proof = this.freshOtherSecondFactor(input.session);
        if (!proof) throw FlowValidationError.field('totp_code', msg.required('totp_code'));
        await this.deps.identities.deleteCredential(identity.id, TOTP, input.trx);
        await this.deps.audit.record(input.trx, { type: 'second_factor.removed', identityId: identity.id, sessionId: input.session.id, flowId: flow.id, actor: 'self', ipAddress: input.request.ip, userAgent: input.request.userAgent, details: { method: TOTP, proven_by: proof } });
        return { outcome: 'saved' };
      }
      const row = await this.credentialOf(identity, input.trx);
      const recoveryCode = this.recoveryCodes !== null && !/^\d+$/.test(normalizeTotpCode(code));
      const attempt = this.attemptOf(flow, identity, recoveryCode ? 'lookup_secret' : TOTP, input.request);
      this.refuseIf(await this.deps.secondFactorGuard.check(input.trx, attempt));
      const proven = recoveryCode
        ? await this.recoveryCodes!.consumeAsProof(input.trx, { identity, code, flow, sessionId: input.session.id, request: input.request, attempt })
        : row !== null && (await this.verifyStored(input.trx, row, code, attempt));
      if (!proven) {
        this.refuseIf(await this.deps.secondFactorGuard.recordFailure(input.trx, attempt));
        throw FlowValidationError.field('totp_code', recoveryCode ? msg.lookupInvalid() : msg.totpWrong());
      }
      await this.deps.identities.deleteCredential(identity.id, TOTP, input.trx);
      await this.deps.audit.record(input.trx, { type: 'second_factor.removed', identityId: identity.id, sessionId: input.session.id, flowId: flow.id, actor: 'self', ipAddress: input.request.ip, userAgent: input.request.userAgent, details: { method: TOTP } });
      return { outcome: 'saved' };
    }

    if (unlink) throw FlowValidationError.global(msg.noTotpDevice());
    if (!code) throw FlowValidationError.field('totp_code', msg.required('totp_code'));
    const candidates = this.candidatesOf(flow);
    // An identity without TOTP always has an offer in its settings flow (settingsNodes); a flow without one was
    // rendered while TOTP was enrolled.
    if (!candidates) throw FlowValidationError.global(msg.noTotpDevice());
    const offered = candidates.offer;
    const parameters: TotpParameters = { algorithm: offered.algorithm, digits: offered.digits, periodSeconds: offered.period_seconds };
    let match: TotpMatch | null = null;
    let confirmed: Uint8Array | null = null;
    for (const candidate of candidates.secrets) {
      match = this.match(candidate, parameters, code);
      if (match) {
        confirmed = candidate;
        break;
      }
    }
    if (!match || !confirmed) {
      for (const s of candidates.secrets) s.fill(0);
      throw FlowValidationError.field('totp_code', msg.totpWrong());
    }
    // The person proved they hold this secret: from now on it is stored (encrypted, in the flow until committed).
    const existing = flow.internal[PENDING_KEY] as PendingTotp | undefined;
    const pending = existing && typeof existing.secret_ciphertext === 'string' ? existing : this.pendingFrom(confirmed, offered);
    for (const s of candidates.secrets) s.fill(0);
    if (this.recoveryCodes && this.config.require_recovery_codes && (await this.recoveryCodes.required(identity, input.trx))) {
      // Nothing is stored yet: abandoning the flow now leaves no TOTP credential and no codes.
      pending.verified_step = Math.max(match.step, pending.verified_step ?? match.step);
      flow.internal[PENDING_KEY] = pending;
      delete flow.internal[OFFER_KEY];
      const messages = await this.recoveryCodes.begin(flow, identity);
      return { outcome: 'continue', messages };
    }
    await this.completeEnrollment(input.trx, { flow, identity, pending, matchedStep: match.step, sessionId: input.session.id, request: input.request });
    return { outcome: 'saved', amr: [this.amr()] };
  }

  /**
   * Commits the enrollment a right code verified earlier in this flow (see RecoveryCodesAtEnrollment), together with
   * whatever `alsoInTransaction` writes (the recovery codes), in one transaction. Returns the AMR entry to add.
   */
  async confirmPendingEnrollment(trx: Db, input: {
    flow: Flow;
    identity: Identity;
    sessionId: string;
    request: { ip: string; userAgent: string | null };
    alsoInTransaction: (trx: Db) => Promise<void>;
  }): Promise<AmrEntry> {
    const pending = input.flow.internal[PENDING_KEY] as PendingTotp | undefined;
    if (!pending || typeof pending.verified_step !== 'number') throw new TypeError('no verified TOTP enrollment in this flow');
    await this.completeEnrollment(trx, { ...input, pending, matchedStep: pending.verified_step });
    return this.amr();
  }

  /**
   * Stores the pending credential (identity_credentials row with identifiers [identity id] and config {}, plus the
   * encrypted secret) in one transaction, marks the matched step used (the enrollment code cannot log in again),
   * and removes the pending secret from the flow. Kept as one step so a later confirmation step (recovery codes)
   * can call it.
   */
  async completeEnrollment(stepTrx: Db, input: {
    flow: Flow;
    identity: Identity;
    pending: PendingTotp;
    matchedStep: number;
    sessionId: string;
    request: { ip: string; userAgent: string | null };
    alsoInTransaction?: (trx: Db) => Promise<void>;
  }): Promise<void> {
    const { flow, identity, pending } = input;
    const credential = this.deps.identities.newCredential(TOTP, {}, [identity.id]);
    credential.id = pending.credential_id;
    try {
      // A savepoint of the step's transaction: a concurrent enrollment that won makes this insert fail, and only the
      // savepoint is rolled back (the step still commits its answer, 4900202).
      await this.deps.identities.inTransaction(stepTrx, async (trx) => {
        // Insert, never replace: two flows enrolling at once must not leave the first one's secret silently deleted.
        await this.deps.identities.addCredential(identity.id, credential, trx);
        await this.repository.insert(
          {
            credentialId: credential.id,
            identityId: identity.id,
            secretCiphertext: pending.secret_ciphertext,
            parameters: this.pendingParameters(pending),
            issuer: pending.issuer,
            accountName: pending.account_name,
            lastUsedStep: input.matchedStep,
            createdAtMs: this.deps.clock.nowMs(),
          },
          trx,
        );
        await this.deps.audit.record(trx, { type: 'second_factor.enrolled', identityId: identity.id, sessionId: input.sessionId, flowId: flow.id, actor: 'self', ipAddress: input.request.ip, userAgent: input.request.userAgent, details: { method: TOTP, algorithm: pending.algorithm, digits: pending.digits, period_seconds: pending.period_seconds } });
        await testPause('totp.enrollment_written');
        if (input.alsoInTransaction) await input.alsoInTransaction(trx);
      });
    } catch (err) {
      if (err instanceof CredentialExistsError) {
        delete flow.internal[PENDING_KEY];
        delete flow.internal[OFFER_KEY];
        throw FlowValidationError.global(lookupMsg.totpEnrolledElsewhere());
      }
      throw err;
    }
    delete flow.internal[PENDING_KEY];
    delete flow.internal[OFFER_KEY];
  }
}
