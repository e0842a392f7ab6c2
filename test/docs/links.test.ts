/**
 * The project's documents point only inside the repository: every relative Markdown link and every backticked
 * repository path (`deploy/compose.yml`, `src/config/schema.ts`…) in them names a file or folder that exists, and
 * none reaches outside the checkout (`../…`, absolute paths).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const DOCUMENTS = ['README.md', 'SECURITY.md', 'CHANGELOG.md', 'bench/README.md'];
/** Top-level entries a backticked path must start with to count as a repository path (not a URL path or a file in a container). */
const REPO_DIRS = ['src/', 'test/', 'deploy/', 'docs/', 'bench/', 'bin/', '.ci/'];
/** Files the reader or a command creates (deploy/.env, the quick bench's output); .gitignore keeps them out. */
const CREATED_BY_THE_READER = ['deploy/.env', 'bench/results.quick.json', 'bench/RESULTS.quick.md'];
const REPO_FILES = ['Containerfile', '.containerignore', 'LICENSE', 'SECURITY.md', 'CHANGELOG.md', 'package.json', 'README.md'];

describe.each(DOCUMENTS.filter((d) => existsSync(join(ROOT, d))))('%s links resolve inside the repository', (document) => {
  const text = readFileSync(join(ROOT, document), 'utf8');
  const base = join(ROOT, document, '..');

  it('relative Markdown links name existing files, inside the checkout', () => {
    const targets = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:/.test(t) && !t.startsWith('#'));
    const broken = targets.filter((t) => {
      const path = resolve(base, t.split('#')[0]!);
      return relative(ROOT, path).startsWith('..') || !existsSync(path);
    });
    expect(broken).toEqual([]);
  });

  it('backticked repository paths exist, and none points outside the checkout', () => {
    const paths = [...text.matchAll(/`([^`\s]+)`/g)].map((m) => m[1]!.replace(/[),.:]+$/, ''));
    expect(paths.filter((p) => p.startsWith('../') || p.startsWith('/work/'))).toEqual([]);
    const repoPaths = paths.filter((p) => (REPO_DIRS.some((d) => p.startsWith(d)) || REPO_FILES.includes(p)) && !/[<>*{}]/.test(p) && !CREATED_BY_THE_READER.includes(p));
    const missing = repoPaths.filter((p) => !existsSync(join(ROOT, p.split(':')[0]!)));
    expect(missing).toEqual([]);
  });
});
