import { Command, Option } from 'commander';
import { ConfigError, loadConfig, type LoadedConfig } from '../config/load.js';
import { createDeps, createModules, createLogger } from '../registry.js';
import { assertMigrated, buildServer, KAIROS_VERSION } from '../server.js';
import { migrateToLatest, migrationStatus } from '../storage/migrate.js';
import { openStorage, sqlitePath as sqlitePathOf } from '../storage/db.js';
import { extraCommands } from './commands.js';
import { FatalError, renderFatal, storageFailure, wantsStack } from '../errors/fatal.js';
import type { Storage } from '../storage/db.js';

/** The log level of the last configuration loaded, so a fatal error knows whether to print its stack. */
let loadedLogLevel: string | undefined;

/**
 * Config discovery, the same for every command: `-c <file>` (environment variables override its keys, Kratos's
 * style), or without a file, dev mode (`./.kairos`). An invalid configuration is a FatalError (exit 2).
 */
function load(options: { config?: string; dev?: boolean }): LoadedConfig {
  try {
    const loaded = loadConfig({ file: options.config, dev: options.dev || !options.config });
    loadedLogLevel = loaded.config.log.level;
    return loaded;
  } catch (err) {
    if (err instanceof ConfigError) throw new FatalError(err.message);
    throw err;
  }
}

/** Runs a storage operation; a failure the operator can fix (unreachable server, read-only directory…) is fatal. */
async function withStorage<T>(storage: Pick<Storage, 'description'>, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw storageFailure(err, storage.description) ?? err;
  }
}

/** Opens the database from a DSN; an unknown scheme or an unwritable SQLite directory is fatal (exit 2). */
function openStorageOrFail(dsn: string): Storage {
  try {
    return openStorage(dsn);
  } catch (err) {
    if (err instanceof TypeError && err.message.startsWith('dsn:')) throw new FatalError(`${err.message}; set dsn in the config file or the DSN environment variable`);
    const description = dsn.startsWith('postgres') ? 'postgres (dsn)' : `sqlite ${sqlitePathOf(dsn)}`;
    throw storageFailure(err, description) ?? err;
  }
}

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

async function serve(options: { config?: string; dev?: boolean; migrate?: boolean }) {
  const { config, warnings, devNotes } = load(options);
  const logger = createLogger(config);
  for (const warning of warnings) logger.warn(warning);
  const storage = openStorageOrFail(config.dsn);
  const deps = createDeps(config, { logger, processMetrics: true, storage });
  await withStorage(storage, async () => {
    if (config.dev || options.migrate) {
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

export async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('kairos')
    .description('Kairos: a Kratos-compatible identity server that gets multi-factor authentication right')
    .version(KAIROS_VERSION)
    .option('--debug', 'print the stack trace of a fatal error');

  program
    .command('serve')
    .description('run the public (4433) and admin (4434) APIs and the hosted UI')
    .option('-c, --config <file>', 'YAML config file with Kratos keys')
    .option('--dev', 'development mode: SQLite in ./.kairos, generated secrets, loud banner')
    .option('--migrate', 'apply pending database migrations before serving')
    .action(serve);

  const migrate = program.command('migrate').description('database migrations');
  migrate
    .command('sql')
    .description('apply migrations to the database from the config (or the DSN given)')
    .argument('[dsn]', 'database DSN (default: the config\'s dsn)')
    .option('-c, --config <file>', 'config file')
    .option('-e, --read-from-env', 'read the DSN from the DSN environment variable')
    .option('--yes', 'do not ask for confirmation')
    .addOption(new Option('--status', 'only show which migrations are applied'))
    .action(async (dsnArg: string | undefined, options: { config?: string; readFromEnv?: boolean; yes?: boolean; status?: boolean }) => {
      // The same discovery as `serve`: the DSN argument, else -e (the DSN variable, like Kratos), else the config
      // (-c file with environment overrides, or dev mode without one).
      let dsn = dsnArg;
      if (!dsn && options.readFromEnv) {
        dsn = process.env.DSN;
        if (!dsn) throw new FatalError('migrate sql -e: the DSN environment variable is not set');
      }
      dsn ??= load({ config: options.config }).config.dsn;
      const storage = openStorageOrFail(dsn);
      try {
        await withStorage(storage, async () => {
          if (options.status) {
            for (const m of await migrationStatus(storage)) process.stdout.write(`${m.executedAt ? 'applied' : 'pending'}  ${m.name}\n`);
            return;
          }
          if (!options.yes) throw new FatalError('refusing to migrate without --yes');
          const applied = await migrateToLatest(storage);
          process.stdout.write(applied.length ? applied.map((m) => `applied  ${m.migrationName}\n`).join('') : 'database is up to date\n');
        });
      } finally {
        await storage.close();
      }
    });

  for (const add of extraCommands) add(program, { load });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const { text, exitCode } = renderFatal(err, wantsStack(argv, loadedLogLevel));
    process.stderr.write(text);
    process.exit(exitCode);
  }
}

export { createLogger };
