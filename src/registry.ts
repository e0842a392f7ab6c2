import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';
import type { KairosConfig } from './config/schema.js';
import type { Deps } from './deps.js';
import { parseDurationMs } from './config/duration.js';
import { openStorage, type Storage } from './storage/db.js';
import { systemClock, type Clock } from './support/clock.js';
import { cryptoRandom, type Random } from './support/random.js';
import { IdentitySchemas } from './identity/schemas.js';
import { IdentityService } from './identity/identity-service.js';
import { SessionService } from './session/session-service.js';
import { FlowRepository } from './storage/flow-repository.js';
import { AuditLog } from './audit/audit-log.js';
import { Metrics } from './audit/metrics.js';
import { Urls } from './urls.js';
import { PasswordHasher } from './credentials/password/hasher.js';
import { PasswordStrategy } from './credentials/password/strategy.js';
import { passwordCredentialAdapter } from './credentials/password/admin-import.js';
import { ProfileStrategy } from './credentials/profile/strategy.js';
import type { KairosModule } from './module.js';
import { clockModule } from './mfa/clock/module.js';
import { SecretCipher } from './crypto/secret-cipher.js';
import { totpModule } from './credentials/totp/module.js';
import { SecondFactorGuard } from './mfa/attempts/second-factor-guard.js';
import { lookupSecretModule } from './credentials/lookup-secret/module.js';
import { RecoveryCodeEnrollment } from './credentials/lookup-secret/enrollment.js';
import { recoveryModule } from './recovery/module.js';
import { OutboxCourier } from './courier/outbox.js';
import { Templates } from './courier/templates.js';
import { courierModule } from './courier/module.js';
import { OneTimeCodes } from './credentials/code/one-time-codes.js';
import { RecoveryAddressBook } from './identity/recovery-address-book.js';
import { codeModule } from './credentials/code/module.js';
import { RateLimitCounters } from './storage/rate-limit-counters.js';
import { webauthnModule } from './credentials/webauthn/module.js';
import { codeMfaModule } from './credentials/code/mfa-module.js';
import { passkeyModule } from './credentials/passkey/module.js';
import { policyModule } from './mfa/policy/module.js';
import { rememberedDeviceModule } from './credentials/remembered-device/module.js';
import { reportsModule } from './reports/module.js';
import { consoleModule } from './console/module.js';

export interface RegistryOptions {
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  storage?: Storage;
  /** Collect Node's default process metrics (off in tests that start many servers). */
  processMetrics?: boolean;
}

/** Paths (and keys) pino removes from every log line, whatever a caller passes (DESIGN §4: no secret in a log). */
export const LOG_REDACT_PATHS = [
  'password',
  '*.password',
  'totp_code',
  '*.totp_code',
  'lookup_secret',
  '*.lookup_secret',
  'code',
  '*.code',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'session_token',
  '*.session_token',
  'csrf_token',
  '*.csrf_token',
  'req.headers.cookie',
  'req.headers.authorization',
  'req.headers["x-session-token"]',
  'res.headers["set-cookie"]',
];

/**
 * JSON lines on stdout by default; `log.format: text` pipes the same records through pino's pretty printer
 * (in-process and synchronous, so a fatal line is written before the process exits). Redaction happens before
 * either, so the text format hides exactly what the JSON format hides.
 */
export function createLogger(config: KairosConfig, destination: NodeJS.WritableStream = process.stdout): Logger {
  const options = {
    level: config.log.level,
    redact: config.log.leak_sensitive_values ? [] : { paths: LOG_REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'kairos' },
  };
  if (config.log.format === 'text') {
    const colorize = (destination as { isTTY?: boolean }).isTTY === true && !process.env.NO_COLOR;
    // pino-pretty only for this format, loaded synchronously here (a fatal line must be printed before exit).
    const pinoPretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    return pino(options, pinoPretty({ destination, sync: true, colorize, ignore: 'pid,hostname,service', translateTime: 'SYS:HH:MM:ss.l' }));
  }
  // stdout through an asynchronous sonic-boom: under load the lines of many requests leave in one write instead of
  // one synchronous write(2) each; pino flushes it synchronously when the process exits.
  return pino(options, destination === process.stdout ? pino.destination({ dest: 1, sync: false }) : destination);
}

/**
 * The logger of the one line per request: a child of `logger` without redaction (its fields, listed where it is
 * written in server.ts, never hold a secret: the path without the query string, status, duration). Redaction
 * doubled the cost of that line, and it is written for every request.
 */
export function accessLogger(logger: Logger, bindings: Record<string, string>): Logger {
  return logger.child(bindings, { redact: [] });
}

export function createDeps(config: KairosConfig, options: RegistryOptions = {}): Deps {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? cryptoRandom;
  const logger = options.logger ?? createLogger(config);
  const storage =
    options.storage ??
    openStorage(config.dsn, {
      backgroundCheckpoint: {
        onError: (message) => logger.warn({ error: message }, 'SQLite background checkpoint failed'),
        onWorker: (event) => logger.debug({ event }, 'SQLite background checkpoint worker'),
      },
    });
  const db = storage.db;
  const schemas = new IdentitySchemas(config.identity.schemas, config.identity.default_schema_id, config.serve.public.base_url);
  const secondFactorTypes: string[] = [];
  const deps: Omit<Deps, 'secondFactorGuard'> & Partial<Pick<Deps, 'secondFactorGuard'>> = {
    config,
    storage,
    db,
    clock,
    random,
    logger,
    schemas,
    identities: new IdentityService(db, clock, random, schemas, () => secondFactorTypes),
    sessions: new SessionService(db, clock, random, config.secrets.default, parseDurationMs(config.session.lifespan), storage.dialect, storage.changeStamp),
    flows: new FlowRepository(db, storage.dialect === 'postgres'),
    audit: new AuditLog(db, clock, random),
    metrics: new Metrics({ defaultMetrics: options.processMetrics ?? false }),
    urls: new Urls(config),
    hasher: new PasswordHasher({
      memoryKib: config.hashers.argon2.memory_kib,
      iterations: config.hashers.argon2.iterations,
      parallelism: config.hashers.argon2.parallelism,
      algorithm: config.hashers.algorithm,
      bcryptCost: config.hashers.bcrypt.cost,
    }),
    secondFactorTypes,
    courier: new OutboxCourier(
      { db, clock, random, config },
      new Templates(config.courier.template_override_path, { brand: config.ui.brand.name, domain: new URL(config.serve.public.base_url).hostname }),
      config.secrets.cipher.length > 0 ? new SecretCipher(config.secrets.cipher, random) : null,
    ),
    oneTimeCodes: new OneTimeCodes({ db, clock, random, config, storage }),
    recoveryAddresses: new RecoveryAddressBook(db, clock, random),
  };
  deps.secondFactorGuard = new SecondFactorGuard({ ...(deps as Deps), flowAttempts: deps.flows });
  return deps as Deps;
}

/** The modules in play for this configuration, in UI order. */
export function createModules(deps: Deps): KairosModule[] {
  const methods = deps.config.selfservice.methods;
  const modules: KairosModule[] = [];
  if (methods.profile.enabled) modules.push({ name: 'profile', strategies: { settings: [new ProfileStrategy(deps)] } });
  // The admin API imports passwords (and keeps the last first factor) whether or not the method is enabled.
  const passwordAdapter = passwordCredentialAdapter(deps);
  if (methods.password.enabled) {
    const password = new PasswordStrategy(deps);
    modules.push({ name: 'password', strategies: { login: [password], registration: [password], settings: [password] }, adapters: [passwordAdapter] });
  } else modules.push({ name: 'password', adapters: [passwordAdapter] });
  if (methods.passkey.enabled) modules.push(passkeyModule(deps));
  const cipher = methods.totp.enabled || methods.lookup_secret.enabled ? new SecretCipher(deps.config.secrets.cipher, deps.random) : null;
  // Recovery codes and the second factors know each other only through two ports, given to their constructors
  // (mandatory codes at the first enrollment): the codes' enrollment side is built first, the factors take it, and
  // the recovery-code strategy takes the factors' enrollment side.
  const recoveryCodes = methods.lookup_secret.enabled ? new RecoveryCodeEnrollment(deps, cipher!) : null;
  const totp = methods.totp.enabled ? totpModule(deps, cipher!, recoveryCodes) : null;
  if (totp) modules.push(totp);
  const webauthn = methods.webauthn.enabled ? webauthnModule(deps, recoveryCodes) : null;
  if (webauthn) modules.push(webauthn);
  if (recoveryCodes) modules.push(lookupSecretModule(deps, recoveryCodes, [...(totp ? [totp.strategy] : []), ...(webauthn ? [webauthn.strategy] : [])]));
  if (methods.code.mfa_enabled) modules.push(codeMfaModule(deps));
  // After every second factor: the MFA policy by role filters what they offer (mfa/policy), and the browsers it
  // remembers are listed in settings.
  const policy = policyModule(deps);
  modules.push(policy);
  const devices = rememberedDeviceModule(deps, policy);
  if (devices) modules.push(devices);
  modules.push(clockModule(deps));
  const rateLimits = deps.config.serve.public.rate_limit;
  if (rateLimits.enabled && rateLimits.store === 'database') {
    const counters = new RateLimitCounters(deps.storage);
    modules.push({ name: 'rate_limits', maintenance: [{ name: 'rate_limit_counters', run: () => counters.purgeExpired() }] });
  }
  if (deps.config.selfservice.flows.recovery.enabled) modules.push(recoveryModule(deps));
  modules.push(courierModule(deps));
  modules.push(reportsModule(deps));
  if (deps.config.console.enabled) modules.push(consoleModule(deps, () => modules));
  if (deps.config.selfservice.flows.verification.enabled) modules.push(codeModule(deps));
  return modules;
}

/** Registers the second-factor credential types the modules declare (used to derive the identity's available AAL). */
export function registerSecondFactorTypes(deps: Deps, modules: KairosModule[]): void {
  const list = deps.secondFactorTypes;
  for (const module of modules) for (const type of module.secondFactorTypes ?? []) if (!list.includes(type)) list.push(type);
}
