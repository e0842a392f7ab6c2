/** `kairos doctor clock|totp`: the command definitions; the reports (cli/doctor.ts) load when a command runs. */
import type { Command } from 'commander';
import type { CommandContext } from './commands.js';

export function doctorCommands(program: Command, context: CommandContext): void {
  const doctor = program.command('doctor').description('diagnose MFA problems from the database (reads only)');
  doctor
    .command('clock')
    .description('server time, NTP offset, and the clock error TOTP users suggest')
    .option('-c, --config <file>', 'YAML config file')
    .option('--json', 'machine-readable output')
    .action(async (options: { config?: string; json?: boolean }) => {
      const { config } = await context.load({ config: options.config, dev: !options.config });
      const { doctorClock, formatClockReport } = await import('./doctor.js');
      const report = await doctorClock(config);
      process.stdout.write(options.json ? JSON.stringify(report, null, 2) + '\n' : formatClockReport(report));
    });
  doctor
    .command('totp')
    .description('the runbook for one user: authenticator entry, parameters, drift, old secrets, lockout, rejections')
    .argument('<identity>', 'identity id, or an identifier (e.g. the email)')
    .option('-c, --config <file>', 'YAML config file')
    .option('--code <code>', 'diagnose this code (as the user typed it)')
    .option('--at <time>', 'when the code was typed: ISO 8601 or Unix seconds (default: now)')
    .option('--json', 'machine-readable output')
    .option('--resync <codes>', 'resynchronise a drifting device from two consecutive codes, "123456,654321" (writes; see the console)')
    .option('--reason <text>', 'why (required with --resync; recorded in the audit trail)')
    .action(async (needle: string, options: { config?: string; code?: string; at?: string; json?: boolean; resync?: string; reason?: string }) => {
      const { config } = await context.load({ config: options.config, dev: !options.config });
      const { doctorTotp, formatTotpReport, parseAt } = await import('./doctor.js');
      const { systemClock } = await import('../support/clock.js');
      let atMs: number;
      try {
        atMs = parseAt(options.at, systemClock.nowMs());
      } catch (err) {
        process.stderr.write(`kairos: ${(err as Error).message}\n`);
        process.exit(2);
      }
      if (options.resync !== undefined) {
        const { resyncFromCli } = await import('../console/resync-cli.js');
        const result = await resyncFromCli(config, needle, options.resync, options.reason ?? '', atMs);
        (result.code === 0 ? process.stdout : process.stderr).write(result.text);
        process.exitCode = result.code;
        return;
      }
      const report = await doctorTotp(config, needle, { code: options.code, atMs });
      if (!report) {
        process.stderr.write(`kairos: no identity matches "${needle}"\n`);
        process.exit(1);
      }
      process.stdout.write(options.json ? JSON.stringify(report, null, 2) + '\n' : formatTotpReport(report));
    });
}
