/**
 * The validator of Kairos's config schema. Compiling the schema with ajv took about a quarter of start-up (bench
 * profile of `kairos serve`, issue 12), so `npm run build` compiles it once into standalone code
 * (`dist/config/config-validator.cjs`, written by `writeStandaloneValidator` below through scripts/build.mjs) and
 * the compiled server loads that. Running from the TypeScript sources (tsx, vitest) there is no such file and the
 * schema is compiled on first use, with the same options.
 */
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import standalone from 'ajv/dist/standalone/index.js';
import { configSchema } from './schema.js';

const AJV_OPTIONS = { allErrors: true, useDefaults: true, strict: false } as const;
const STANDALONE_FILE = './config-validator.cjs';

let validate: ValidateFunction | undefined;

export function configValidator(): ValidateFunction {
  if (validate) return validate;
  try {
    validate = createRequire(import.meta.url)(STANDALONE_FILE) as ValidateFunction;
  } catch {
    validate = new Ajv(AJV_OPTIONS).compile(configSchema);
  }
  return validate;
}

/** Build step: the standalone validator next to the compiled module (CommonJS: ajv's runtime helpers are `require`d). */
export function writeStandaloneValidator(): string {
  const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true } });
  const file = new URL(STANDALONE_FILE, import.meta.url);
  writeFileSync(file, standalone.default(ajv, ajv.compile(configSchema)));
  return file.pathname;
}
