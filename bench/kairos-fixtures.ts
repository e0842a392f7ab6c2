/**
 * The bench's fast path into Kairos's own services (loaded through tsx by bench/run.mjs, never by tests).
 *
 * Seeding: identities go through the same functions the HTTP API uses (IdentityService.build/create for the
 * identity, its password credential, identifiers and addresses; IdentityService.saveCredential plus
 * TotpRepository.insert and SecretCipher.encrypt for TOTP, as TotpStrategy.completeEnrollment does; AuditLog.record
 * for the events registration and enrollment write; LookupSecretRepository.insertCodes with the same keyed hashes for
 * the recovery codes that TOTP enrollment makes mandatory), in transactions of BATCH_SIZE identities. Two things are
 * cheaper than the API and neither changes the rows' shape: the argon2id hash is computed once, with the configured
 * parameters, and reused by every seeded identity (so all seeded rows share one salt; the login path still pays a
 * full verification and never re-hashes, because the parameters match), and the TOTP secret is derived from the
 * identity's index (HMAC-SHA256 of a bench key) so the bench can compute codes without keeping 100,000 secrets.
 * Seeded identities have no sessions or flows: they registered and enrolled, then left.
 *
 * Sessions for the TOTP pool: `SessionService.create` with a completed `password` AMR entry, the exact call the
 * login handler makes after a password step; the pending aal2 flows themselves are created over HTTP by run.mjs.
 */
import { createHmac } from 'node:crypto';
import { statSync, existsSync } from 'node:fs';
import pino from 'pino';
import { sql } from 'kysely';
import { loadConfig } from '../src/config/load.js';
import { createDeps } from '../src/registry.js';
import { migrateToLatest } from '../src/storage/migrate.js';
import { sqlitePath } from '../src/storage/db.js';
import { SecretCipher } from '../src/crypto/secret-cipher.js';
import { TotpRepository } from '../src/credentials/totp/repository.js';
import { totpCodeAt, timeStep } from '../src/otp/otp.js';
import { LookupSecretRepository } from '../src/credentials/lookup-secret/repository.js';
import { CODE_ALPHABET, CODE_LENGTH_CHARS, hashCode, normalizeCode } from '../src/credentials/lookup-secret/codes.js';
import type { Deps } from '../src/deps.js';
import { consoleHash } from '../src/console/auth.js';

export const BATCH_SIZE = 500;
export const SEED_PASSWORD = 'bench-Password-4f9c2e81';
const SEED_KEY = 'kairos-bench-seed-key';
const TOTP_PARAMETERS = { algorithm: 'SHA1' as const, digits: 6 as const, periodSeconds: 30 };

export const seedEmail = (index: number) => `bench-${index}@bench.example`;

/** The 20-byte SHA1 TOTP secret of seeded identity `index` (RFC 4226 §4 size). */
export function seedSecret(index: number): Uint8Array {
  return new Uint8Array(createHmac('sha256', SEED_KEY).update(`totp:${index}`).digest().subarray(0, 20));
}

export function seedCode(index: number, nowMs: number): { code: string; step: number } {
  const step = timeStep(nowMs, TOTP_PARAMETERS.periodSeconds);
  return { code: totpCodeAt(seedSecret(index), TOTP_PARAMETERS, step), step };
}

/** Recovery code `k` (0-based) of seeded identity `index`, in the display form (`xxxx-xxxx-xxxx`). */
export function seedRecoveryCode(index: number, k: number): string {
  const bytes = createHmac('sha256', SEED_KEY).update(`recovery:${index}:${k}`).digest();
  let raw = '';
  for (let i = 0; i < CODE_LENGTH_CHARS; i++) raw += CODE_ALPHABET[bytes[i]! % CODE_ALPHABET.length];
  return raw.match(/.{1,4}/g)!.join('-');
}

export interface Fixtures {
  /** Recovery codes per seeded identity (selfservice.methods.lookup_secret.config.count). */
  recoveryCodeCount: number;
  deps: Deps;
  /** Identity ids of seeded identities, by index (only those seeded by this process, or loaded). */
  ids: Map<number, string>;
  /** Seeds identities [from, to) in batches; `concurrency` transactions at once (PostgreSQL; SQLite has one writer). */
  seed(from: number, to: number, onBatch: (done: number) => void, concurrency?: number): Promise<void>;
  loadIds(from: number, to: number): Promise<void>;
  createAal1Sessions(indexes: number[]): Promise<string[]>;
  /** A console session of seeded identity `index`, made a `helpdesk` operator with an aal2 Kairos session: the cookie value. */
  createConsoleSession(index: number): Promise<string>;
  databaseBytes(): Promise<number>;
  close(): Promise<void>;
}

export async function openFixtures(overrides: Record<string, unknown>): Promise<Fixtures> {
  const { config } = loadConfig({ overrides, env: {} });
  const deps = createDeps(config, { logger: pino({ level: 'silent' }) });
  // Kysely's migrator looks at every schema's tables; another run dropping its schema at that moment makes it fail
  // once ("schema … does not exist") on a shared PostgreSQL. A second attempt is enough.
  await migrateToLatest(deps.storage).catch(async () => {
    await new Promise((r) => setTimeout(r, 1000));
    await migrateToLatest(deps.storage);
  });
  const cipher = new SecretCipher(config.secrets.cipher, deps.random);
  const totp = new TotpRepository(deps.db);
  const lookup = new LookupSecretRepository(deps.db);
  const recoveryCodeCount = config.selfservice.methods.lookup_secret.enabled ? config.selfservice.methods.lookup_secret.config.count : 0;
  const schemaId = deps.schemas.getDefault().id;
  const hashedPassword = await deps.hasher.hash(SEED_PASSWORD);
  const issuer = config.selfservice.methods.totp.config.issuer ?? new URL(config.serve.public.base_url).hostname;
  const ids = new Map<number, string>();

  async function seedOne(index: number, trx: Deps['db']) {
    const identity = deps.identities.build({ schemaId, traits: { email: seedEmail(index) } });
    const facts = deps.identities.facts(identity);
    identity.credentials.password = deps.identities.newCredential('password', { hashed_password: hashedPassword }, facts.passwordIdentifiers);
    await deps.identities.create(identity, trx);
    await deps.audit.record(trx, { type: 'registration.succeeded', identityId: identity.id, actor: 'self', ipAddress: '127.0.0.1', details: { method: 'password' } });
    const credential = deps.identities.newCredential('totp', {}, [identity.id]);
    await deps.identities.saveCredential(identity.id, credential, trx);
    await totp.insert(
      {
        credentialId: credential.id,
        identityId: identity.id,
        secretCiphertext: cipher.encrypt(seedSecret(index), credential.id),
        parameters: TOTP_PARAMETERS,
        issuer,
        accountName: seedEmail(index),
        lastUsedStep: null,
        createdAtMs: deps.clock.nowMs(),
      },
      trx,
    );
    await deps.audit.record(trx, { type: 'second_factor.enrolled', identityId: identity.id, actor: 'self', ipAddress: '127.0.0.1', details: { method: 'totp', algorithm: 'SHA1', digits: 6, period_seconds: 30 } });
    if (recoveryCodeCount > 0) {
      // As LookupSecretStrategy.storeCodes at TOTP enrollment: a lookup_secret credential and keyed hashes of the codes.
      const codes = deps.identities.newCredential('lookup_secret', {}, [identity.id]);
      await deps.identities.saveCredential(identity.id, codes, trx);
      const rows = Array.from({ length: recoveryCodeCount }, (_, k) => ({
        id: deps.random.uuid(),
        position: k + 1,
        codeHash: hashCode(config.secrets.default[0]!, identity.id, normalizeCode(seedRecoveryCode(index, k))!),
        usedAtMs: null,
      }));
      await lookup.insertCodes(codes.id, identity.id, rows, deps.clock.nowMs(), trx);
      await deps.audit.record(trx, { type: 'recovery_codes.generated', identityId: identity.id, actor: 'self', ipAddress: '127.0.0.1', details: { count: recoveryCodeCount, context: 'totp_enrollment' } });
    }
    ids.set(index, identity.id);
  }

  return {
    recoveryCodeCount,
    deps,
    ids,
    async seed(from, to, onBatch, concurrency = 1) {
      let next = from;
      let done = 0;
      const worker = async () => {
        while (next < to) {
          const start = next;
          const end = Math.min(to, start + BATCH_SIZE);
          next = end;
          await deps.db.transaction().execute(async (trx) => {
            for (let i = start; i < end; i++) await seedOne(i, trx);
          });
          done += end - start;
          onBatch(done);
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
    },
    async loadIds(from, to) {
      const emails: string[] = [];
      for (let i = from; i < to; i++) if (!ids.has(i)) emails.push(seedEmail(i));
      for (let k = 0; k < emails.length; k += 1000) {
        const rows = await deps.db
          .selectFrom('identity_credential_identifiers')
          .select(['identity_id', 'identifier'])
          .where('type', '=', 'password')
          .where('identifier', 'in', emails.slice(k, k + 1000))
          .execute();
        for (const row of rows) ids.set(Number(/^bench-(\d+)@/.exec(row.identifier)![1]), row.identity_id);
      }
    },
    async createAal1Sessions(indexes) {
      const tokens: string[] = [];
      for (let k = 0; k < indexes.length; k += BATCH_SIZE) {
        await deps.db.transaction().execute(async (trx) => {
          for (const index of indexes.slice(k, k + BATCH_SIZE)) {
            const identityId = ids.get(index);
            if (!identityId) throw new Error(`identity ${index} was not seeded`);
            const amr = [{ method: 'password', aal: 'aal1' as const, completedAtMs: deps.clock.nowMs() }];
            const { token } = await deps.sessions.create(trx, identityId, amr, { ipAddress: '127.0.0.1', userAgent: 'autocannon' });
            tokens.push(token);
          }
        });
      }
      return tokens;
    },
    async createConsoleSession(index) {
      // As the console's sign-in does after the hand-off (src/console/auth.ts): an operator with an aal2 Kairos session
      // and a console session bound to it, the token stored as its keyed hash.
      const identityId = ids.get(index);
      if (!identityId) throw new Error(`identity ${index} was not seeded`);
      await deps.db.updateTable('identities').set({ metadata_admin: JSON.stringify({ role: 'helpdesk' }) }).where('id', '=', identityId).execute();
      const now = deps.clock.nowMs();
      const amr = [
        { method: 'password', aal: 'aal1' as const, completedAtMs: now },
        { method: 'totp', aal: 'aal2' as const, completedAtMs: now },
      ];
      const { session } = await deps.sessions.create(deps.db, identityId, amr, { ipAddress: '127.0.0.1', userAgent: 'autocannon' });
      const token = `bench-console-${deps.random.uuid()}`;
      await deps.db.insertInto('console_sessions').values({ id: deps.random.uuid(), token_hash: consoleHash(config, 'session', token), operator_id: identityId, kairos_session_id: session.id, created_at: now, last_seen_at: now, expires_at: now + 8 * 3_600_000, revoked_at: null }).execute();
      return token;
    },
    async databaseBytes() {
      if (deps.storage.dialect === 'sqlite') {
        await sql`pragma wal_checkpoint(TRUNCATE)`.execute(deps.db);
        const path = sqlitePath(config.dsn);
        return ['', '-wal'].reduce((sum, suffix) => sum + (existsSync(path + suffix) ? statSync(path + suffix).size : 0), 0);
      }
      const result = await sql<{ bytes: string | number }>`
        select coalesce(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename)::regclass)), 0) as bytes
        from pg_tables where schemaname = ${deps.storage.schema}`.execute(deps.db);
      return Number(result.rows[0]?.bytes ?? 0);
    },
    close: () => deps.storage.close(),
  };
}
