/**
 * The packaged binary (package.json "bin" → dist/cli/bin.js, built by `npm run build` / `npm ci`): it runs without
 * tsx, reports package.json's version, and `--version`/`--help` load no part of the server (commands load lazily).
 * The commands themselves are tested in-process (support/cli.ts) and, where a process matters, in operations and
 * two-instances tests.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { KAIROS_BIN, ROOT } from '../support/build.js';

const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };
const dir = mkdtempSync(join(tmpdir(), 'kairos-bin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs the binary and records which npm packages it loaded: those required from node_modules (the libraries left
 * outside the bundle; the CommonJS cache at exit), and those whose code sits in the bundle files Node loaded (an ES
 * module loader hook lists them; esbuild marks each library's code with a `// node_modules/<package>/…` comment).
 */
async function runRecordingPackages(args: string[]): Promise<{ stdout: string; packages: Set<string> }> {
  const tag = args.join('_');
  const probe = join(dir, 'probe.cjs');
  const hooks = join(dir, 'hooks.mjs');
  const cjsOut = join(dir, `required-${tag}.json`);
  const esmOut = join(dir, `loaded-${tag}.txt`);
  writeFileSync(
    probe,
    `process.on('exit', () => require('node:fs').writeFileSync(process.env.PROBE_CJS_OUT, JSON.stringify(Object.keys(require.cache))));`,
  );
  writeFileSync(hooks, `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) { appendFileSync(process.env.PROBE_ESM_OUT, url + '\\n'); return next(url, context); }\n`);
  const register = `data:text/javascript,import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hooks).href)});`;
  const { stdout } = await run(process.execPath, ['--require', probe, '--import', register, KAIROS_BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, PROBE_CJS_OUT: cjsOut, PROBE_ESM_OUT: esmOut },
  });
  const packages = new Set<string>();
  const packageOf = /node_modules\/((@[^/]+\/)?[^/]+)/g;
  for (const file of JSON.parse(readFileSync(cjsOut, 'utf8')) as string[]) for (const m of file.matchAll(packageOf)) packages.add(m[1]!);
  for (const url of readFileSync(esmOut, 'utf8').split('\n').filter((u) => u.startsWith('file:'))) {
    const path = fileURLToPath(url);
    for (const m of path.matchAll(packageOf)) packages.add(m[1]!);
    if (path.startsWith(join(ROOT, 'dist'))) for (const m of readFileSync(path, 'utf8').matchAll(/^\/\/ node_modules\/((@[^/]+\/)?[^/]+)\//gm)) packages.add(m[1]!);
  }
  return { stdout, packages };
}

describe('packaged kairos binary', () => {
  it('package.json "bin" points at the compiled dist/, not at TypeScript', () => {
    expect(join(ROOT, pkg.bin.kairos)).toBe(KAIROS_BIN);
  });

  it('--version prints package.json\'s version and loads neither the server nor a database driver', async () => {
    const { stdout, packages } = await runRecordingPackages(['--version']);
    expect(stdout.trim()).toBe(pkg.version);
    expect(packages.has('commander')).toBe(true); // the probe sees the bundled libraries at all
    for (const heavy of ['fastify', 'better-sqlite3', 'pg', 'ajv', 'prom-client', 'qrcode', 'nodemailer', 'tsx']) expect(packages, heavy).not.toContain(heavy);
  });

  it('--help lists every command without loading their implementations', async () => {
    const { stdout, packages } = await runRecordingPackages(['--help']);
    for (const command of ['serve', 'migrate', 'secrets', 'doctor', 'audit', 'courier']) expect(stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    for (const heavy of ['fastify', 'better-sqlite3', 'pg', 'ajv', 'cli-progress']) expect(packages, heavy).not.toContain(heavy);
  });
});
