/**
 * Runs the diagnosis of a rejected TOTP code and reports it everywhere the runbook looks: a hint in the flow
 * (unless `diagnostics.user_hints` is false), one structured log line `totp code does not match`, a Prometheus
 * counter by cause, and an audit event `second_factor.rejected`. It also learns from accepted codes: the credential's
 * drift (RFC 6238 §6) and the population estimate of the server's own clock error.
 *
 * Only the TOTP strategy calls this, and only after the second-factor guard has taken an attempt slot for the
 * submission, so a diagnosis is rate-limited exactly like the wrong code it explains.
 */
import type { Logger } from 'pino';
import type { Deps } from '../../deps.js';
import type { SecretCipher } from '../../crypto/secret-cipher.js';
import type { Db } from '../../identity/repository.js';
import { parseDurationMs } from '../../config/duration.js';
import { timeStep } from '../../otp/otp.js';
import type { TotpCredentialRow } from '../../credentials/totp/repository.js';
import type { UiText } from '../../ui/messages.js';
import { PopulationDriftEstimator, type PopulationDriftEstimate } from '../clock/population-drift.js';
import { diagnoseRejectedCode, describeDeviceOffset, type Diagnosis, type PreviousSecret } from './diagnose.js';
import { DiagnosisRepository, previousSecretAad, type PreviousSecretRow, type RejectionRecord } from './repository.js';
import { formatOffsets, nextDrift } from './drift.js';
import { hintFor } from './messages.js';

type DiagnosticsDeps = Pick<Deps, 'config' | 'db' | 'clock' | 'logger' | 'metrics' | 'audit' | 'random'>;

/** Future steps remembered per credential as refused (a skew diagnosis revealed their code). */
const REFUSED_STEPS_KEPT = 8;
/** Rejections shown by the admin MFA view and `kairos doctor`. */
export const RECENT_REJECTIONS = 10;

export const LOG_MESSAGE = 'totp code does not match';

export interface RejectionContext {
  identityId: string;
  flowId: string | null;
  sessionId?: string | null;
  ipAddress?: string | null;
  userAgent?: string | null;
}

export interface ReportedRejection {
  diagnosis: Diagnosis | null;
  /** The hint for the flow, or null when hints are off (or the diagnosis is disabled). */
  hint: UiText | null;
}

export class TotpDiagnostics {
  readonly repository: DiagnosisRepository;
  readonly population: PopulationDriftEstimator;
  private readonly rejections;
  private readonly populationGauge;
  private readonly populationIdentitiesGauge;
  private lastWarnedOffsetSeconds: number | null = null;

  constructor(
    private readonly deps: DiagnosticsDeps,
    private readonly cipher: SecretCipher,
  ) {
    this.repository = new DiagnosisRepository(deps.db);
    this.population = new PopulationDriftEstimator();
    this.rejections = deps.metrics.counter('kairos_totp_rejections_total', 'Rejected TOTP codes by diagnosed cause', ['cause']);
    this.populationGauge = deps.metrics.gauge(
      'kairos_totp_population_offset_seconds',
      'Median offset of recent TOTP codes across identities (positive: codes from the future, i.e. the server clock is behind)',
    );
    this.populationIdentitiesGauge = deps.metrics.gauge('kairos_totp_population_identities', 'Distinct identities in the TOTP population drift window');
  }

  private get config() {
    return this.deps.config.selfservice.methods.totp.config;
  }

  get enabled(): boolean {
    return this.config.diagnostics.enabled;
  }

  get maxSkewSeconds(): number {
    return Math.floor(parseDurationMs(this.config.diagnostics.max_skew) / 1000);
  }

  get retentionMs(): number {
    return parseDurationMs(this.config.diagnostics.previous_secret_retention);
  }

  get currentIssuer(): string {
    return this.config.issuer ?? new URL(this.deps.config.serve.public.base_url).hostname;
  }

  /** Loads recent samples so a restarted instance (or another one) starts with the population's state. */
  async restore(): Promise<void> {
    const nowMs = this.deps.clock.nowMs();
    this.population.restore(await this.repository.samplesSince(nowMs - this.population.windowMs));
    this.updatePopulation(nowMs);
  }

  // ---- previous secrets -----------------------------------------------------------------------------------------

  /**
   * Keeps the secret of a TOTP credential that is being removed or replaced (call inside the deleting transaction,
   * before the row goes). Re-encrypted under additional data bound to its new row, so it can never be moved back
   * into `totp_credentials` and decrypt there. Kept for `diagnostics.previous_secret_retention`, then removed by the
   * maintenance job (`purgeExpired`); reads never see a secret past its retention.
   */
  async retire(row: TotpCredentialRow, trx: Db): Promise<void> {
    const nowMs = this.deps.clock.nowMs();
    const secret = this.cipher.decrypt(row.secretCiphertext, row.credentialId);
    await this.repository.insertPreviousSecret(
      {
        id: row.credentialId,
        identityId: row.identityId,
        secretCiphertext: this.cipher.encrypt(secret, previousSecretAad(row.credentialId)),
        parameters: row.parameters,
        issuer: row.issuer,
        accountName: row.accountName,
        enrolledAtMs: row.createdAtMs,
        retiredAtMs: nowMs,
      },
      trx,
    );
    secret.fill(0);
  }

  // ---- rejected codes -------------------------------------------------------------------------------------------

  /** The diagnosis alone (no reporting, no writes); `kairos doctor totp --code` and the reporting path use it. */
  async diagnose(row: TotpCredentialRow, code: string, nowMs = this.deps.clock.nowMs(), db: Db = this.deps.db): Promise<Diagnosis> {
    const previousRows = await this.repository.previousSecrets(row.identityId, this.deps.clock.nowMs() - this.retentionMs, db);
    return diagnoseStoredCode({ row, previousRows, code, nowMs, cipher: this.cipher, windowSteps: this.config.window, maxSkewSeconds: this.maxSkewSeconds });
  }

  /** Diagnoses a rejected code and reports it (log, metric, audit event, population); returns the hint for the flow. */
  async reportRejection(trx: Db, row: TotpCredentialRow, normalizedCode: string, context: RejectionContext): Promise<ReportedRejection> {
    const nowMs = this.deps.clock.nowMs();
    let diagnosis: Diagnosis | null = null;
    if (this.enabled) {
      try {
        diagnosis = await this.diagnose(row, normalizedCode, nowMs, trx);
      } catch (err) {
        this.deps.logger.error({ err: (err as Error).message, credential_id: row.credentialId }, 'totp rejection diagnosis failed');
      }
    }
    const cause = diagnosis?.cause ?? 'not_diagnosed';
    const fields = {
      cause,
      offset_steps: diagnosis?.offsetSteps ?? null,
      offset_seconds: diagnosis?.offsetSeconds ?? null,
      identity_id: context.identityId,
      credential_id: row.credentialId,
      flow_id: context.flowId,
    };
    this.deps.logger.info(
      diagnosis?.cause === 'clock_skew' ? { ...fields, device_clock: describeDeviceOffset(diagnosis.offsetSeconds!) } : fields,
      LOG_MESSAGE,
    );
    this.rejections.inc({ cause });
    await this.deps.audit.record(trx, {
      type: 'second_factor.rejected',
      identityId: context.identityId,
      flowId: context.flowId,
      sessionId: context.sessionId ?? null,
      actor: 'self',
      ipAddress: context.ipAddress ?? null,
      userAgent: context.userAgent ?? null,
      details: { method: 'totp', cause, offset_steps: fields.offset_steps, offset_seconds: fields.offset_seconds, credential_id: row.credentialId },
    });
    if (diagnosis?.cause === 'clock_skew') {
      await this.refuseRevealedFutureStep(trx, row, diagnosis, nowMs);
      const sample = { identityId: row.identityId, offsetSteps: diagnosis.offsetSteps!, periodSeconds: row.parameters.periodSeconds, atMs: nowMs };
      await this.repository.upsertSample(sample, trx);
      this.observe(sample.identityId, sample.offsetSteps, sample.periodSeconds, nowMs);
    }
    const hint =
      diagnosis && this.config.diagnostics.user_hints
        ? hintFor({ diagnosis, issuer: row.issuer, accountName: row.accountName, parameters: row.parameters, currentIssuer: this.currentIssuer })
        : null;
    return { diagnosis, hint };
  }

  /**
   * A skew diagnosis of a code from the FUTURE tells its sender that this exact code becomes valid in k steps. A
   * guesser could wait and resubmit it; so that step is refused for good. A real user never needs it: by then the
   * device shows a later code.
   */
  private async refuseRevealedFutureStep(trx: Db, row: TotpCredentialRow, diagnosis: Diagnosis, nowMs: number): Promise<void> {
    const currentStep = timeStep(nowMs, row.parameters.periodSeconds);
    const step = diagnosis.matchedStep;
    if (step === undefined || step <= currentStep) return;
    const refused = [...(row.refusedSteps ?? []).filter((s) => s > currentStep - this.config.window - 1 && s !== step), step].slice(-REFUSED_STEPS_KEPT);
    await this.repository.saveRefusedSteps(trx, row.credentialId, formatOffsets(refused));
  }

  // ---- accepted codes -------------------------------------------------------------------------------------------

  /**
   * The credential's drift after accepting a code at `offsetSteps` (RFC 6238 §6), to be written by the same
   * conditional UPDATE that consumes the code (credentials/totp/repository.ts `consumeStep`).
   */
  driftAfter(row: TotpCredentialRow, offsetSteps: number): { driftSteps: number; recentOffsets: string } {
    const maxCentreSteps = Math.floor(this.maxSkewSeconds / row.parameters.periodSeconds) - this.config.window;
    const update = nextDrift({ recentOffsets: row.recentOffsets ?? [], driftSteps: row.driftSteps ?? 0, offsetSteps, maxCentreSteps });
    return { driftSteps: update.driftSteps, recentOffsets: formatOffsets(update.recentOffsets) };
  }

  /** After an accepted code was consumed with its drift: the log line and the population estimate. */
  async acceptedWith(trx: Db, row: TotpCredentialRow, offsetSteps: number, drift: { driftSteps: number }): Promise<void> {
    const nowMs = this.deps.clock.nowMs();
    if (drift.driftSteps !== (row.driftSteps ?? 0)) {
      this.deps.logger.info(
        { credential_id: row.credentialId, identity_id: row.identityId, drift_steps: drift.driftSteps, drift_seconds: drift.driftSteps * row.parameters.periodSeconds },
        'totp window re-centred on the device clock drift',
      );
    }
    // Persisted already: the consuming statement stored the offset on the credential (repository.ts samplesSince).
    this.observe(row.identityId, offsetSteps, row.parameters.periodSeconds, nowMs);
  }

  /** Deletes previous secrets past their retention (the maintenance job's task, credentials/totp/module.ts). */
  async purgeExpired(): Promise<number> {
    return this.repository.purgePreviousSecrets(this.deps.clock.nowMs() - this.retentionMs);
  }

  // ---- population ------------------------------------------------------------------------------------------------

  /** Counts a sample in this instance's population estimate (persisted by the caller, for other instances). */
  private observe(identityId: string, offsetSteps: number, periodSeconds: number, nowMs: number): void {
    this.population.record({ identityId, offsetSteps, periodSeconds, atMs: nowMs });
    this.updatePopulation(nowMs);
  }

  private updatePopulation(nowMs: number): PopulationDriftEstimate {
    const estimate = this.population.estimate(nowMs);
    this.populationGauge.set(estimate.medianOffsetSeconds);
    this.populationIdentitiesGauge.set(estimate.identities);
    const suspect = estimate.suspectServerOffsetSeconds;
    if (suspect === null) {
      this.lastWarnedOffsetSeconds = null;
    } else if (this.lastWarnedOffsetSeconds !== suspect) {
      this.lastWarnedOffsetSeconds = suspect;
      warnServerClock(this.deps.logger, estimate);
    }
    return estimate;
  }

  /** For /health/ready details (never fails readiness). */
  health(): Record<string, unknown> {
    const estimate = this.updatePopulation(this.deps.clock.nowMs());
    return populationDetails(estimate, this.population.minIdentities);
  }

  recentRejections(identityId: string): Promise<RejectionRecord[]> {
    return this.repository.recentRejections(identityId, RECENT_REJECTIONS);
  }
}

/** The diagnosis of `code` for a stored credential and its stored previous secrets (decrypted here, never returned). */
export function diagnoseStoredCode(input: {
  row: TotpCredentialRow;
  previousRows: PreviousSecretRow[];
  code: string;
  nowMs: number;
  cipher: Pick<SecretCipher, 'decrypt'>;
  windowSteps: number;
  maxSkewSeconds: number;
}): Diagnosis {
  const { row, cipher } = input;
  const secret = cipher.decrypt(row.secretCiphertext, row.credentialId);
  const previous: PreviousSecret[] = [];
  for (const p of input.previousRows) {
    try {
      previous.push({ secret: cipher.decrypt(p.secretCiphertext, previousSecretAad(p.id)), parameters: p.parameters, enrolledAtMs: p.enrolledAtMs, retiredAtMs: p.retiredAtMs, issuer: p.issuer, accountName: p.accountName });
    } catch {
      // An undecryptable row (its key removed from secrets.cipher) cannot help a diagnosis; skip it.
    }
  }
  try {
    return diagnoseRejectedCode({
      code: input.code,
      nowMs: input.nowMs,
      current: { secret, parameters: row.parameters, lastUsedStep: row.lastUsedStep, driftSteps: row.driftSteps ?? 0, refusedSteps: row.refusedSteps ?? [] },
      windowSteps: input.windowSteps,
      maxSkewSeconds: input.maxSkewSeconds,
      previous,
    });
  } finally {
    secret.fill(0);
    for (const p of previous) p.secret.fill(0);
  }
}

export function populationDetails(estimate: PopulationDriftEstimate, minIdentities: number): Record<string, unknown> {
  const suspect = estimate.suspectServerOffsetSeconds;
  return {
    status: suspect === null ? 'ok' : 'suspect',
    identities: estimate.identities,
    min_identities: minIdentities,
    median_offset_seconds: estimate.medianOffsetSeconds,
    estimated_server_offset_seconds: suspect,
    ...(suspect === null ? {} : { message: serverClockMessage(suspect, estimate.identities) }),
  };
}

export function serverClockMessage(suspectSeconds: number, identities: number): string {
  const direction = suspectSeconds > 0 ? 'behind' : 'ahead of';
  return `TOTP codes of ${identities} identities are consistently ${Math.abs(suspectSeconds)} s ${suspectSeconds > 0 ? 'from the future' : 'from the past'}: the server clock is probably about ${Math.abs(suspectSeconds)} s ${direction} real time (check NTP: timedatectl status)`;
}

function warnServerClock(logger: Logger, estimate: PopulationDriftEstimate): void {
  const suspect = estimate.suspectServerOffsetSeconds!;
  logger.warn(
    { estimated_server_offset_seconds: suspect, identities: estimate.identities, median_offset_seconds: estimate.medianOffsetSeconds },
    serverClockMessage(suspect, estimate.identities),
  );
}
