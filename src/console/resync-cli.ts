/**
 * `kairos doctor totp <identity> --resync <code1>,<code2> --reason <text>`: the console's resync from the command
 * line (resync.ts). Unlike the rest of `kairos doctor`, it writes: the credential's offset and used step, and an
 * `admin.action_performed` audit event with the actor `cli`. The codes are never printed or recorded.
 */
import type { KairosConfig } from '../config/schema.js';
import { openStorage } from '../storage/db.js';
import { SecretCipher } from '../crypto/secret-cipher.js';
import { cryptoRandom } from '../support/random.js';
import { systemClock } from '../support/clock.js';
import { AuditLog } from '../audit/audit-log.js';
import * as identityRepo from '../identity/repository.js';
import { TotpRepository } from '../credentials/totp/repository.js';
import { describeResync, resyncTotp } from './resync.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function resyncFromCli(config: KairosConfig, needle: string, codes: string, reason: string, atMs: number): Promise<{ code: number; text: string }> {
  const parts = codes.split(',').map((c) => c.trim());
  if (parts.length !== 2 || !parts[0] || !parts[1]) return { code: 2, text: 'kairos: --resync takes two consecutive codes separated by a comma, e.g. --resync 123456,654321\n' };
  if (!reason.trim()) return { code: 2, text: 'kairos: --resync needs --reason <text> (recorded in the audit trail)\n' };
  const storage = openStorage(config.dsn, { poolSize: 1 });
  try {
    const db = storage.db;
    let identityId: string | null = null;
    if (UUID.test(needle) && (await identityRepo.findIdentity(db, needle.toLowerCase()))) identityId = needle.toLowerCase();
    for (const candidate of new Set([needle, needle.toLowerCase()])) {
      for (const type of ['password', 'code']) identityId ??= await identityRepo.findIdentityIdByIdentifier(db, type, candidate);
    }
    if (!identityId) return { code: 1, text: `kairos: no identity matches "${needle}"\n` };
    const row = (await new TotpRepository(db).findByIdentityId(identityId))[0];
    if (!row) return { code: 1, text: 'kairos: this identity has no TOTP credential\n' };
    const outcome = await resyncTotp(db, { config, cipher: new SecretCipher(config.secrets.cipher, cryptoRandom), row, code1: parts[0], code2: parts[1], nowMs: atMs });
    await new AuditLog(db, systemClock, cryptoRandom).record(db, {
      type: 'admin.action_performed',
      identityId,
      actor: 'cli',
      details: { action: 'totp.resync', reason: reason.trim().slice(0, 1000), credential_id: row.credentialId, result: outcome.ok ? 'resynchronised' : outcome.reason, ...(outcome.ok ? { offset_steps: outcome.offsetSteps, offset_seconds: outcome.offsetSeconds, previous_drift_steps: outcome.previousDriftSteps } : {}) },
    });
    return { code: outcome.ok ? 0 : 1, text: describeResync(outcome, row.parameters.periodSeconds) + '\n' };
  } finally {
    await storage.close();
  }
}
