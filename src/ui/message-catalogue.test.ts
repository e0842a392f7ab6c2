/**
 * The message and error catalogue (ui/message-catalogue.ts) against the code and the docs: every id the code uses is
 * catalogued, every catalogued id is used, each sits in its range (Kratos's or a Kairos module's), a Kairos range is
 * never shared, and docs/messages.md lists exactly these ids. docs/messages.md is generated from the catalogue:
 * `KAIROS_WRITE_DOCS=1 npx vitest run src/ui/message-catalogue.test.ts` rewrites it.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS, MESSAGE_RANGES, MESSAGES } from './message-catalogue.js';
import { en } from './i18n/en.js';
import { KAIROS_ERROR_RANGE, KAIROS_INFO_RANGE } from './messages.js';

const root = join(import.meta.dirname, '..', '..');
const DOC = join(root, 'docs', 'messages.md');

/** The TypeScript of src/ (tests and the translations aside), without comments: what the code really uses. */
function sources(): { file: string; code: string }[] {
  return readdirSync(join(root, 'src'), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && e.name !== 'message-catalogue.ts' && !e.parentPath.includes('/i18n'))
    .map((e) => join(e.parentPath, e.name))
    .map((path) => ({
      file: relative(root, path),
      code: readFileSync(path, 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/(^|[^:'"`\\])\/\/[^\n]*/g, '$1'),
    }));
}

/** Seven-digit numbers in 1xxxxxx, 4xxxxxx, 5xxxxxx written as a literal: message ids (ranges are written 1_900_000). */
function messageIdsInCode(): Map<number, string[]> {
  const found = new Map<number, string[]>();
  for (const { file, code } of sources()) {
    for (const match of code.matchAll(/(?<![\w.])([145]\d{6})(?![\w.])/g)) {
      const id = Number(match[1]);
      found.set(id, [...new Set([...(found.get(id) ?? []), file])]);
    }
  }
  return found;
}

/** `error.id`s the code builds: `id: '…'` in errors/http-error.ts and in any `new HttpError(…)`. */
function errorIdsInCode(): Map<string, number> {
  const found = new Map<string, number>();
  for (const { file, code } of sources()) {
    const calls = file === 'src/errors/http-error.ts' ? code.split(/(?=\bmake\()/) : code.split(/(?=new HttpError\()/).slice(1);
    for (const call of calls) {
      const status = /^(?:make|new HttpError)\(\s*(\d{3})/.exec(call);
      const id = /\bid: '([a-z][a-z0-9_]*)'/.exec(call);
      if (status && id) found.set(id[1]!, Number(status[1]));
    }
  }
  return found;
}

const rangeOf = (id: number) => MESSAGE_RANGES.filter((r) => id >= r.from && id <= r.to);

export function renderDoc(): string {
  const lines = [
    '# Messages and errors',
    '',
    '<!-- Generated from src/ui/message-catalogue.ts by its test (KAIROS_WRITE_DOCS=1 npx vitest run src/ui/message-catalogue.test.ts); do not edit. -->',
    '',
    'Every message Kairos puts in a flow (`ui.messages`, a node\'s `messages`, `meta.label`) has a numeric id. Kratos\'s',
    'ids (`text/id.go`) keep Kratos\'s meaning, so UIs that switch on them keep working; Kairos\'s own messages use',
    `ranges Kratos does not: ${KAIROS_INFO_RANGE[0]}–${KAIROS_INFO_RANGE[1]} (information) and ${KAIROS_ERROR_RANGE[0]}–${KAIROS_ERROR_RANGE[1]} (errors), one block of`,
    'a hundred per module. An id is never reused. Texts in the hosted UI come from the translations (`src/ui/i18n/`);',
    'API responses carry the English text.',
    '',
    '## Ranges',
    '',
    '| from | to | origin | owner |',
    '|---|---|---|---|',
    ...MESSAGE_RANGES.map((r) => `| ${r.from} | ${r.to} | ${r.origin} | ${r.owner} |`),
    '',
    '## Message ids',
    '',
    '| id | origin | meaning |',
    '|---|---|---|',
    ...Object.entries(MESSAGES).map(([id, about]) => `| ${id} | ${rangeOf(Number(id))[0]?.origin ?? '?'} | ${about.replaceAll('|', '\\|')} |`),
    '',
    '## Error ids',
    '',
    'The `id` of Kratos\'s error envelope, `{"error": {"id", "code", "status", "reason", "message", "details"}}`.',
    '',
    '| id | status | origin | meaning |',
    '|---|---|---|---|',
    ...Object.entries(ERRORS).map(([id, e]) => `| \`${id}\` | ${e.status} | ${e.origin} | ${e.about.replaceAll('|', '\\|')} |`),
    '',
  ];
  return lines.join('\n');
}

describe('message and error catalogue', () => {
  it('every message id the code uses is catalogued, and every catalogued id is used', () => {
    const used = messageIdsInCode();
    const catalogued = new Set(Object.keys(MESSAGES).map(Number));
    expect([...used].filter(([id]) => !catalogued.has(id)).map(([id, files]) => `${id} (${files.join(', ')})`)).toEqual([]);
    expect([...catalogued].filter((id) => !used.has(id))).toEqual([]);
  });

  it('every id the translations know is catalogued', () => {
    const translated = Object.keys(en).filter((k) => /^\d+$/.test(k)).map(Number);
    expect(translated.filter((id) => !(id in MESSAGES))).toEqual([]);
  });

  it('every id is in exactly one range: Kratos\'s, or the Kairos module block it belongs to', () => {
    const outside = Object.keys(MESSAGES).map(Number).filter((id) => rangeOf(id).length !== 1);
    expect(outside).toEqual([]);
    for (const id of Object.keys(MESSAGES).map(Number)) {
      const range = rangeOf(id)[0]!;
      const kairos = (id >= KAIROS_INFO_RANGE[0] && id <= KAIROS_INFO_RANGE[1]) || (id >= KAIROS_ERROR_RANGE[0] && id <= KAIROS_ERROR_RANGE[1]);
      expect(range.origin === 'kairos', String(id)).toBe(kairos);
    }
  });

  it('ranges do not overlap, and Kairos\'s lie inside its two ranges (DESIGN §1)', () => {
    const sorted = [...MESSAGE_RANGES].sort((a, b) => a.from - b.from);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.from, `${sorted[i - 1]!.owner} / ${sorted[i]!.owner}`).toBeGreaterThan(sorted[i - 1]!.to);
    for (const r of MESSAGE_RANGES.filter((r) => r.origin === 'kairos')) {
      const inInfo = r.from >= KAIROS_INFO_RANGE[0] && r.to <= KAIROS_INFO_RANGE[1];
      const inError = r.from >= KAIROS_ERROR_RANGE[0] && r.to <= KAIROS_ERROR_RANGE[1];
      expect(inInfo || inError, r.owner).toBe(true);
    }
  });

  it('a Kairos id belongs to one module: every file that uses it is in the module its range names', () => {
    // Kratos's ids are shared by design (a label such as 1070009 "Continue" is used by every method); Kairos's are
    // not: two modules using one id would be two messages under one id.
    const strays: string[] = [];
    for (const [id, files] of messageIdsInCode()) {
      const range = rangeOf(id)[0];
      if (range?.origin !== 'kairos') continue;
      const folder = range.owner.split(/[ :,]/)[0]!;
      const users = files.filter((f) => !f.startsWith(`src/${folder}/`) && !f.startsWith('src/ui/'));
      if (users.length > 0) strays.push(`${id} (${range.owner}) used in ${users.join(', ')}`);
    }
    expect(strays).toEqual([]);
  });

  it('every error id the code builds is catalogued with its status, and Kairos\'s own are kairos_*', () => {
    const used = errorIdsInCode();
    expect(Object.fromEntries([...used].sort())).toEqual(Object.fromEntries(Object.entries(ERRORS).map(([id, e]) => [id, e.status]).sort()));
    for (const [id, e] of Object.entries(ERRORS)) expect(e.origin === 'kairos', id).toBe(id.startsWith('kairos_'));
  });

  it('docs/messages.md lists exactly the catalogue (generated from it)', () => {
    const expected = renderDoc();
    if (process.env.KAIROS_WRITE_DOCS === '1') writeFileSync(DOC, expected);
    expect(readFileSync(DOC, 'utf8'), 'regenerate: KAIROS_WRITE_DOCS=1 npx vitest run src/ui/message-catalogue.test.ts').toBe(expected);
  });
});
