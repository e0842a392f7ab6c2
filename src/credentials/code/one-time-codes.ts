/**
 * One-time email codes for the `code` method (verification now; recovery reuses it): six random digits, sent by
 * email, valid for one flow.
 *
 * - At rest only a keyed hash: HMAC-SHA256 under `secrets.default` (the first key hashes, every key verifies, so
 *   rotation keeps pending codes valid), over a domain tag, the purpose, the row id and the code. A database reader
 *   without the key cannot test guesses.
 * - Expiry: `expiresAtMs`, decided by the caller (the flow's and the method's lifespans).
 * - Attempts: each check takes one attempt with a conditional UPDATE (`attempts < max_attempts`) before the code
 *   is compared, so concurrent guesses cannot exceed the budget; a code with no attempts left is dead.
 * - Single use: success is a second conditional UPDATE (`used_at IS NULL`) checked by its row count.
 * - One open code per flow and purpose: issuing a new one revokes the earlier ones.
 * - Mail quotas (issue 14, findings 1 and 2). Per address and purpose, at most MAX_CODES_PER_ADDRESS codes per
 *   ISSUE_WINDOW_MS, which bounds the guesses against one address to MAX_CODES_PER_ADDRESS × MAX_ATTEMPTS_PER_CODE
 *   per window. Of those, OWNER_RESERVE_PER_ADDRESS are kept for the address's owner: requests from other clients
 *   stop at MAX_CODES_PER_ADDRESS − OWNER_RESERVE_PER_ADDRESS, so someone asking for codes for a victim's address,
 *   from any number of IPs, can never use up the codes the owner's own request needs. Each requesting client (IP) is
 *   also limited to MAX_CODES_PER_CLIENT codes per window across all addresses (mail bombing). The owner is a request
 *   that carries a session of the identity, or that comes from an IP the identity signed in or registered from
 *   within OWNER_CLIENT_MEMORY_MS (audit trail). Callers never show a throttle: the answer is the same, only no mail
 *   goes out.
 * - The quotas are counted and the code inserted under a lock on the address (and, when the client's quota applies,
 *   on the client) held until the step commits (`Storage.lockUntilCommit`), so parallel requests on any number of
 *   instances are decided one after the other: never more than the quota, whatever the timing. Lock order: the
 *   address, then the client (a step that issues to several addresses does so only for the owner, which takes no
 *   client lock), after the flow row (storage/unit-of-work.ts).
 */
import type { Deps } from '../../deps.js';
import type { Db } from '../../identity/repository.js';
import { affectedRows } from '../../storage/db.js';
import { constantTimeEqual, keyedHash } from '../../support/crypto.js';
import { randomString } from '../../support/random.js';

/** Kratos `selfservice/strategy/code`: `CodeLength = 6`. */
export const CODE_DIGITS = 6;
/** Wrong submissions one code survives (Kratos allows 5 per code; NIST SP 800-63B §5.2.2 asks for a limit). */
export const MAX_ATTEMPTS_PER_CODE = 5;
/** Codes one address may be sent per window and purpose (Kairos). 5 × 5 guesses per hour against 10^6 codes. */
export const MAX_CODES_PER_ADDRESS = 5;
/** Of MAX_CODES_PER_ADDRESS, how many only the owner's own requests may use (Kairos). */
export const OWNER_RESERVE_PER_ADDRESS = 2;
/** Codes one client (IP) may request per window, across addresses and purposes (Kairos). */
export const MAX_CODES_PER_CLIENT = 20;
export const ISSUE_WINDOW_MS = 60 * 60 * 1000;
/** How long a client IP the identity signed in from counts as the owner's (Kairos: one month). */
export const OWNER_CLIENT_MEMORY_MS = 30 * 24 * 60 * 60 * 1000;
/** Audit events that show an identity's owner at an IP. */
const OWNER_EVIDENCE_EVENTS = ['login.succeeded', 'registration.succeeded'] as const;
/** Stands in for "no identity" so the owner lookup costs the same for unknown addresses (no timing oracle). */
const NO_IDENTITY = '00000000-0000-0000-0000-000000000000';

/**
 * Who asks for a code: the client's IP (null for codes sent without a request) and the identity of the session the
 * request carries, if any.
 */
export interface CodeRequester {
  ip: string | null;
  sessionIdentityId: string | null;
}

const HASH_DOMAIN = 'kairos/one-time-code/v1';

export interface IssuedCode {
  id: string;
  /** The code to put in the email; it is not stored anywhere. */
  code: string;
  expiresAtMs: number;
}

export interface StoredCode {
  id: string;
  purpose: string;
  flowId: string;
  identityId: string | null;
  address: string;
  expiresAtMs: number;
}

export type CodeCheck =
  | { ok: true; code: StoredCode }
  /**
   * Why it failed (for logs, metrics and audit details; the user sees one message for all of them so a guess
   * learns nothing): `invalid` wrong code, `expired`, `used` already used or replaced, `exhausted` no attempts
   * left, `none` no code was issued for this flow.
   */
  | { ok: false; reason: 'invalid' | 'expired' | 'used' | 'exhausted' | 'none' };

/** Too many codes were sent to this address recently. */
export class CodeThrottledError extends Error {
  constructor(readonly retryAfterMs: number) {
    super('too many codes for this address');
  }
}

type CodeDeps = Pick<Deps, 'db' | 'clock' | 'random' | 'config'> & { storage: Pick<Deps['storage'], 'lockUntilCommit'> };

/** Digits only; spaces and dashes people type are dropped. */
export function normalizeCode(input: unknown): string {
  return typeof input === 'string' ? input.replace(/[\s-]/g, '') : '';
}

export class OneTimeCodes {
  constructor(private readonly deps: CodeDeps) {}

  private get keys(): string[] {
    return this.deps.config.secrets.default;
  }

  private hash(key: string, purpose: string, id: string, code: string): string {
    return keyedHash(key, `${HASH_DOMAIN}\0${purpose}\0${id}\0${code}`);
  }

  private matches(row: { purpose: string; id: string; code_hash: string }, code: string): boolean {
    let match = false;
    for (const key of this.keys) if (constantTimeEqual(this.hash(key, row.purpose, row.id, code), row.code_hash)) match = true;
    return match;
  }

  /** Is this request the owner of `identityId`'s address (see the header)? Costs one indexed query either way. */
  async isOwner(identityId: string | null, requester: CodeRequester, trx: Db = this.deps.db): Promise<boolean> {
    if (identityId !== null && requester.sessionIdentityId === identityId) return true;
    const since = this.deps.clock.nowMs() - OWNER_CLIENT_MEMORY_MS;
    const seen = await trx
      .selectFrom('audit_events')
      .select('id')
      .where('identity_id', '=', identityId ?? NO_IDENTITY)
      .where('created_at', '>', since)
      .where('type', 'in', [...OWNER_EVIDENCE_EVENTS])
      .where('ip_address', '=', requester.ip ?? '')
      .limit(1)
      .executeTakeFirst();
    return identityId !== null && requester.ip !== null && seen !== undefined;
  }

  /**
   * A new code for `flowId` (earlier open codes of the flow and purpose are revoked). Write it in the same
   * transaction as the outbox message that carries it. Throws CodeThrottledError when a quota is used up (see the
   * header); `owner: true` marks a request made for the owner without a client (after registration, from settings).
   */
  async issue(
    input: {
      purpose: string;
      flowId: string;
      identityId: string | null;
      address: string;
      expiresAtMs: number;
      maxAttempts?: number;
      requester?: CodeRequester;
      owner?: boolean;
    },
    trx: Db = this.deps.db,
  ): Promise<IssuedCode> {
    const now = this.deps.clock.nowMs();
    const since = now - ISSUE_WINDOW_MS;
    const requester = input.requester ?? { ip: null, sessionIdentityId: null };
    const owner = input.owner === true || (await this.isOwner(input.identityId, requester, trx));
    const { storage } = this.deps;
    await storage.lockUntilCommit(trx, `one-time-codes/address/${input.purpose}/${input.address}`);
    const recent = await trx
      .selectFrom('one_time_codes')
      .select(['created_at', 'owner_request'])
      .where('address', '=', input.address)
      .where('purpose', '=', input.purpose)
      .where('created_at', '>', since)
      .orderBy('created_at')
      .execute();
    const byOthers = recent.filter((r) => r.owner_request !== 1);
    if (recent.length >= MAX_CODES_PER_ADDRESS) throw new CodeThrottledError(recent[0]!.created_at + ISSUE_WINDOW_MS - now);
    if (!owner && byOthers.length >= MAX_CODES_PER_ADDRESS - OWNER_RESERVE_PER_ADDRESS) throw new CodeThrottledError(byOthers[0]!.created_at + ISSUE_WINDOW_MS - now);
    if (!owner && requester.ip !== null) {
      await storage.lockUntilCommit(trx, `one-time-codes/client/${requester.ip}`);
      const fromClient = await trx
        .selectFrom('one_time_codes')
        .select('created_at')
        .where('client_key', '=', requester.ip)
        .where('created_at', '>', since)
        .orderBy('created_at')
        .limit(MAX_CODES_PER_CLIENT)
        .execute();
      if (fromClient.length >= MAX_CODES_PER_CLIENT) throw new CodeThrottledError(fromClient[0]!.created_at + ISSUE_WINDOW_MS - now);
    }
    await trx
      .updateTable('one_time_codes')
      .set({ revoked_at: now })
      .where('flow_id', '=', input.flowId)
      .where('purpose', '=', input.purpose)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .execute();
    const id = this.deps.random.uuid();
    const code = randomString(this.deps.random, CODE_DIGITS, '0123456789');
    await trx
      .insertInto('one_time_codes')
      .values({
        id,
        purpose: input.purpose,
        flow_id: input.flowId,
        identity_id: input.identityId,
        address: input.address,
        code_hash: this.hash(this.keys[0]!, input.purpose, id, code),
        attempts: 0,
        max_attempts: input.maxAttempts ?? MAX_ATTEMPTS_PER_CODE,
        expires_at: input.expiresAtMs,
        used_at: null,
        revoked_at: null,
        created_at: now,
        client_key: requester.ip === null ? null : requester.ip.slice(0, 64),
        owner_request: owner ? 1 : 0,
      })
      .execute();
    return { id, code, expiresAtMs: input.expiresAtMs };
  }

  /** Checks (and on success consumes) the flow's open code. Every call takes one attempt. */
  async verify(input: { purpose: string; flowId: string; code: unknown }, trx: Db = this.deps.db): Promise<CodeCheck> {
    const code = normalizeCode(input.code);
    const now = this.deps.clock.nowMs();
    const open = await trx
      .selectFrom('one_time_codes')
      .selectAll()
      .where('flow_id', '=', input.flowId)
      .where('purpose', '=', input.purpose)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!open) {
      const closed = await trx.selectFrom('one_time_codes').selectAll().where('flow_id', '=', input.flowId).where('purpose', '=', input.purpose).execute();
      if (closed.some((row) => this.matches(row, code))) return { ok: false, reason: 'used' };
      return { ok: false, reason: closed.length ? 'invalid' : 'none' };
    }
    const taken = await trx
      .updateTable('one_time_codes')
      .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
      .where('id', '=', open.id)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .where((eb) => eb('attempts', '<', eb.ref('max_attempts')))
      .executeTakeFirst();
    if (affectedRows(taken) !== 1) return { ok: false, reason: 'exhausted' };
    if (open.expires_at <= now) return { ok: false, reason: 'expired' };
    if (!/^\d+$/.test(code) || code.length !== CODE_DIGITS || !this.matches(open, code)) return { ok: false, reason: 'invalid' };
    const used = await trx
      .updateTable('one_time_codes')
      .set({ used_at: now })
      .where('id', '=', open.id)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (affectedRows(used) !== 1) return { ok: false, reason: 'used' };
    return {
      ok: true,
      code: { id: open.id, purpose: open.purpose, flowId: open.flow_id, identityId: open.identity_id, address: open.address, expiresAtMs: open.expires_at },
    };
  }

  /** Revokes every open code of a flow (e.g. when the flow completes another way). */
  async revokeFlow(flowId: string, purpose: string, trx: Db = this.deps.db): Promise<void> {
    await trx
      .updateTable('one_time_codes')
      .set({ revoked_at: this.deps.clock.nowMs() })
      .where('flow_id', '=', flowId)
      .where('purpose', '=', purpose)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .execute();
  }
}
