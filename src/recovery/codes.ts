/**
 * Admin-issued recovery codes (six digits, typed into a recovery flow) and admin recovery link tokens. Codes sent by
 * email are the one-time code primitive (credentials/code/); these have no address and are issued by an actor.
 *
 * - Stored only as HMAC-SHA256 under `secrets.default` of "<flow id>:<code>" (DESIGN §4): a code is bound to the
 *   flow it was issued for, so a code read from one mail cannot be used in another flow.
 * - Single use: `consume` is one conditional UPDATE (`used_at IS NULL AND expires_at > now`) checked by its row
 *   count, so two concurrent submissions of the same code cannot both succeed, on any number of instances.
 * - Issuing a new code for a flow voids the flow's earlier ones (a resend makes the old mail useless).
 */
import type { Deps } from '../deps.js';
import type { Db } from '../identity/repository.js';
import { keyedHash } from '../support/crypto.js';
import { randomString } from '../support/random.js';

/** Kratos's recovery code length (`selfservice/strategy/code`, `CodeLength = 6`). */
export const RECOVERY_CODE_DIGITS = 6;
/** Admin recovery link tokens: 32 base62 characters ≈ 190 bits (Copenhagen Book: ≥ 112 bits). */
const LINK_TOKEN_CHARS = 32;

type CodeDeps = Pick<Deps, 'db' | 'clock' | 'random' | 'config'>;

export class RecoveryCodes {
  constructor(private readonly deps: CodeDeps) {}

  private hashes(flowId: string, code: string): string[] {
    return this.deps.config.secrets.default.map((secret) => keyedHash(secret, `${flowId}:${code}`));
  }

  /** Issues a code (`kind: code`) or link token (`kind: link`) for the flow; returns the plain value to send once. */
  async issue(
    input: { identityId: string; flowId: string; kind: 'code' | 'link'; expiresAtMs: number; address: string | null; issuedBy: string },
    db: Db = this.deps.db,
  ): Promise<string> {
    const now = this.deps.clock.nowMs();
    const value = input.kind === 'code' ? randomString(this.deps.random, RECOVERY_CODE_DIGITS, '0123456789') : randomString(this.deps.random, LINK_TOKEN_CHARS);
    await db.updateTable('recovery_codes').set({ used_at: now }).where('flow_id', '=', input.flowId).where('used_at', 'is', null).execute();
    await db
      .insertInto('recovery_codes')
      .values({
        id: this.deps.random.uuid(),
        identity_id: input.identityId,
        flow_id: input.flowId,
        kind: input.kind,
        code_hash: this.hashes(input.flowId, value)[0]!,
        address: input.address,
        issued_by: input.issuedBy,
        expires_at: input.expiresAtMs,
        used_at: null,
        created_at: now,
      })
      .execute();
    return value;
  }

  /** Uses the code once: the identity it was issued for, or null (wrong, used, expired or another flow's). */
  async consume(flowId: string, kind: 'code' | 'link', value: string): Promise<{ identityId: string; issuedBy: string } | null> {
    if (value.length === 0 || value.length > 64) return null;
    const now = this.deps.clock.nowMs();
    const row = await this.deps.db
      .updateTable('recovery_codes')
      .set({ used_at: now })
      .where('flow_id', '=', flowId)
      .where('kind', '=', kind)
      .where('code_hash', 'in', this.hashes(flowId, value))
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .returning(['identity_id', 'issued_by'])
      .executeTakeFirst();
    return row ? { identityId: row.identity_id, issuedBy: row.issued_by } : null;
  }
}
