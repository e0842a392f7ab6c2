/** The import's own reads of the Kairos database (the writes go through the identity service and the adapters). */
import type { Db } from '../../identity/repository.js';

/** Which of these identity ids Kairos already has (one query per page of Kratos identities). */
export async function existingIdentityIds(db: Db, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.selectFrom('identities').select('id').where('id', 'in', ids).execute();
  return new Set(rows.map((r) => r.id));
}
