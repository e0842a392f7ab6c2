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
import { afterAll, describe, expect, it } from 'vitest';
import { KAIROS_BIN, ROOT } from '../support/build.js';

const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };
const dir = mkdtempSync(join(tmpdir(), 'kairos-bin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the binary with a preload that records which npm packages were loaded (CommonJS cache) when it exits. */
async function runRecordingPackages(args: string[]): Promise<{ stdout: string; packages: Set<string> }> {
  const probe = join(dir, 'probe.cjs');
  const out = join(dir, `loaded-${args.join('_')}.json`);
  writeFileSync(
    probe,
    `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(Object.keys(require.cache).map((k) => (/node_modules\\/((@[^/]+\\/)?[^/]+)/.exec(k) || [])[1]).filter(Boolean))));`,
  );
  const { stdout } = await run(process.execPath, ['--require', probe, KAIROS_BIN, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { stdout, packages: new Set(JSON.parse(readFileSync(out, 'utf8')) as string[]) };
}

describe('packaged kairos binary', () => {
  it('package.json "bin" points at the compiled dist/, not at TypeScript', () => {
    expect(join(ROOT, pkg.bin.kairos)).toBe(KAIROS_BIN);
  });

  it('--version prints package.json\'s version and loads neither the server nor a database driver', async () => {
    const { stdout, packages } = await runRecordingPackages(['--version']);
    expect(stdout.trim()).toBe(pkg.version);
    expect(packages.has('commander')).toBe(true); // the probe sees CommonJS packages at all
    for (const heavy of ['fastify', 'better-sqlite3', 'pg', 'ajv', 'prom-client', 'qrcode', 'nodemailer', 'tsx']) expect(packages, heavy).not.toContain(heavy);
  });

  it('--help lists every command without loading their implementations', async () => {
    const { stdout, packages } = await runRecordingPackages(['--help']);
    for (const command of ['serve', 'migrate', 'secrets', 'doctor', 'audit', 'courier']) expect(stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    for (const heavy of ['fastify', 'better-sqlite3', 'pg', 'ajv', 'cli-progress']) expect(packages, heavy).not.toContain(heavy);
  });
});
