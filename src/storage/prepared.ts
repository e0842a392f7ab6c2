/**
 * Queries built and compiled once, executed many times with new parameters (issue 12: "prepared statements
 * reused"). Kysely builds an operation tree and compiles it to SQL on every execution; for the statements of the hot
 * path (whoami's session lookup) that was about a sixth of the request's CPU in the bench profile. A prepared query
 * is built once with placeholder values, compiled once per dialect, and each execution hands the same SQL text with
 * its own parameters to the driver, which keeps the statement compiled (SQLite: the statement cache in db.ts).
 *
 *     const byToken = prepareQuery((db, p: { hash: string }) => db.selectFrom('sessions').selectAll().where('token_hash', '=', p.hash));
 *     const row = await byToken.takeFirst(db, { hash });
 *
 * Every bound value must come from `params`, and every param must be used as a bound value (never to choose the
 * query's shape): a value computed while building (a timestamp, say) would otherwise be frozen into every later
 * execution. Either mistake is an error at first use.
 */
import { CompiledQuery, type Compilable } from 'kysely';
import type { Db } from './db.js';

const PLACEHOLDER_PREFIX = '\u0000kairos-param:';

export interface PreparedQuery<P extends Record<string, unknown>, R> {
  execute(db: Db, params: P): Promise<R[]>;
  takeFirst(db: Db, params: P): Promise<R | undefined>;
  /** For INSERT/UPDATE/DELETE: the rows changed (and the rows RETURNING gave). */
  run(db: Db, params: P): Promise<{ rows: R[]; affectedRows: number }>;
}

export function prepareQuery<P extends Record<string, unknown>, R>(
  build: (db: Db, params: P) => Compilable<R>,
  names: readonly (keyof P & string)[],
): PreparedQuery<P, R> {
  // One compiled template per Kysely instance's dialect (SQLite and PostgreSQL differ in placeholders and quoting).
  const templates = new WeakMap<object, { sql: string; slots: (keyof P & string)[] }>();
  const template = (db: Db) => {
    const key = db.getExecutor().adapter;
    let found = templates.get(key);
    if (!found) {
      const placeholders = Object.fromEntries(names.map((n) => [n, PLACEHOLDER_PREFIX + n])) as unknown as P;
      const compiled = build(db, placeholders).compile();
      const slots = compiled.parameters.map((value) => {
        if (typeof value !== 'string' || !value.startsWith(PLACEHOLDER_PREFIX)) {
          throw new Error(`prepareQuery: a bound value (${JSON.stringify(value)}) does not come from params: ${compiled.sql}`);
        }
        return value.slice(PLACEHOLDER_PREFIX.length) as keyof P & string;
      });
      for (const n of names) if (!slots.includes(n)) throw new Error(`prepareQuery: param ${n} is not a bound value of the query`);
      found = { sql: compiled.sql, slots };
      templates.set(key, found);
    }
    return found;
  };
  const run = async (db: Db, params: P) => {
    const t = template(db);
    const parameters = t.slots.map((slot) => params[slot]);
    const result = await db.executeQuery<R>(CompiledQuery.raw(t.sql, parameters));
    return { rows: result.rows, affectedRows: Number(result.numAffectedRows ?? 0n) };
  };
  const execute = async (db: Db, params: P): Promise<R[]> => (await run(db, params)).rows;
  return { execute, run, takeFirst: async (db, params) => (await execute(db, params))[0] };
}
