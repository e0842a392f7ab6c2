/**
 * `kairos secrets rotate`: re-encrypts every stored secret with the first `secrets.cipher` key (crypto/rotation.ts),
 * in batches, with a progress bar on a terminal. Idempotent: run it again after an interruption. Exit code 1 when
 * some token could not be decrypted with any configured key (those rows are left unchanged and listed by source).
 */
import type { Command } from 'commander';
import type { CommandContext } from './commands.js';

const DEFAULT_BATCH_SIZE = 500;

export function secretsCommand(program: Command, context: CommandContext): void {
  const secrets = program.command('secrets').description('secrets at rest');
  secrets
    .command('rotate')
    .description('re-encrypt every stored secret (TOTP secrets, pending enrollments) with the first secrets.cipher key')
    .option('-c, --config <file>', 'YAML config file with Kratos keys')
    .option('--batch-size <rows>', 'rows per transaction', String(DEFAULT_BATCH_SIZE))
    .action(async (options: { config?: string; batchSize: string }) => {
      const batchSize = Number(options.batchSize);
      if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
        process.stderr.write('kairos: --batch-size must be a positive integer\n');
        process.exit(2);
      }
      const { config } = await context.load({ config: options.config });
      // Loaded when the command runs, so `kairos --help` does not load the database drivers.
      const [{ default: cliProgress }, { SecretCipher }, { rotateAllSecrets }, { openStorage }, { pendingMigrations }, { cryptoRandom }] = await Promise.all([
        import('cli-progress'),
        import('../crypto/secret-cipher.js'),
        import('../crypto/rotation.js'),
        import('../storage/db.js'),
        import('../storage/migrate.js'),
        import('../support/random.js'),
      ]);
      if (config.secrets.cipher.length === 0) {
        process.stderr.write('kairos: secrets.cipher is empty: nothing to encrypt with\n');
        process.exit(2);
      }
      const cipher = new SecretCipher(config.secrets.cipher, cryptoRandom);
      const storage = openStorage(config.dsn);
      let failed = 0;
      try {
        const pending = await pendingMigrations(storage);
        if (pending.length > 0) {
          process.stderr.write(`kairos: the database has pending migrations (${pending.join(', ')}); run "kairos migrate sql" first\n`);
          process.exitCode = 2;
          return;
        }
        const bar = new cliProgress.SingleBar(
          { format: 'rotating secrets [{bar}] {percentage}% | {value}/{total} rows', stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        const summary = await rotateAllSecrets({
          db: storage.db,
          cipher,
          batchSize,
          onStart: (total) => bar.start(total, 0),
          onProgress: (scanned) => bar.update(scanned),
        });
        bar.stop();
        failed = summary.failed;
        for (const [name, counts] of Object.entries(summary.bySource)) {
          process.stdout.write(`${name}: ${counts.rotated} re-encrypted, ${counts.failed} undecryptable (${counts.scanned} rows scanned)\n`);
        }
        process.stdout.write(`rotated ${summary.rotated} secret(s) to key ${cipher.primaryKeyId}\n`);
        if (failed > 0) process.stderr.write(`kairos: ${failed} secret(s) could not be decrypted with any secrets.cipher key and were left unchanged\n`);
      } finally {
        await storage.close();
      }
      if (failed > 0) process.exitCode = 1;
    });
}
