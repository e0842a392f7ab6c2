/**
 * `kairos`: the command tree. Only commander and the command definitions load here; each command's implementation
 * is imported when that command runs, so `kairos --version` and `kairos --help` never load the server, the database
 * drivers or the config schema.
 */
import { Command, Option } from 'commander';
import type { LoadedConfig } from '../config/load.js';
import { KAIROS_VERSION } from '../version.js';
import { extraCommands, type CommandContext } from './commands.js';
import { FatalError, renderFatal, wantsStack } from '../errors/fatal.js';

/** The log level of the last configuration loaded, so a fatal error knows whether to print its stack. */
let loadedLogLevel: string | undefined;

/**
 * Config discovery, the same for every command: `-c <file>` (environment variables override its keys, Kratos's
 * style), or without a file, dev mode (`./.kairos`). An invalid configuration is a FatalError (exit 2).
 */
async function load(options: { config?: string; dev?: boolean }): Promise<LoadedConfig> {
  const { ConfigError, loadConfig } = await import('../config/load.js');
  try {
    const loaded = loadConfig({ file: options.config, dev: options.dev || !options.config });
    loadedLogLevel = loaded.config.log.level;
    return loaded;
  } catch (err) {
    if (err instanceof ConfigError) throw new FatalError(err.message);
    throw err;
  }
}

/** Builds the program; `main` parses with it. Exported for tests that inspect the tree without running anything. */
export function createProgram(): Command {
  const context: CommandContext = { load };
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
    .action(async (options: { config?: string; dev?: boolean; migrate?: boolean }) => (await import('./serve.js')).serve(options, context));

  const migrate = program.command('migrate').description('database migrations');
  migrate
    .command('sql')
    .description('apply migrations to the database from the config (or the DSN given)')
    .argument('[dsn]', 'database DSN (default: the config\'s dsn)')
    .option('-c, --config <file>', 'config file')
    .option('-e, --read-from-env', 'read the DSN from the DSN environment variable')
    .option('--yes', 'do not ask for confirmation')
    .addOption(new Option('--status', 'only show which migrations are applied'))
    .action(async (dsn: string | undefined, options: { config?: string; readFromEnv?: boolean; yes?: boolean; status?: boolean }) =>
      (await import('./migrate.js')).migrateSql(dsn, options, context),
    );

  for (const add of extraCommands) add(program, context);
  return program;
}

/** Runs `kairos` with `argv` as process.argv (node, script, args…). */
export async function main(argv: string[]): Promise<void> {
  try {
    await createProgram().parseAsync(argv);
  } catch (err) {
    const { text, exitCode } = renderFatal(err, wantsStack(argv, loadedLogLevel));
    process.stderr.write(text);
    process.exit(exitCode);
  }
}
