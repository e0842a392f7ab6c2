import { FatalError, storageFailure } from '../errors/fatal.js';
import { openStorage, sqlitePath, type Storage } from '../storage/db.js';

/** Runs a storage operation; a failure the operator can fix (unreachable server, read-only directory…) is fatal. */
export async function withStorage<T>(storage: Pick<Storage, 'description'>, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw storageFailure(err, storage.description) ?? err;
  }
}

/** Opens the database from a DSN; an unknown scheme or an unwritable SQLite directory is fatal (exit 2). */
export function openStorageOrFail(dsn: string): Storage {
  try {
    return openStorage(dsn);
  } catch (err) {
    if (err instanceof TypeError && err.message.startsWith('dsn:')) throw new FatalError(`${err.message}; set dsn in the config file or the DSN environment variable`);
    const description = dsn.startsWith('postgres') ? 'postgres (dsn)' : `sqlite ${sqlitePath(dsn)}`;
    throw storageFailure(err, description) ?? err;
  }
}
