/**
 * Finding an identity at 100,000 identities and more, with indexed queries only:
 * - an id (UUID): the primary key;
 * - an identifier (what people sign in with: email, username, a passkey's user handle…): the unique
 *   `(type, identifier)` index, by prefix (`identifier >= q and identifier < q || U+FFFF`, for each credential type
 *   in play, so every probe is an index range);
 * - an address (verification or recovery): `(via, value)` indexes, exact (lower-cased);
 * - a trait (`field=value`, or any text in the traits with `trait:` mode): the traits are JSON text without an
 *   index, so this is the one scan; it is bounded by the page size and says so on the page.
 * Results are paginated by keyset (`after`), never by offset.
 */
import type { Db } from '../storage/db.js';

export const SEARCH_PAGE_SIZE = 25;
export type SearchMode = 'any' | 'identifier' | 'address' | 'id' | 'trait';
export const SEARCH_MODES: SearchMode[] = ['any', 'identifier', 'address', 'id', 'trait'];

export interface SearchHit {
  identityId: string;
  /** What matched, to show beside the identity. */
  matched: string;
  via: string;
}

export interface SearchPage {
  hits: SearchHit[];
  /** Cursor for the next page, or null. */
  next: string | null;
  scanned: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HIGH = '\uffff';

export async function searchIdentities(db: Db, input: { q: string; mode: SearchMode; after?: string | null; credentialTypes: string[] }): Promise<SearchPage> {
  const q = input.q.trim();
  if (!q) return { hits: [], next: null, scanned: false };
  const mode = input.mode;
  const hits: SearchHit[] = [];
  if ((mode === 'any' || mode === 'id') && UUID.test(q)) {
    const row = await db.selectFrom('identities').select('id').where('id', '=', q.toLowerCase()).executeTakeFirst();
    if (row) return { hits: [{ identityId: row.id, matched: row.id, via: 'id' }], next: null, scanned: false };
    if (mode === 'id') return { hits: [], next: null, scanned: false };
  }
  if (mode === 'id') return { hits: [], next: null, scanned: false };
  if (mode === 'trait') return traitSearch(db, q, input.after ?? null);
  if (mode === 'any' || mode === 'address') {
    const value = q.toLowerCase();
    const verifiable = await db.selectFrom('identity_verifiable_addresses').select(['identity_id', 'value', 'via']).where('via', 'in', ['email', 'sms']).where('value', 'in', [...new Set([q, value])]).limit(SEARCH_PAGE_SIZE).execute();
    const recovery = await db.selectFrom('identity_recovery_addresses').select(['identity_id', 'value', 'via']).where('via', 'in', ['email', 'sms']).where('value', 'in', [...new Set([q, value])]).limit(SEARCH_PAGE_SIZE).execute();
    const secondary = await db.selectFrom('identity_secondary_recovery_addresses').select(['identity_id', 'value', 'via']).where('via', 'in', ['email', 'sms']).where('value', 'in', [...new Set([q, value])]).limit(SEARCH_PAGE_SIZE).execute();
    if (!input.after) for (const r of [...verifiable, ...recovery, ...secondary]) hits.push({ identityId: r.identity_id, matched: r.value, via: `${r.via} address` });
    if (mode === 'address') return { hits: dedupe(hits), next: null, scanned: false };
  }
  // Identifiers by prefix, one index range per credential type, merged in identifier order.
  const prefix = q.toLowerCase();
  const after = input.after ?? null;
  const perType = await Promise.all(
    input.credentialTypes.map(async (type) => {
      let query = db
        .selectFrom('identity_credential_identifiers')
        .select(['identity_id', 'identifier', 'type'])
        .where('type', '=', type)
        .where('identifier', '>=', after && after >= prefix ? after : prefix)
        .where('identifier', '<', prefix + HIGH);
      if (after) query = query.where('identifier', '>', after);
      return query.orderBy('identifier').limit(SEARCH_PAGE_SIZE + 1).execute();
    }),
  );
  const merged = perType.flat().sort((a, b) => (a.identifier < b.identifier ? -1 : a.identifier > b.identifier ? 1 : 0));
  const page = merged.slice(0, SEARCH_PAGE_SIZE);
  for (const r of page) hits.push({ identityId: r.identity_id, matched: r.identifier, via: `${r.type} identifier` });
  const next = merged.length > SEARCH_PAGE_SIZE ? page.at(-1)!.identifier : null;
  return { hits: dedupe(hits), next, scanned: false };
}

function dedupe(hits: SearchHit[]): SearchHit[] {
  const seen = new Set<string>();
  return hits.filter((h) => (seen.has(h.identityId) ? false : (seen.add(h.identityId), true)));
}

/** `field=value` (a top-level trait equal to value, e.g. `name=Jane`) or free text inside the traits: a bounded scan. */
async function traitSearch(db: Db, q: string, after: string | null): Promise<SearchPage> {
  const eq = /^([A-Za-z0-9_.-]{1,64})=(.{1,200})$/.exec(q);
  const needle = eq ? eq[2]! : q.slice(0, 200);
  // No escape character is portable across SQLite and PostgreSQL: `%` becomes the one-character wildcard, and the
  // exact test below (or, for free text, a harmless extra hit) does the rest.
  const like = `%${needle.replaceAll('%', '_')}%`;
  let query = db.selectFrom('identities').select(['id', 'traits']).where('traits', 'like', like);
  if (after) query = query.where('id', '>', after);
  // The LIKE is a filter over the JSON text; the exact field test happens below on each candidate.
  const rows = await query.orderBy('id').limit(SEARCH_PAGE_SIZE * 4 + 1).execute();
  const hits: SearchHit[] = [];
  let last: string | null = null;
  for (const row of rows.slice(0, SEARCH_PAGE_SIZE * 4)) {
    last = row.id;
    const traits = JSON.parse(row.traits) as Record<string, unknown>;
    const value = eq ? eq[1]!.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), traits) : null;
    if (eq ? String(value ?? '').toLowerCase() === needle.toLowerCase() : true) hits.push({ identityId: row.id, matched: eq ? `${eq[1]} = ${String(value)}` : 'traits contain the text', via: 'trait' });
    if (hits.length === SEARCH_PAGE_SIZE) break;
  }
  const more = rows.length > SEARCH_PAGE_SIZE * 4 || hits.length === SEARCH_PAGE_SIZE;
  return { hits, next: more ? last : null, scanned: true };
}
