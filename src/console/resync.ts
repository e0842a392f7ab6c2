/**
 * TOTP resynchronisation from two consecutive codes (privacyIDEA's and PingOne's "resync"): for a device whose clock
 * cannot be fixed (hardware tokens drift and have no clock setting), the user reads out two codes in a row; where
 * they match consecutive steps, the device's offset is recorded on the credential as the centre of its accepted
 * window (`totp_credentials.drift_steps`, RFC 6238 §6, the same column the automatic drift learning writes).
 *
 * Bound: the window's far edge stays within `selfservice.methods.totp.config.diagnostics.max_skew` (the centre moves
 * at most floor(max_skew / period) − window steps), as for learned drift. Both codes are burned: the second code's
 * step is recorded as used by the same UPDATE (unless a later step already is), so codes read out over the phone can
 * never sign in.
 */
import type { KairosConfig } from '../config/schema.js';
import { parseDurationMs } from '../config/duration.js';
import { normalizeTotpCode, scanTotpCode, timeStep } from '../otp/otp.js';
import type { TotpCredentialRow } from '../credentials/totp/repository.js';
import { sql } from 'kysely';
import type { SecretCipher } from '../crypto/secret-cipher.js';
import type { Db } from '../storage/db.js';

export type ResyncOutcome =
  | { ok: true; offsetSteps: number; offsetSeconds: number; previousDriftSteps: number; acceptedFromMs: number }
  | { ok: false; reason: 'malformed' | 'no_match' | 'beyond_bound'; boundSteps: number };

/** Steps the window's centre may move from the server's step (the bound of learned drift too). */
export function resyncBoundSteps(config: KairosConfig, periodSeconds: number): number {
  const totp = config.selfservice.methods.totp.config;
  return Math.max(0, Math.floor(parseDurationMs(totp.diagnostics.max_skew) / 1000 / periodSeconds) - totp.window);
}

/**
 * The offset (in steps from the server's current step) of the second code, when the two codes are the codes of two
 * consecutive steps anywhere within ±(bound + window + 1) steps; null when they are not.
 */
export function findConsecutiveOffset(input: { row: TotpCredentialRow; secret: Uint8Array; code1: string; code2: string; nowMs: number; searchSteps: number }): number | null {
  const { row, secret, nowMs, searchSteps } = input;
  const first = scanTotpCode({ secret, parameters: row.parameters, code: input.code1, nowMs, fromOffsetSteps: -searchSteps - 1, toOffsetSteps: searchSteps });
  const candidates = first.sort((a, b) => Math.abs(a + 1) - Math.abs(b + 1));
  for (const offset of candidates) {
    if (scanTotpCode({ secret, parameters: row.parameters, code: input.code2, nowMs, fromOffsetSteps: offset + 1, toOffsetSteps: offset + 1 }).length === 1) return offset + 1;
  }
  return null;
}

export async function resyncTotp(
  db: Db,
  input: { config: KairosConfig; cipher: Pick<SecretCipher, 'decrypt'>; row: TotpCredentialRow; code1: string; code2: string; nowMs: number },
): Promise<ResyncOutcome> {
  const { row, config } = input;
  const boundSteps = resyncBoundSteps(config, row.parameters.periodSeconds);
  const code1 = normalizeTotpCode(input.code1);
  const code2 = normalizeTotpCode(input.code2);
  const digits = row.parameters.digits;
  const wellFormed = (c: string) => c.length === digits && /^[0-9]+$/.test(c);
  if (!wellFormed(code1) || !wellFormed(code2)) return { ok: false, reason: 'malformed', boundSteps };
  const secret = input.cipher.decrypt(row.secretCiphertext, row.credentialId);
  let offset: number | null;
  try {
    // Search a little past the bound, so a device just beyond it is told so rather than "no match".
    offset = findConsecutiveOffset({ row, secret, code1, code2, nowMs: input.nowMs, searchSteps: boundSteps + config.selfservice.methods.totp.config.window + 1 });
  } finally {
    secret.fill(0);
  }
  if (offset === null) return { ok: false, reason: 'no_match', boundSteps };
  if (Math.abs(offset) > boundSteps) return { ok: false, reason: 'beyond_bound', boundSteps };
  const period = row.parameters.periodSeconds;
  const step = timeStep(input.nowMs, period) + offset;
  // One statement: the new centre, and the second code's step as used unless a later step already is (steps never
  // go back: RFC 6238 §5.2). The device's next codes are accepted once their steps pass the last used one.
  await db
    .updateTable('totp_credentials')
    .set({
      drift_steps: offset,
      recent_offsets: `${offset},${offset}`,
      last_used_step: sql<number>`case when last_used_step is null or last_used_step < ${step} then ${step} else last_used_step end`,
    })
    .where('credential_id', '=', row.credentialId)
    .execute();
  const lastUsed = Math.max(step, row.lastUsedStep ?? step);
  // The device shows step s at server time (s − offset) · period: the first step after `lastUsed`.
  const acceptedFromMs = Math.max(input.nowMs, (lastUsed + 1 - offset) * period * 1000);
  return { ok: true, offsetSteps: offset, offsetSeconds: offset * period, previousDriftSteps: row.driftSteps ?? 0, acceptedFromMs };
}

export function describeResync(outcome: ResyncOutcome, periodSeconds: number): string {
  if (outcome.ok) {
    const s = outcome.offsetSeconds;
    return `resynchronised: the device runs ${Math.abs(s)} s ${s < 0 ? 'behind' : s > 0 ? 'ahead' : 'on time'} (${outcome.offsetSteps} steps, was ${outcome.previousDriftSteps}); both codes are used up; its codes are accepted from ${new Date(outcome.acceptedFromMs).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
  }
  switch (outcome.reason) {
    case 'malformed':
      return 'not resynchronised: enter two codes of the credential\'s length, digits only';
    case 'no_match':
      return `not resynchronised: the two codes are not consecutive codes of this credential within ${(outcome.boundSteps + 1) * periodSeconds} s (ask for two new codes, read one right after the other)`;
    case 'beyond_bound':
      return `not resynchronised: the device is off by more than the configured bound (${outcome.boundSteps} steps, selfservice.methods.totp.config.diagnostics.max_skew): replace the token or re-enroll`;
  }
}
