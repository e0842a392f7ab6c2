/** `kairos courier watch`: a courier worker on its own (Kratos's command), sharing the outbox with every instance. */
import type { Command } from 'commander';
import type { CommandContext } from './commands.js';

export function courierCommand(program: Command, context: CommandContext): void {
  const courier = program.command('courier').description('the email courier');
  courier
    .command('watch')
    .description('deliver queued messages from the outbox (run any number of these; each message is claimed by one)')
    .option('-c, --config <file>', 'YAML config file with Kratos keys')
    .action(async (options: { config?: string }) => {
      const { createDeps, createLogger } = await import('../registry.js');
      const { assertMigrated } = await import('../server.js');
      const { courierModule } = await import('../courier/module.js');
      const { config, warnings } = await context.load({ config: options.config });
      const logger = createLogger(config);
      for (const warning of warnings) logger.warn(warning);
      const deps = createDeps(config, { logger });
      await assertMigrated(deps).catch((err: Error) => {
        logger.fatal(err.message);
        process.exit(1);
      });
      const module = courierModule({ ...deps, config: { ...config, courier: { ...config.courier, worker: { ...config.courier.worker, enabled: true } } } });
      await module.start?.({} as never);
      logger.info('courier: watching the outbox');
      const shutdown = async () => {
        await module.stop?.();
        await deps.storage.close();
        process.exit(0);
      };
      process.on('SIGTERM', () => void shutdown());
      process.on('SIGINT', () => void shutdown());
    });
}
