import { readFileSync } from 'node:fs';
import { packageFile } from './support/package-files.js';

/** Kairos's version, from package.json (the one place it is written). */
export const KAIROS_VERSION: string = (JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as { version: string }).version;
