/**
 * Defines `kairos import kratos` (src/cli/import.ts runs it). Only the definition loads with the CLI: the importer,
 * the database drivers and the progress bar load when the command runs.
 */
import type { Command } from 'commander';
import type { CommandContext } from './commands.js';
import type { ImportKratosOptions } from './import.js';

export function importCommand(program: Command, context: CommandContext): void {
  const command = program.command('import').description('bring identities over from another system');
  command
    .command('kratos')
    .description('import identities, addresses, passwords, TOTP and recovery codes from a Kratos database')
    .requiredOption('--from <dsn>', 'DSN of the Kratos database (postgres://… or sqlite://…), opened read-only')
    .option('-c, --config <file>', 'Kairos config (its dsn is the database imported into)')
    .option('--dry-run', 'do everything in transactions that are rolled back: report what would happen, write nothing')
    .option('--network <nid>', 'Kratos network id (needed only when the database has several)')
    .option('--concurrency <n>', 'identities imported at once on PostgreSQL (SQLite: always 1)', '4')
    .option('--json', 'print the summary as JSON')
    .action(async (options: ImportKratosOptions) => {
      const { runImportKratos } = await import('./import.js');
      await runImportKratos(options, context);
    });
}
