/** `kairos audit`: the command definition; the query and formatting (cli/audit.ts) load when it runs. */
import type { Command } from 'commander';
import type { AuditCommandOptions } from './audit.js';
import type { CommandContext } from './commands.js';

export function addAuditCommand(program: Command, context: CommandContext): void {
  program
    .command('audit')
    .description('list audit events (who did what, when, from where); never shows a secret')
    .option('-c, --config <file>', 'config file (its dsn is read)')
    .option('--dsn <dsn>', 'database DSN instead of the config\'s')
    .option('--identity <id>', 'only events of this identity')
    .option('--type <type...>', 'only these event types (repeat or comma-separate)')
    .option('--since <time>', 'from this RFC 3339 time (inclusive)')
    .option('--until <time>', 'up to this RFC 3339 time (exclusive)')
    .option('--limit <n>', 'page size (1–1000, default 250)')
    .option('--page-token <token>', 'continue after a previous page')
    .option('--json', 'JSON output')
    .action(async (options: AuditCommandOptions & { config?: string; dsn?: string }) => {
      const dsn = options.dsn ?? process.env.DSN ?? (await context.load({ config: options.config })).config.dsn;
      const { runAuditCommand } = await import('./audit.js');
      process.exitCode = await runAuditCommand(dsn, options, (t) => process.stdout.write(t), (t) => process.stderr.write(t));
    });
}
