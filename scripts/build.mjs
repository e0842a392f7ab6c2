// `npm run build` (also `prepare`, so `npm ci` leaves it ready): the production build in dist/.
//
// The sources and their libraries are bundled by esbuild into a few ES modules (dist/cli/bin.js, the entry `bin`
// names, plus chunks for what the CLI loads lazily): Node then reads and links a handful of files instead of some
// thousand (Kysely alone is hundreds of ES modules), which took start-up from ~710 to ~440 ms of CPU and idle
// memory down by ~20 MiB (issue 12). Type checking is `npm run typecheck`; esbuild only strips types.
//
// Left outside the bundle, loaded from node_modules at run time: native addons (better-sqlite3, @node-rs/argon2)
// and libraries loaded only when a feature is configured or used (pg, ioredis, the Jsonnet WebAssembly module,
// WebAuthn, mail, the pretty printer).
//
// Then the build-time artefacts the built server loads instead of computing them at start-up:
// dist/config-validator.cjs (src/config/validator.ts) and the default identity schema.
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const EXTERNAL = [
  'better-sqlite3',
  '@node-rs/argon2',
  'pg',
  'ioredis',
  '@arakoodev/jsonnet',
  '@simplewebauthn/server',
  'nodemailer',
  'smtp-server',
  'mailparser',
  'pino-pretty',
];

rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints: { 'cli/bin': 'src/cli/bin.ts', 'build/config-validator': 'src/config/validator.ts', 'build/meta-schema': 'src/identity/meta-schema.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunks/[name]-[hash]',
  external: EXTERNAL,
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
  // CommonJS libraries inside an ES module bundle still call require() for Node's built-ins.
  banner: { js: "import { createRequire as __kairosCreateRequire } from 'node:module'; const require = __kairosCreateRequire(import.meta.url);" },
});
const { writeStandaloneValidator } = await import('../dist/build/config-validator.js');
writeStandaloneValidator();
const { writeStandaloneMetaSchemaValidator } = await import('../dist/build/meta-schema.js');
writeStandaloneMetaSchemaValidator();
copyFileSync('src/config/default-identity.schema.json', 'dist/default-identity.schema.json');
// Written last: test/support/build.ts and the bench compare its time with the sources'.
writeFileSync('dist/build-stamp', new Date().toISOString() + '\n');
