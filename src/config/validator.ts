/**
 * The validator of Kairos's config schema. Compiling the schema with ajv took about a quarter of start-up (bench
 * profile of `kairos serve`, issue 12), so `npm run build` compiles it once into standalone code
 * (`dist/config-validator.cjs`, written by `writeStandaloneValidator` below through scripts/build.mjs) and the built
 * server loads that. Running from the TypeScript sources (tsx, vitest) the schema is compiled on first use, with the
 * same options (never the file in dist/, which may be older than the sources).
 */
import { createRequire } from 'node:module';
import { existsSync, writeFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import standalone from 'ajv/dist/standalone/index.js';
import { configSchema } from './schema.js';
import { packageFile, RUNNING_BUILT } from '../support/package-files.js';

// inlineRefs false: a referenced definition (the web hook) is one function, not a copy at each of its ~20 places.
const AJV_OPTIONS = { allErrors: true, useDefaults: true, strict: false, inlineRefs: false } as const;
const STANDALONE_FILE = packageFile('dist', 'config-validator.cjs');

let validate: ValidateFunction | undefined;

export function configValidator(): ValidateFunction {
  if (validate) return validate;
  validate = RUNNING_BUILT && existsSync(STANDALONE_FILE) ? (createRequire(import.meta.url)(STANDALONE_FILE) as ValidateFunction) : new Ajv(AJV_OPTIONS).compile(configSchema);
  return validate;
}

/** Build step: the standalone validator next to the compiled module (CommonJS: ajv's runtime helpers are `require`d). */
export function writeStandaloneValidator(): string {
  const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true } });
  writeFileSync(STANDALONE_FILE, standalone.default(ajv, ajv.compile(configSchema)));
  return STANDALONE_FILE;
}
