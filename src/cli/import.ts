/**
 * `kairos import kratos --from <Kratos DSN> -c kairos.yml [--dry-run] [--network <nid>] [--concurrency <n>] [--json]`: brings a Kratos
 * user base into the Kairos database of the config (src/import/kratos). A progress bar on stderr when it is a
 * terminal; the summary on stdout (text, or JSON with --json). Exit code 0 when every identity was imported or
 * already there, 1 when some failed (listed), 2 for unusable arguments or an unmigrated Kairos database.
 */
import cliProgress from 'cli-progress';
import { createDeps, createLogger, createModules } from '../registry.js';
import { pendingMigrations } from '../storage/migrate.js';
import { KratosImporter, type ImportSummary } from '../import/kratos/importer.js';
import { KratosSource, redactDsn } from '../import/kratos/source.js';
import type { CommandContext } from './commands.js';

export interface ImportKratosOptions { from: string; config?: string; dryRun?: boolean; network?: string; concurrency: string; json?: boolean }

/** The `kairos import kratos` action; src/cli/import-command.ts defines the command and loads this module when it runs. */
export async function runImportKratos(options: ImportKratosOptions, context: CommandContext): Promise<void> {
  const concurrency = Number(options.concurrency);
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 16) {
    process.stderr.write('kairos: --concurrency must be an integer from 1 to 16\n');
    process.exit(2);
  }
  const { config } = await context.load({ config: options.config });
  const deps = createDeps(config, { logger: createLogger({ ...config, log: { ...config.log, level: 'warn' } }) });
  let source: KratosSource | null = null;
  try {
    const pending = await pendingMigrations(deps.storage);
    if (pending.length > 0) {
      process.stderr.write(`kairos: the Kairos database has pending migrations (${pending.join(', ')}); run "kairos migrate sql" first\n`);
      process.exitCode = 2;
      return;
    }
    try {
      source = KratosSource.open(options.from);
    } catch (err) {
      process.stderr.write(`kairos: ${(err as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
    const adapters = Object.fromEntries(createModules(deps).flatMap((m) => m.adapters ?? []).map((a) => [a.type, a]));
    const bar = process.stderr.isTTY
      ? new cliProgress.SingleBar({ format: `${options.dryRun ? 'dry run: ' : ''}importing [{bar}] {percentage}% | {value}/{total} identities`, stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic)
      : null;
    let summary: ImportSummary;
    try {
      summary = await new KratosImporter(deps, adapters).run(source, {
        dryRun: options.dryRun,
        network: options.network,
        concurrency,
        onStart: (total) => bar?.start(total, 0),
        onProgress: (done) => bar?.update(done),
      });
    } catch (err) {
      bar?.stop();
      process.stderr.write(`kairos: import from ${redactDsn(options.from)} failed: ${(err as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
    bar?.stop();
    process.stdout.write(options.json ? JSON.stringify(summary, null, 2) + '\n' : formatSummary(summary));
    if (summary.failed.length > 0) process.exitCode = 1;
  } finally {
    await source?.close();
    await deps.storage.close();
  }
}

export function formatSummary(s: ImportSummary): string {
  const lines = [
    `${s.dryRun ? 'DRY RUN (nothing was written): ' : ''}Kratos ${s.source}${s.network ? ` network ${s.network}` : ''}: ${s.total} identities`,
    `  ${s.dryRun ? 'would import' : 'imported'}: ${s.imported} (passwords ${s.credentials.password}, TOTP ${s.credentials.totp}, recovery codes ${s.credentials.lookup_secret})`,
    `  skipped (already in Kairos, left unchanged): ${s.skipped.length}`,
    `  failed: ${s.failed.length}`,
  ];
  for (const f of s.failed) lines.push(`    ${f.id}: ${f.problems.join('; ')}`);
  if (s.skippedCredentials.length > 0) {
    lines.push(`  credentials not imported (identity imported without them): ${s.skippedCredentials.length}`);
    for (const c of s.skippedCredentials) lines.push(`    ${c.id}: ${c.type}: ${c.reason}`);
  }
  if (s.warnings.length > 0) {
    lines.push(`  warnings: ${s.warnings.length}`);
    for (const w of s.warnings) lines.push(`    ${w.id}: ${w.message}`);
  }
  return lines.join('\n') + '\n';
}
