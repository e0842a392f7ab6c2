/**
 * The compiled CLI (dist/, `npm run build`, which `npm ci` runs through `prepare`) that process tests spawn. The
 * vitest global setup calls `ensureBuilt()` once per run: when a file under src/ (or package.json, tsconfig*.json)
 * is newer than the last build, it rebuilds, so a spawned `kairos` never runs code older than the sources under test.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The packaged binary (package.json "bin"). */
export const KAIROS_BIN = join(ROOT, 'dist/cli/bin.js');
/** Written last by scripts/build.mjs. */
const STAMP = join(ROOT, 'dist/build-stamp');

function newestMtimeMs(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtimeMs(join(path, entry)));
  return newest;
}

export function isBuildStale(): boolean {
  if (!existsSync(KAIROS_BIN) || !existsSync(STAMP)) return true;
  const sources = Math.max(newestMtimeMs(join(ROOT, 'src')), ...['package.json', 'tsconfig.json', 'scripts/build.mjs'].map((f) => statSync(join(ROOT, f)).mtimeMs));
  return sources > statSync(STAMP).mtimeMs;
}

export function ensureBuilt(): void {
  if (!isBuildStale()) return;
  process.stderr.write('test setup: dist/ is older than src/: npm run build\n');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
}
