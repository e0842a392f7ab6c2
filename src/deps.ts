import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { KairosConfig } from './config/schema.js';
import type { Storage } from './storage/db.js';
import type { Database } from './storage/tables.js';
import type { Clock } from './support/clock.js';
import type { Random } from './support/random.js';
import type { IdentitySchemas } from './identity/schemas.js';
import type { IdentityService } from './identity/identity-service.js';
import type { SessionService } from './session/session-service.js';
import type { FlowRepository } from './storage/flow-repository.js';
import type { AuditLog } from './audit/audit-log.js';
import type { Metrics } from './audit/metrics.js';
import type { Urls } from './urls.js';
import type { PasswordHasher } from './credentials/password/hasher.js';
import type { SecondFactorGuard } from './mfa/attempts/second-factor-guard.js';
import type { OutboxCourier } from './courier/outbox.js';
import type { OneTimeCodes } from './credentials/code/one-time-codes.js';
import type { RecoveryAddressBook } from './identity/recovery-address-book.js';

/** What modules may depend on. Each module takes only the parts it needs (`Pick<Deps, …>`). */
export interface Deps {
  config: KairosConfig;
  storage: Storage;
  db: Kysely<Database>;
  clock: Clock;
  random: Random;
  logger: Logger;
  schemas: IdentitySchemas;
  identities: IdentityService;
  sessions: SessionService;
  flows: FlowRepository;
  audit: AuditLog;
  metrics: Metrics;
  urls: Urls;
  hasher: PasswordHasher;
  /** Credential types that are second factors, declared by the modules in play. */
  secondFactorTypes: string[];
  /** Brute-force limits shared by every second factor. */
  secondFactorGuard: SecondFactorGuard;
  /** The outbox (implements `Courier`, courier/courier.ts): `enqueue(message, trx)` in the action's transaction. */
  courier: OutboxCourier;
  /** One-time email codes (credentials/code/): keyed hash, expiry, attempt limit, single use. */
  oneTimeCodes: OneTimeCodes;
  /** Which addresses count for recovery: the schema's, plus secondary ones once verified. */
  recoveryAddresses: RecoveryAddressBook;
}
