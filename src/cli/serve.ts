/** `kairos serve`: both listeners, the modules' background work, and a graceful stop on SIGTERM/SIGINT. */
import { createDeps, createModules, createLogger } from '../registry.js';
import { assertMigrated, buildServer } from '../server.js';
import { migrateToLatest } from '../storage/migrate.js';
import { dialectOf, sqlitePath } from '../storage/db.js';
import { KAIROS_VERSION } from '../version.js';
import type { CommandContext } from './commands.js';
import { FatalError } from '../errors/fatal.js';
import { openStorageOrFail, withStorage } from './storage-errors.js';
import { testHooksEnabled } from '../support/test-pause.js';

const DEV_BANNER = (publicUrl: string, adminUrl: string, notes: string[]) => `
################################################################################
#                                                                              #
#   KAIROS IS RUNNING IN DEVELOPMENT MODE — NOT FOR PRODUCTION                 #
#                                                                              #
################################################################################
  hosted UI     ${publicUrl}/ui/registration
  public API    ${publicUrl}
  admin API     ${adminUrl}
${notes.map((n) => `  - ${n}`).join('\n')}
  Secrets were generated for you; production needs secrets.default and
  secrets.cipher in a config file (see README "Configuration").
`;

const isInMemoryDsn = (dsn: string) => dialectOf(dsn) === 'sqlite' && sqlitePath(dsn) === ':memory:';

export async function serve(options: { config?: string; dev?: boolean; migrate?: boolean }, context: CommandContext): Promise<void> {
  const { config, warnings, devNotes } = await context.load(options);
  const logger = createLogger(config);
  for (const warning of warnings) logger.warn(warning);
  if (testHooksEnabled) logger.warn('KAIROS_TEST_HOOKS=1 and KAIROS_TEST_PAUSE_FILE are set: crash-test pause points are live (tests only, never in production)');
  const storage = openStorageOrFail(config.dsn);
  const deps = createDeps(config, { logger, processMetrics: true, storage });
  await withStorage(storage, async () => {
    // An in-memory database starts empty every time, so it is migrated on every start (as Kratos does with dsn: memory).
    if (config.dev || options.migrate || isInMemoryDsn(config.dsn)) {
      const applied = await migrateToLatest(deps.storage);
      if (applied.length) logger.info({ migrations: applied.map((m) => m.migrationName) }, 'applied database migrations');
    } else {
      await storage.ping();
      await assertMigrated(deps).catch((err) => {
        throw err instanceof Error && /pending migration/.test(err.message) ? new FatalError(err.message) : err;
      });
    }
  });
  const server = await buildServer(deps, createModules(deps));
  const { publicUrl, adminUrl } = await server.listen().catch(async (err) => {
    await server.close();
    await storage.close();
    throw err;
  });
  logger.info({ public: publicUrl, admin: adminUrl, database: deps.storage.description, version: KAIROS_VERSION }, 'kairos is listening');
  const devMail = config.courier.smtp.connection_uri
    ? []
    : [`mail: no SMTP server is used; the development mail sink prints every message here (codes included — dev mode only) and lists it at ${publicUrl}/ui/dev/mail`];
  if (config.dev) process.stderr.write(DEV_BANNER(publicUrl, adminUrl, [`database: ${deps.storage.description}`, ...devNotes, ...devMail]));

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    const timer = setTimeout(() => process.exit(1), 10_000);
    timer.unref();
    await server.close();
    await deps.storage.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
