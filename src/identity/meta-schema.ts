/**
 * Identity schemas are checked against JSON Schema draft-07 (the `$schema` Kratos's schemas declare) when the server
 * starts. ajv compiles its draft-07 meta-schema on first use, which took 55–75 ms of every start (issue 12:
 * start-up), so `npm run build` compiles it once into standalone code (`dist/json-schema-draft-07-validator.cjs`,
 * written by `writeStandaloneMetaSchemaValidator` through scripts/build.mjs), as for the config validator
 * (config/validator.ts). Running from the TypeScript sources, it is compiled on first use with the same options.
 */
import { createRequire } from 'node:module';
import { existsSync, writeFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import standalone from 'ajv/dist/standalone/index.js';
import { packageFile, RUNNING_BUILT } from '../support/package-files.js';

export const DRAFT_07 = 'http://json-schema.org/draft-07/schema';
const AJV_OPTIONS = { allErrors: true, strict: false } as const;
const STANDALONE_FILE = packageFile('dist', 'json-schema-draft-07-validator.cjs');

let validate: ValidateFunction | undefined;

/** Validates a schema document against the draft-07 meta-schema; its `errors` read like ajv's own. */
export function draft07MetaSchemaValidator(): ValidateFunction {
  if (validate) return validate;
  validate = RUNNING_BUILT && existsSync(STANDALONE_FILE) ? (createRequire(import.meta.url)(STANDALONE_FILE) as ValidateFunction) : new Ajv(AJV_OPTIONS).getSchema(DRAFT_07)!;
  return validate;
}

/** Build step: the standalone meta-schema validator in dist/ (CommonJS: ajv's runtime helpers are `require`d). */
export function writeStandaloneMetaSchemaValidator(): string {
  const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true } });
  writeFileSync(STANDALONE_FILE, standalone.default(ajv, ajv.getSchema(DRAFT_07)!));
  return STANDALONE_FILE;
}
