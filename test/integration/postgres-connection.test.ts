/**
 * The settings Kairos puts on its own PostgreSQL connections (storage/db.ts `openStorage`).
 */
import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openStorage } from '../../src/storage/db.js';
import { DIALECTS, PG_URL } from '../support/harness.js';

describe.skipIf(!DIALECTS.includes('postgres'))('PostgreSQL connections (skipped only without PostgreSQL)', () => {
  const show = async (dsn: string) => {
    const storage = openStorage(dsn);
    try {
      return (await sql<{ jit: string }>`show jit`.execute(storage.db)).rows[0]!.jit;
    } finally {
      await storage.close();
    }
  };

  it('JIT is off, so a statement with stale statistics is never compiled on every execution', async () => {
    expect(await show(PG_URL)).toBe('off');
  });

  it('with ?prepared_statements=false (a pooler in transaction mode) no startup option is sent: the server default stays', async () => {
    const url = new URL(PG_URL);
    url.searchParams.set('prepared_statements', 'false');
    expect(await show(url.toString())).toBe('on');
  });
});
