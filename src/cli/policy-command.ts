/** `kairos policy explain`: the command definition; the report (mfa/policy/explain.ts) loads when it runs. */
import type { Command } from 'commander';
import type { CommandContext } from './commands.js';

export function policyCommands(program: Command, context: CommandContext): void {
  const policy = program.command('policy').description('MFA policy by role (selfservice.mfa): which rule applies and why (reads only)');
  policy
    .command('explain')
    .description('which rule applies to an identity and why, what it requires and allows, and where the identity stands (grace, deadline)')
    .argument('<identity>', 'identity id, or an identifier (e.g. the email)')
    .option('-c, --config <file>', 'YAML config file')
    .option('--json', 'machine-readable output')
    .action(async (needle: string, options: { config?: string; json?: boolean }) => {
      const { config } = await context.load({ config: options.config, dev: !options.config });
      const { explainPolicy, formatPolicyExplanation } = await import('../mfa/policy/explain.js');
      const report = await explainPolicy(config, needle);
      if (!report) {
        process.stderr.write(`kairos: no identity matches "${needle}"\n`);
        process.exit(1);
      }
      process.stdout.write(options.json ? JSON.stringify(report, null, 2) + '\n' : formatPolicyExplanation(report));
    });
}
