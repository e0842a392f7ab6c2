/**
 * The layer rules of Kairos (DESIGN §3), checked by `npm test` (test/architecture/layers.test.ts runs
 * dependency-cruiser with this file and fails on any violation). Run by hand: `npx depcruise src`.
 *
 * "Runtime" below means a dependency that survives compilation: `import type` and imports used only as types are
 * marked `pre-compilation-only` (tsPreCompilationDeps: 'specify') and do not count for cycles, since they cost
 * nothing at load time and cannot deadlock module initialisation. Layer crossings count every kind of import: a
 * flow that imports Fastify's types is tied to Fastify.
 *
 * Cycles between modules (a module is a folder: credentials/totp, mfa/diagnosis, flows/recovery…) are checked by
 * the test itself, on this cruise's output: dependency-cruiser's `scope: 'folder'` counts a folder with all its
 * subfolders, which is not how Kairos's modules are cut.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-runtime-cycles',
      comment: 'A runtime import cycle between files: module initialisation order decides what is undefined.',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['pre-compilation-only', 'type-only', 'type-import'] } },
    },
    {
      name: 'flows-not-fastify',
      comment:
        'Flows take a plain request/response description (flows/request.ts); the HTTP layer (http/) adapts Fastify to it.',
      severity: 'error',
      from: { path: '^src/flows/' },
      to: { path: '(^|/)node_modules/(fastify|@fastify/)' },
    },
    {
      name: 'flows-not-http',
      comment: 'The HTTP layer depends on the flows, never the other way round.',
      severity: 'error',
      from: { path: '^src/flows/' },
      to: { path: '^src/http/' },
    },
    {
      name: 'no-sql-in-flows-ui-http',
      comment:
        'Repositories (in storage/ or the owning module) are the only code that builds SQL: flows, hosted pages and ' +
        'HTTP handlers call them. A `Db` handle (storage/db.ts) may be passed through, never queried.',
      severity: 'error',
      from: { path: '^src/(flows|ui|http)/' },
      to: { path: ['(^|/)node_modules/kysely/', '^src/storage/tables\\.ts$'] },
    },
    {
      name: 'mfa-not-flows',
      comment: 'The second-factor guard returns decisions; strategies (credentials/) turn them into flow messages.',
      severity: 'error',
      from: { path: '^src/mfa/' },
      to: { path: '^src/flows/' },
    },
    {
      name: 'src-not-dev-dependencies',
      comment:
        'Production installs prune devDependencies (`npm prune --omit=dev`): src/ may load one only lazily, ' +
        'with a fallback (courier/dev-sink.ts and mailparser).',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['dynamic-import'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
    tsPreCompilationDeps: 'specify',
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.json'],
    },
  },
};
