/**
 * Files that ship with the package, found from the package root (the nearest directory above this module holding
 * Kairos's package.json). The same lookup works from the TypeScript sources (tsx, vitest: src/support/) and from the
 * bundle `npm run build` writes (dist/, whose chunks sit wherever esbuild puts them: scripts/build.mjs).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const MODULE_FILE = fileURLToPath(import.meta.url);

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'kairos') return dir;
    if (dirname(dir) === dir) throw new Error(`Kairos's package.json was not found above ${from}`);
  }
}

export const PACKAGE_ROOT = findPackageRoot(dirname(MODULE_FILE));

export function packageFile(...segments: string[]): string {
  return join(PACKAGE_ROOT, ...segments);
}

/** True when this code runs from the build in dist/ (not from src/ through tsx or vitest). */
export const RUNNING_BUILT = MODULE_FILE.startsWith(packageFile('dist') + sep);
