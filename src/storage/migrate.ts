import { Migrator, type MigrationResult } from 'kysely';
import type { Storage } from './db.js';
import { migrations } from './migrations/index.js';

function migrator(storage: Storage): Migrator {
  return new Migrator({
    db: storage.db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'kairos_migrations',
    migrationLockTableName: 'kairos_migrations_lock',
    // Kysely looks for its tables by schema; without this it may find another schema's on a shared server.
    ...(storage.schema ? { migrationTableSchema: storage.schema } : {}),
  });
}

/**
 * Kysely's migrator finds its own tables by introspecting every schema of the database (`has_schema_privilege`,
 * `pg_get_serial_sequence` over all of pg_class). When another schema on the same PostgreSQL server is dropped at
 * that moment (other tenants, parallel test runs), the catalog query fails with "schema … does not exist" (3F000) or
 * "relation … does not exist" (42P01) about a schema that is not ours. Those errors are retried; migrations run in
 * transactions on PostgreSQL, so a retry never sees a half-applied one.
 */
const CATALOG_RACE_CODES = new Set(['3F000', '42P01']);
const CATALOG_RACE_RETRIES = 10;
/** Linear backoff between retries: a burst of schema drops elsewhere is over within a few hundred milliseconds. */
const CATALOG_RACE_BACKOFF_MS = 50;

function isCatalogRace(error: unknown, storage: Storage): boolean {
  if (storage.dialect !== 'postgres') return false;
  const code = (error as { code?: string } | null)?.code;
  return typeof code === 'string' && CATALOG_RACE_CODES.has(code);
}

async function withCatalogRetry<T>(storage: Storage, run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (attempt >= CATALOG_RACE_RETRIES || !isCatalogRace(error, storage)) throw error;
      await new Promise((resolve) => setTimeout(resolve, CATALOG_RACE_BACKOFF_MS * attempt));
    }
  }
}

export interface MigrationStatus {
  name: string;
  executedAt: Date | null;
}

export async function migrationStatus(storage: Storage): Promise<MigrationStatus[]> {
  const all = await withCatalogRetry(storage, () => migrator(storage).getMigrations());
  return all.map((m) => ({ name: m.name, executedAt: m.executedAt ?? null }));
}

export async function pendingMigrations(storage: Storage): Promise<string[]> {
  return (await migrationStatus(storage)).filter((m) => !m.executedAt).map((m) => m.name);
}

/** Applies every pending migration; throws with the failing migration's name. */
export async function migrateToLatest(storage: Storage): Promise<MigrationResult[]> {
  const { error, results } = await withCatalogRetry(storage, async () => {
    const outcome = await migrator(storage).migrateToLatest();
    // Kysely reports failures in the result set; surface a catalog race as a throw so it is retried.
    if (outcome.error && isCatalogRace(outcome.error, storage)) throw outcome.error;
    return outcome;
  });
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${(error as Error).message ?? String(error)}`, { cause: error });
  }
  return results ?? [];
}
