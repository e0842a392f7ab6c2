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

export interface MigrationStatus {
  name: string;
  executedAt: Date | null;
}

export async function migrationStatus(storage: Storage): Promise<MigrationStatus[]> {
  const all = await migrator(storage).getMigrations();
  return all.map((m) => ({ name: m.name, executedAt: m.executedAt ?? null }));
}

export async function pendingMigrations(storage: Storage): Promise<string[]> {
  return (await migrationStatus(storage)).filter((m) => !m.executedAt).map((m) => m.name);
}

/** Applies every pending migration; throws with the failing migration's name. */
export async function migrateToLatest(storage: Storage): Promise<MigrationResult[]> {
  const { error, results } = await migrator(storage).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${(error as Error).message ?? String(error)}`);
  }
  return results ?? [];
}
