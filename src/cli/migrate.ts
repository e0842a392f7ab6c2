/** `kairos migrate sql`: apply (or list) the database migrations, like Kratos's command of the same name. */
import { migrateToLatest, migrationStatus } from '../storage/migrate.js';
import { openStorage } from '../storage/db.js';
import type { CommandContext } from './commands.js';

export async function migrateSql(
  dsnArg: string | undefined,
  options: { config?: string; readFromEnv?: boolean; yes?: boolean; status?: boolean },
  context: CommandContext,
): Promise<void> {
  const dsn = dsnArg ?? (options.readFromEnv ? process.env.DSN : undefined) ?? (options.config ? (await context.load({ config: options.config })).config.dsn : undefined);
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
}
