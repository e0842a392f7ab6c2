import { Command, Option } from 'commander';
import { ConfigError, loadConfig, type LoadedConfig } from '../config/load.js';
import { createDeps, createModules, createLogger } from '../registry.js';
import { assertMigrated, buildServer, KAIROS_VERSION } from '../server.js';
import { migrateToLatest, migrationStatus } from '../storage/migrate.js';
import { dialectOf, sqlitePath } from '../storage/db.js';

const isInMemoryDsn = (dsn: string) => dialectOf(dsn) === 'sqlite' && sqlitePath(dsn) === ':memory:';
import { openStorage } from '../storage/db.js';
import { extraCommands } from './commands.js';

function load(options: { config?: string; dev?: boolean }): LoadedConfig {
  try {
    return loadConfig({ file: options.config, dev: options.dev || !options.config });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`kairos: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
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
  const deps = createDeps(config, { logger, processMetrics: true });
  // An in-memory database starts empty every time, so it is migrated on every start (as Kratos does with dsn: memory).
  if (config.dev || options.migrate || isInMemoryDsn(config.dsn)) {
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

export async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('kairos')
    .description('Kairos: a Kratos-compatible identity server that gets multi-factor authentication right')
    .version(KAIROS_VERSION);

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
      const dsn = dsnArg ?? (options.readFromEnv ? process.env.DSN : undefined) ?? (options.config ? load({ config: options.config }).config.dsn : undefined);
      if (!dsn) {
        process.stderr.write('kairos: no DSN: pass one, use -e with DSN set, or -c config\n');
        process.exit(2);
      }
      const storage = openStorage(dsn);
      try {
        if (options.status) {
          for (const m of await migrationStatus(storage)) process.stdout.write(`${m.executedAt ? 'applied' : 'pending'}  ${m.name}\n`);
          return;
        }
        if (!options.yes) {
          process.stderr.write('kairos: refusing to migrate without --yes\n');
          process.exit(2);
        }
        const applied = await migrateToLatest(storage);
        process.stdout.write(applied.length ? applied.map((m) => `applied  ${m.migrationName}\n`).join('') : 'database is up to date\n');
      } finally {
        await storage.close();
      }
    });

  for (const add of extraCommands) add(program, { load });
  await program.parseAsync(argv);
}

export { createLogger };
