/** `kairos report friction`: the command definition; the report (reports/friction.ts) loads when it runs. */
import type { Command } from 'commander';
import type { CommandContext } from './commands.js';

export function reportCommands(program: Command, context: CommandContext): void {
  const report = program.command('report').description('reports computed from the audit trail (reads only)');
  report
    .command('friction')
    .description('the MFA rollout friction baseline per week and policy rule: lockouts, enrollments, recovery codes, recoveries, helpdesk actions')
    .option('-c, --config <file>', 'config file (its dsn is read)')
    .option('--dsn <dsn>', 'database DSN instead of the config\'s')
    .option('--since <period>', 'how far back: 90d, 12w, 24h, or an RFC 3339 time', '90d')
    .option('--until <time>', 'up to this RFC 3339 time (default now)')
    .option('--json', 'JSON output (the same document as GET /admin/reports/friction)')
    .option('--csv', 'CSV output, one line per week and rule')
    .action(async (options: { config?: string; dsn?: string; since: string; until?: string; json?: boolean; csv?: boolean }) => {
      if (options.json && options.csv) {
        process.stderr.write('kairos report friction: choose --json or --csv, not both\n');
        process.exitCode = 2;
        return;
      }
      const config = options.config || (!options.dsn && !process.env.DSN) ? (await context.load({ config: options.config })).config : null;
      const dsn = options.dsn ?? process.env.DSN ?? config!.dsn;
      const { runFrictionReport } = await import('../reports/cli.js');
      const { systemClock } = await import('../support/clock.js');
      process.exitCode = await runFrictionReport(dsn, options, (t) => process.stdout.write(t), (t) => process.stderr.write(t), systemClock, config);
    });
}
