import { readFileSync } from 'node:fs';

/**
 * Kairos's version, from package.json (the one place it is written). src/version.ts and dist/version.js are both one
 * directory below the package root, so the same relative URL finds it from the sources (tsx, tests) and from dist/.
 */
export const KAIROS_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
