/** `kairos serve`: both listeners, the modules' background work, and a graceful stop on SIGTERM/SIGINT. */
import { createDeps, createModules, createLogger } from '../registry.js';
import { assertMigrated, buildServer } from '../server.js';
import { migrateToLatest } from '../storage/migrate.js';
import { KAIROS_VERSION } from '../version.js';
import type { CommandContext } from './commands.js';

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

export async function serve(options: { config?: string; dev?: boolean; migrate?: boolean }, context: CommandContext): Promise<void> {
  const { config, warnings, devNotes } = await context.load(options);
  const logger = createLogger(config);
  for (const warning of warnings) logger.warn(warning);
  const deps = createDeps(config, { logger, processMetrics: true });
  if (config.dev || options.migrate) {
    const applied = await migrateToLatest(deps.storage);
    if (applied.length) logger.info({ migrations: applied.map((m) => m.migrationName) }, 'applied database migrations');
  } else {
    await assertMigrated(deps).catch((err) => {
      logger.fatal(err.message);
      process.exit(1);
    });
  }
  const server = await buildServer(deps, createModules(deps));
  const { publicUrl, adminUrl } = await server.listen();
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
