/**
 * `kairos doctor`: the runbook "user insists the code is correct, the server says invalid" (seeds/000) as a command.
 * - `doctor clock`: this server's time, its NTP offset (SNTP, RFC 4330) and the population estimate from TOTP users;
 * - `doctor totp <identity id | identifier>`: what the user's authenticator entry should look like, the parameters,
 *   drift, previous secrets (dates only), lockout state, the last rejections with causes, and with `--code` the
 *   diagnosis of one code (at `--at`, default now).
 * Works against the database from the config and only reads: SQLite is opened read-only, PostgreSQL sessions are
 * `default_transaction_read_only`. Nothing here prints a secret.
 */
import type { KairosConfig } from '../config/schema.js';
import { parseDurationMs } from '../config/duration.js';
import { openStorage, type Storage } from '../storage/db.js';
import { SecretCipher } from '../crypto/secret-cipher.js';
import { cryptoRandom } from '../support/random.js';
import { systemClock } from '../support/clock.js';
import * as identityRepo from '../identity/repository.js';
import { TotpRepository } from '../credentials/totp/repository.js';
import { normalizeTotpCode } from '../otp/otp.js';
import { DiagnosisRepository } from '../mfa/diagnosis/repository.js';
import { buildTotpReport, type TotpReport } from '../mfa/diagnosis/report.js';
import { diagnoseStoredCode, populationDetails, RECENT_REJECTIONS } from '../mfa/diagnosis/totp-diagnostics.js';
import { describeDeviceOffset, type Diagnosis } from '../mfa/diagnosis/diagnose.js';
import { PopulationDriftEstimator } from '../mfa/clock/population-drift.js';
import { LockoutRepository } from '../mfa/attempts/lockout-repository.js';
import { lockoutReport, scheduleFromConfig, type LockoutReport } from '../mfa/attempts/second-factor-guard.js';
import { ServerClockMonitor, CLOCK_FIX_HINT } from '../mfa/clock/clock-monitor.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const iso = (ms: number) => new Date(ms).toISOString();

export interface TotpDoctorReport {
  identity: { id: string; state: string };
  totp: TotpReport | null;
  /** The identity's second-factor lockout, or "unknown" when the database has no lockout table. */
  lockout: LockoutSummary | 'unknown';
  diagnosis?: (Omit<Diagnosis, 'matchedStep' | 'previousSecret'> & { at: string; summary: string; previous_secret?: { enrolled_at: string; retired_at: string } }) | null;
}

/** `--at`: ISO 8601 or Unix seconds. */
export function parseAt(value: string | undefined, nowMs: number): number {
  if (value === undefined) return nowMs;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new Error(`--at: "${value}" is not an ISO 8601 time or Unix seconds`);
  return ms;
}

async function findIdentityId(storage: Storage, needle: string): Promise<string | null> {
  const db = storage.db;
  if (UUID.test(needle) && (await identityRepo.findIdentity(db, needle.toLowerCase()))) return needle.toLowerCase();
  for (const candidate of new Set([needle, needle.toLowerCase()])) {
    for (const type of ['password', 'code']) {
      const id = await identityRepo.findIdentityIdByIdentifier(db, type, candidate);
      if (id) return id;
    }
    const byAccount = await db.selectFrom('totp_credentials').select('identity_id').where('account_name', '=', candidate).executeTakeFirst();
    if (byAccount) return byAccount.identity_id;
  }
  return null;
}

/** The `lockout` section, as `GET /admin/identities/{id}/mfa` shows it. */
export type LockoutSummary = LockoutReport;

/** The identity's second-factor lockout (table `mfa_lockouts`, owned by mfa/attempts), as the admin API shows it. */
async function lockoutState(storage: Storage, config: KairosConfig, identityId: string, nowMs: number): Promise<LockoutSummary | 'unknown'> {
  let state;
  try {
    state = await new LockoutRepository(storage.db).get(identityId);
  } catch {
    return 'unknown'; // a database without the lockout table
  }
  return lockoutReport(state, scheduleFromConfig(config), nowMs);
}

function summarize(d: Diagnosis): string {
  switch (d.cause) {
    case 'malformed':
      return d.malformed === 'not_digits' ? 'malformed: not only digits' : `malformed: ${d.actualLength} characters, the credential has ${d.expectedDigits} digits`;
    case 'replayed':
      return `replayed: the code of an already used time step (offset ${d.offsetSteps} steps)`;
    case 'clock_skew':
      return `clock_skew: the device clock is ${describeDeviceOffset(d.offsetSeconds!)} (${d.offsetSteps} steps, ${d.offsetSeconds} s)`;
    case 'previous_secret':
      return `previous_secret: the code is from the old entry enrolled ${iso(d.previousSecret!.enrolledAtMs)}, removed ${iso(d.previousSecret!.retiredAtMs)}: delete the old entry`;
    case 'parameter_mismatch': {
      const p = d.detectedParameters!;
      return `parameter_mismatch: the app generates ${p.algorithm}, ${p.digits} digits, ${p.periodSeconds} s codes`;
    }
    case 'no_match':
      return 'no_match: wrong entry in the app, or a badly scanned secret (re-enroll)';
  }
}

export async function doctorTotp(config: KairosConfig, needle: string, options: { code?: string; atMs?: number; nowMs?: number }): Promise<TotpDoctorReport | null> {
  const storage = openStorage(config.dsn, { readOnly: true, poolSize: 1 });
  try {
    const nowMs = options.nowMs ?? systemClock.nowMs();
    const identityId = await findIdentityId(storage, needle);
    if (!identityId) return null;
    const identity = (await identityRepo.findIdentity(storage.db, identityId))!;
    const totpConfig = config.selfservice.methods.totp.config;
    const retentionMs = parseDurationMs(totpConfig.diagnostics.previous_secret_retention);
    const diagnosisRepo = new DiagnosisRepository(storage.db);
    const credential = identity.credentials.totp;
    const row = credential ? await new TotpRepository(storage.db).findByCredentialId(credential.id) : null;
    const previous = await diagnosisRepo.previousSecrets(identityId, nowMs - retentionMs);
    const rejections = await diagnosisRepo.recentRejections(identityId, RECENT_REJECTIONS);
    const currentIssuer = totpConfig.issuer ?? new URL(config.serve.public.base_url).hostname;
    const report: TotpDoctorReport = {
      identity: { id: identity.id, state: identity.state },
      totp: row ? buildTotpReport({ row, previous, rejections, currentIssuer }) : null,
      lockout: await lockoutState(storage, config, identityId, nowMs),
    };
    if (options.code !== undefined) {
      if (!row) report.diagnosis = null;
      else {
        const atMs = options.atMs ?? nowMs;
        const d = diagnoseStoredCode({
          row,
          previousRows: previous,
          code: normalizeTotpCode(options.code),
          nowMs: atMs,
          cipher: new SecretCipher(config.secrets.cipher, cryptoRandom),
          windowSteps: totpConfig.window,
          maxSkewSeconds: Math.floor(parseDurationMs(totpConfig.diagnostics.max_skew) / 1000),
        });
        const { matchedStep: _step, previousSecret, ...rest } = d;
        report.diagnosis = {
          ...rest,
          at: iso(atMs),
          summary: summarize(d),
          ...(previousSecret ? { previous_secret: { enrolled_at: iso(previousSecret.enrolledAtMs), retired_at: iso(previousSecret.retiredAtMs) } } : {}),
        };
      }
    }
    return report;
  } finally {
    await storage.close();
  }
}

/** Human-readable; the code itself is not echoed. */
export function formatTotpReport(report: TotpDoctorReport): string {
  const lines: string[] = [`identity       ${report.identity.id} (${report.identity.state})`];
  const t = report.totp;
  if (!t) lines.push('totp           no TOTP credential');
  else {
    lines.push(
      `entry          "${t.issuer ? `${t.issuer} (${t.account_name})` : t.account_name}" (issuer label "${t.issuer ?? ''}", account name "${t.account_name}")`,
      `issuer changed ${t.issuer_changed ? `yes: enrolled as "${t.issuer}", now "${t.current_issuer}" (the app shows the old label)` : 'no'}`,
      `parameters     ${t.algorithm}, ${t.digits} digits, ${t.period_seconds} s period`,
      `enrolled at    ${t.enrolled_at}`,
      `drift          ${t.drift.steps >= 0 ? '+' : ''}${t.drift.steps} steps (${t.drift.seconds} s); recent accepted offsets: ${t.drift.recent_offsets_steps.join(', ') || 'none'}`,
    );
    lines.push(`previous       ${t.previous_secrets.length === 0 ? 'none on file' : t.previous_secrets.map((p) => `enrolled ${p.enrolled_at}, removed ${p.retired_at}`).join('\n               ')}`);
  }
  const l = report.lockout;
  lines.push(
    `lockout        ${
      l === 'unknown'
        ? 'unknown'
        : `${l.state}, ${l.consecutive_failures} consecutive failures (hard lock at ${l.max_consecutive_failures})${l.retry_at ? `, retry at ${l.retry_at}` : ''}${l.locked_at ? `, locked at ${l.locked_at}` : ''}`
    }`,
  );
  const rejections = t?.recent_rejections ?? [];
  lines.push(`rejections     ${rejections.length === 0 ? 'none' : rejections.map((r) => `${r.at}  ${r.cause}${r.offset_steps === null ? '' : ` (${r.offset_steps} steps, ${r.offset_seconds} s)`}`).join('\n               ')}`);
  if (report.diagnosis !== undefined) {
    lines.push('code           ' + (report.diagnosis ? `at ${report.diagnosis.at}: ${report.diagnosis.summary}` : 'cannot be diagnosed: no TOTP credential'));
  }
  return lines.join('\n') + '\n';
}

export interface ClockDoctorReport {
  server_time: string;
  ntp: Record<string, unknown>;
  population: Record<string, unknown>;
}

export async function doctorClock(config: KairosConfig): Promise<ClockDoctorReport> {
  const ntpConfig = config.clock.ntp;
  const monitor = new ServerClockMonitor({
    servers: ntpConfig.servers,
    intervalMs: parseDurationMs(ntpConfig.interval),
    warnThresholdMs: parseDurationMs(ntpConfig.warn_threshold),
    timeoutMs: parseDurationMs(ntpConfig.timeout),
    clock: systemClock,
    logger: { info: () => {}, warn: () => {} },
  });
  const snapshot = await monitor.checkNow();
  const storage = openStorage(config.dsn, { readOnly: true, poolSize: 1 });
  try {
    const nowMs = systemClock.nowMs();
    const estimator = new PopulationDriftEstimator();
    estimator.restore(await new DiagnosisRepository(storage.db).samplesSince(nowMs - estimator.windowMs));
    return {
      server_time: iso(nowMs),
      ntp: { ...snapshot },
      population: populationDetails(estimator.estimate(nowMs), estimator.minIdentities),
    };
  } finally {
    await storage.close();
  }
}

export function formatClockReport(report: ClockDoctorReport): string {
  const ntp = report.ntp as { status: string; lastOffsetMs: number | null; lastServer: string | null; lastError: string | null; warnThresholdMs: number };
  const p = report.population as { status: string; identities: number; min_identities: number; median_offset_seconds: number; message?: string };
  const ntpLine =
    ntp.status === 'disabled'
      ? 'not configured (clock.ntp.servers is empty)'
      : ntp.lastOffsetMs === null
        ? `unreachable: ${ntp.lastError}`
        : `${(ntp.lastOffsetMs / 1000).toFixed(3)} s (${ntp.lastOffsetMs > 0 ? 'server behind' : 'server ahead'}) from ${ntp.lastServer}: ${ntp.status}${ntp.status === 'skewed' ? ` — ${CLOCK_FIX_HINT}` : ''}`;
  return [
    `server time    ${report.server_time}`,
    `ntp offset     ${ntpLine}`,
    `population     ${p.identities} identities (need ${p.min_identities}), median TOTP offset ${p.median_offset_seconds} s: ${p.message ?? p.status}`,
  ].join('\n') + '\n';
}
