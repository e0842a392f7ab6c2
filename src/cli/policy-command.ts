/** `kairos policy explain`: the command definition; the report (cli/policy.ts) loads when it runs. */
import type { Command } from 'commander';
import type { CommandContext } from './commands.js';

export function policyCommands(program: Command, context: CommandContext): void {
  const policy = program.command('policy').description('MFA policy by role (selfservice.mfa): which rule applies and why (reads only)');
  policy
    .command('explain')
    .description('which rule applies to an identity and why, what it requires and allows, and where the identity stands (grace, deadline)')
    .argument('<identity>', 'identity id, or an identifier (e.g. the email)')
    .option('-c, --config <file>', 'YAML config file')
    .option('--at <time>', 'evaluate the grace period at this time: ISO 8601 or Unix seconds (default: now)')
    .option('--json', 'machine-readable output')
    .action(async (needle: string, options: { config?: string; json?: boolean; at?: string }) => {
      const { config } = await context.load({ config: options.config, dev: !options.config });
      const { explainPolicy, formatPolicyExplanation } = await import('./policy.js');
      const { parseAt } = await import('./doctor.js');
      let atMs: number;
      try {
        atMs = parseAt(options.at, Date.now());
      } catch (err) {
        process.stderr.write(`kairos: ${(err as Error).message}\n`);
        process.exit(2);
      }
      const report = await explainPolicy(config, needle, { nowMs: () => atMs });
      if (!report) {
        process.stderr.write(`kairos: no identity matches "${needle}"\n`);
        process.exit(1);
      }
      process.stdout.write(options.json ? JSON.stringify(report, null, 2) + '\n' : formatPolicyExplanation(report));
    });
}
