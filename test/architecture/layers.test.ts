/**
 * Layers the compiler enforces (issue 12, point 4): the dependency rules of `.dependency-cruiser.cjs`, cycles
 * between modules, and SQL only in repositories. A new violation fails `npm test` with the offending import.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

interface CruiseDependency {
  resolved: string;
  dependencyTypes: string[];
}
interface CruiseModule {
  source: string;
  dependencies: CruiseDependency[];
}
interface CruiseResult {
  modules: CruiseModule[];
  summary: { violations: { rule: { name: string }; from: string; to: string; cycle?: unknown[] }[] };
}

/**
 * Known violations still to be fixed, each `rule: from → to`. Kept empty; an entry here must say why it cannot be
 * fixed yet, and the test fails once it is fixed so the list only shrinks.
 */
const KNOWN: string[] = [];

let cached: CruiseResult | null = null;
function cruise(): CruiseResult {
  if (cached) return cached;
  // The CLI, as `npx depcruise src` runs it (its bin is not in the package's exports).
  const bin = join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
  const run = spawnSync(process.execPath, [bin, 'src', '--config', '.dependency-cruiser.cjs', '--output-type', 'json'], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (!run.stdout) throw new Error(`dependency-cruiser did not run: ${run.stderr}`);
  cached = JSON.parse(run.stdout) as CruiseResult;
  return cached;
}

/** Module cycles still to be broken (issue 12: the four named there); the list only shrinks. */
const KNOWN_MODULE_CYCLES = ['src ⇄ src/courier', 'src/credentials/lookup-secret ⇄ src/ui/hosted', 'src/credentials/totp ⇄ src/mfa/diagnosis', 'src/flows/recovery ⇄ src/recovery'];

/** A dependency that exists at run time (not an `import type`, not an import used only as a type). */
function isRuntime(dependency: CruiseDependency): boolean {
  return !dependency.dependencyTypes.some((t) => t === 'pre-compilation-only' || t === 'type-only' || t === 'type-import');
}

/** Strongly connected components of more than one node (Tarjan). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let index = 0;
  const stack: string[] = [];
  const onStack = new Set<string>();
  const indexOf = new Map<string, number>();
  const low = new Map<string, number>();
  const found: string[][] = [];
  const visit = (v: string) => {
    indexOf.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indexOf.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indexOf.get(w)!));
    }
    if (low.get(v) === indexOf.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!indexOf.has(v)) visit(v);
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

/** dependency-cruiser reads the whole tree (some 30 s on a loaded two-core machine); not a speed test. */
const CRUISE_TIMEOUT_MS = 180_000;

describe('layers', { timeout: CRUISE_TIMEOUT_MS }, () => {
  it('breaks none of the dependency rules in .dependency-cruiser.cjs', () => {
    const found = cruise().summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
    expect(found.filter((v) => !KNOWN.includes(v))).toEqual([]);
    expect(KNOWN.filter((v) => !found.includes(v)), 'fixed: remove from KNOWN').toEqual([]);
  });

  it('has no runtime cycle between modules (a module is a folder of src/)', () => {
    const folder = (path: string) => path.slice(0, path.lastIndexOf('/'));
    const graph = new Map<string, Set<string>>();
    const edges = new Map<string, string[]>();
    for (const module of cruise().modules) {
      if (!module.source.startsWith('src/')) continue;
      for (const dependency of module.dependencies) {
        if (!dependency.resolved.startsWith('src/') || !isRuntime(dependency)) continue;
        const [from, to] = [folder(module.source), folder(dependency.resolved)];
        if (from === to) continue;
        if (!graph.has(from)) graph.set(from, new Set());
        graph.get(from)!.add(to);
        edges.set(`${from}→${to}`, [...(edges.get(`${from}→${to}`) ?? []), `${module.source} → ${dependency.resolved}`]);
      }
    }
    const explained = cycles(graph).map((component) => ({
      modules: component.join(' ⇄ '),
      imports: [...edges].filter(([key]) => component.some((a) => component.some((b) => key === `${a}→${b}`))).flatMap(([, files]) => files),
    }));
    expect(explained).toEqual([]);
  });

  it('builds SQL only in repositories: flows, hosted pages and HTTP handlers never query the database', () => {
    // `deps.db` (or any `.db`) in these layers is a query about to be built outside a repository; the builders and
    // the `sql` template tag are SQL itself. A `Db`/transaction handle passed to a repository is fine.
    const forbidden = /\.(selectFrom|insertInto|updateTable|deleteFrom|replaceInto|mergeInto)\(|\bsql`|\bsql<|\.db\b/;
    const offending = ['src/flows', 'src/ui', 'src/http'].flatMap(sourceFiles).flatMap((file) =>
      readFileSync(join(root, file), 'utf8')
        .split('\n')
        .map((line, i) => ({ line: line.trim(), at: `${file}:${i + 1}` }))
        .filter(({ line }) => !line.startsWith('//') && !line.startsWith('*') && forbidden.test(line))
        .map(({ line, at }) => `${at}: ${line.slice(0, 120)}`),
    );
    expect(offending).toEqual([]);
  });

  it('detects what it is meant to detect', () => {
    // The checks above pass vacuously if the cruise saw nothing: the graph must hold the known runtime edges.
    const modules = cruise().modules;
    const registry = modules.find((m) => m.source === 'src/registry.ts');
    expect(registry?.dependencies.some((d) => d.resolved === 'src/storage/flow-repository.ts' && isRuntime(d)) ?? false).toBe(true);
    expect(modules.length).toBeGreaterThan(150);
    expect(cycles(new Map([['a', new Set(['b'])], ['b', new Set(['a'])], ['c', new Set(['a'])]]))).toEqual([['a', 'b']]);
  });
});
