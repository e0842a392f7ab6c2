/**
 * What the helpdesk needs about one identity's TOTP (runbook seeds/000, as data): the entry the app should show
 * (issuer and account name as enrolled, and whether the issuer changed since), the parameters, the learned drift,
 * previous secrets on file (dates only) and the last rejections with their causes. Used by
 * `GET /admin/identities/{id}/mfa` (the module's `mfaReport`) and `kairos doctor totp`. Never a secret or a code.
 */
import type { TotpCredentialRow } from '../../credentials/totp/repository.js';
import type { PreviousSecretRow, RejectionRecord } from './repository.js';

const iso = (ms: number) => new Date(ms).toISOString();

export interface TotpReport {
  credential_id: string;
  issuer: string | null;
  account_name: string;
  algorithm: string;
  digits: number;
  period_seconds: number;
  enrolled_at: string;
  current_issuer: string;
  issuer_changed: boolean;
  drift: { steps: number; seconds: number; recent_offsets_steps: number[] };
  previous_secrets: { enrolled_at: string; retired_at: string }[];
  recent_rejections: { at: string; cause: string; offset_steps: number | null; offset_seconds: number | null }[];
}

export function buildTotpReport(input: {
  row: TotpCredentialRow;
  previous: PreviousSecretRow[];
  rejections: RejectionRecord[];
  currentIssuer: string;
}): TotpReport {
  const { row } = input;
  const drift = row.driftSteps ?? 0;
  return {
    credential_id: row.credentialId,
    issuer: row.issuer,
    account_name: row.accountName,
    algorithm: row.parameters.algorithm,
    digits: row.parameters.digits,
    period_seconds: row.parameters.periodSeconds,
    enrolled_at: iso(row.createdAtMs),
    current_issuer: input.currentIssuer,
    issuer_changed: row.issuer !== null && row.issuer !== input.currentIssuer,
    drift: { steps: drift, seconds: drift * row.parameters.periodSeconds, recent_offsets_steps: row.recentOffsets ?? [] },
    previous_secrets: input.previous.map((p) => ({ enrolled_at: iso(p.enrolledAtMs), retired_at: iso(p.retiredAtMs) })),
    recent_rejections: input.rejections.map((r) => ({ at: iso(r.atMs), cause: r.cause, offset_steps: r.offsetSteps, offset_seconds: r.offsetSeconds })),
  };
}
