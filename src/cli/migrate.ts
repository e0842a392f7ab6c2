/** `kairos migrate sql`: apply (or list) the database migrations, like Kratos's command of the same name. */
import { migrateToLatest, migrationStatus } from '../storage/migrate.js';
import { FatalError } from '../errors/fatal.js';
import type { CommandContext } from './commands.js';
import { openStorageOrFail, withStorage } from './storage-errors.js';

export async function migrateSql(
  dsnArg: string | undefined,
  options: { config?: string; readFromEnv?: boolean; yes?: boolean; status?: boolean },
  context: CommandContext,
): Promise<void> {
  // The same discovery as `serve`: the DSN argument, else -e (the DSN variable, like Kratos), else the config
  // (-c file with environment overrides, or dev mode without one).
  let dsn = dsnArg;
  if (!dsn && options.readFromEnv) {
    dsn = process.env.DSN;
    if (!dsn) throw new FatalError('migrate sql -e: the DSN environment variable is not set');
  }
  dsn ??= (await context.load({ config: options.config })).config.dsn;
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
}
