/**
 * Errors an operator can act on: each way `kairos serve` / `kairos migrate` commonly fails to start prints exactly one
 * line naming what to change, exits 2, and prints no stack trace unless asked (--debug or log.level debug). These run
 * the real CLI (the built dist/cli/bin.js) as a child process.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, freePort, PG_URL, TEST_HASHERS } from '../support/harness.js';
import { writeConfig } from '../support/process.js';
import { KAIROS_BIN } from '../support/build.js';

/** Each run starts the CLI (TypeScript compiled on start); generous so a loaded machine cannot fail it. */
const CLI_TIMEOUT_MS = 120_000;
const SECRETS = { default: ['test-secret-default-0123456789'], cipher: ['test-cipher-secret-0123456789abcdef0123'] };
/** A stack trace line as V8 prints it. */
const STACK_LINE = /^\s+at /m;
/** uid/gid of `nobody` on Debian: the read-only directory test runs the CLI as an unprivileged user when we are root. */
const NOBODY = 65534;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function kairos(args: string[], options: { env?: NodeJS.ProcessEnv; uid?: number; gid?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [KAIROS_BIN, ...args],
      {
        encoding: 'utf8',
        // vitest sets DEV=true in its environment, which Kairos reads as the `dev` key (dev mode): cleared here.
        env: { ...process.env, NODE_NO_WARNINGS: '1', DSN: '', DEV: '', ...options.env },
        timeout: CLI_TIMEOUT_MS,
        ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid } : {}),
      },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The output's lines that are not JSON log records (the fatal line goes to stderr as plain text). */
function plainLines(run: Run): string[] {
  return (run.stdout + run.stderr).split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kairos-fatal-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function sqliteConfig(name: string, extra: Record<string, unknown> = {}): Promise<{ file: string; publicPort: number; adminPort: number }> {
  const publicPort = await freePort();
  const adminPort = await freePort();
  const file = writeConfig(dir, `${name}.yml`, {
    dsn: `sqlite://${join(dir, `${name}.sqlite`)}`,
    serve: { public: { port: publicPort }, admin: { port: adminPort } },
    secrets: SECRETS,
    hashers: TEST_HASHERS,
    ...extra,
  });
  return { file, publicPort, adminPort };
}

function occupy(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('a port already in use names the key and the environment variable to change', () => {
  it('public port: one line, exit 2, no stack trace', async () => {
    const { file, publicPort } = await sqliteConfig('public-port');
    const blocker = await occupy(publicPort);
    try {
      const run = await kairos(['serve', '-c', file, '--migrate']);
      expect(run.code).toBe(2);
      expect(plainLines(run)).toEqual([
        `kairos: public API: 127.0.0.1:${publicPort} is already in use by another process: change serve.public.port (environment variable SERVE_PUBLIC_PORT) or stop the other process`,
      ]);
      expect(run.stderr).not.toMatch(STACK_LINE);
    } finally {
      blocker.close();
    }
  }, CLI_TIMEOUT_MS);

  it('admin port: names serve.admin.port; --debug adds the stack trace', async () => {
    const { file, adminPort } = await sqliteConfig('admin-port');
    const blocker = await occupy(adminPort);
    try {
      const run = await kairos(['serve', '-c', file, '--migrate', '--debug']);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(
        `kairos: admin API: 127.0.0.1:${adminPort} is already in use by another process: change serve.admin.port (environment variable SERVE_ADMIN_PORT) or stop the other process\n`,
      );
      expect(run.stderr).toMatch(STACK_LINE);
      expect(run.stderr).toContain('EADDRINUSE');
    } finally {
      blocker.close();
    }
  }, CLI_TIMEOUT_MS);
});

describe('an unknown DSN scheme', () => {
  const expected = 'kairos: dsn: unsupported scheme in "mysql://***@db.example/kairos" (use sqlite://… or postgres://…); set dsn in the config file or the DSN environment variable';

  it('fails serve with one line and exit 2 (from the config file, password hidden)', async () => {
    const { file } = await sqliteConfig('mysql', { dsn: 'mysql://kairos:hunter2@db.example/kairos' });
    const run = await kairos(['serve', '-c', file]);
    expect(run.code).toBe(2);
    expect(plainLines(run)).toEqual([expected]);
    expect(run.stdout + run.stderr).not.toContain('hunter2');
  }, CLI_TIMEOUT_MS);

  it('fails migrate the same way, from the DSN variable with -e', async () => {
    const run = await kairos(['migrate', 'sql', '-e', '--yes'], { env: { DSN: 'mysql://kairos:hunter2@db.example/kairos' } });
    expect(run.code).toBe(2);
    expect(plainLines(run)).toEqual([expected]);
  }, CLI_TIMEOUT_MS);
});

describe('a missing identity schema file', () => {
  it('names the key, the schema id and the path', async () => {
    const missing = join(dir, 'no-such-schema.json');
    const { file } = await sqliteConfig('schema', { identity: { default_schema_id: 'customer', schemas: [{ id: 'customer', url: `file://${missing}` }] } });
    const run = await kairos(['serve', '-c', file]);
    expect(run.code).toBe(2);
    expect(plainLines(run)).toEqual([`kairos: identity.schemas[0].url: the identity schema "customer" cannot be read from ${missing} (no such file)`]);
    expect(run.stderr).not.toMatch(STACK_LINE);
  }, CLI_TIMEOUT_MS);
});

describe('a read-only SQLite directory', () => {
  it('says which directory must be writable; log.level debug adds the stack trace', async () => {
    const readOnly = join(dir, 'read-only');
    mkdirSync(readOnly);
    chmodSync(readOnly, 0o555);
    // root ignores directory permissions, so the CLI runs as nobody then (the config must be readable by it).
    const asNobody = process.getuid?.() === 0 ? { uid: NOBODY, gid: NOBODY } : {};
    chmodSync(dir, 0o755);
    const { file } = await sqliteConfig('read-only', { dsn: `sqlite://${join(readOnly, 'kairos.sqlite')}` });
    chmodSync(file, 0o644);
    const path = join(readOnly, 'kairos.sqlite');
    const expected = `kairos: cannot write the SQLite database ${path}: the directory ${readOnly} (or the file) is not writable by this user (SQLite also writes ${path}-wal and -shm beside it): make it writable or check dsn (environment variable DSN)`;

    const run = await kairos(['serve', '-c', file, '--migrate'], asNobody);
    expect(run.code).toBe(2);
    expect(plainLines(run)).toEqual([expected]);
    expect(run.stderr).not.toMatch(STACK_LINE);

    const debug = await kairos(['serve', '-c', file, '--migrate'], { ...asNobody, env: { LOG_LEVEL: 'debug' } });
    expect(debug.code).toBe(2);
    expect(debug.stderr).toContain(expected + '\n');
    expect(debug.stderr).toMatch(STACK_LINE);
  }, 2 * CLI_TIMEOUT_MS);
});

describe.skipIf(!DIALECTS.includes('postgres'))('PostgreSQL unreachable or misconfigured (skipped only when KAIROS_TEST_DIALECTS leaves PostgreSQL out)', () => {
  it('connection refused: one line naming the server and DSN, exit 2', async () => {
    const port = await freePort();
    const { file } = await sqliteConfig('pg-refused', { dsn: `postgres://kairos:hunter2@127.0.0.1:${port}/kairos` });
    const run = await kairos(['serve', '-c', file]);
    expect(run.code).toBe(2);
    expect(plainLines(run)).toEqual([
      `kairos: cannot connect to PostgreSQL (127.0.0.1:${port}/kairos): connection refused (is the server running and listening there?): check dsn (environment variable DSN)`,
    ]);
    expect(run.stdout + run.stderr).not.toContain('hunter2');
  }, CLI_TIMEOUT_MS);

  it('a database that does not exist: the SQLSTATE and what it means, for migrate too', async () => {
    const url = new URL(PG_URL);
    url.pathname = '/kairos_no_such_database';
    const run = await kairos(['migrate', 'sql', url.toString(), '--yes']);
    expect(run.code).toBe(2);
    expect(plainLines(run)).toEqual([`kairos: PostgreSQL (${url.host}/kairos_no_such_database): the database does not exist (SQLSTATE 3D000): check dsn (environment variable DSN)`]);
  }, CLI_TIMEOUT_MS);
});

describe('migrate uses the same config discovery as serve', () => {
  it('-c: migrates the database the config names (DSN from the environment overrides the file)', async () => {
    const { file } = await sqliteConfig('migrate-config');
    const first = await kairos(['migrate', 'sql', '-c', file, '--yes']);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^applied {2}\S+_core$/m);
    const again = await kairos(['migrate', 'sql', '-c', file, '--yes']);
    expect(again.stdout).toBe('database is up to date\n');
    const other = join(dir, 'from-env.sqlite');
    const viaEnv = await kairos(['migrate', 'sql', '-c', file, '--status'], { env: { DSN: `sqlite://${other}` } });
    expect(viaEnv.stdout).toMatch(/^pending {2}\S+_core$/m);
  }, 3 * CLI_TIMEOUT_MS);

  it('-e without DSN set, and a config that is invalid, fail with one line and exit 2', async () => {
    const noDsn = await kairos(['migrate', 'sql', '-e', '--yes']);
    expect(noDsn.code).toBe(2);
    expect(plainLines(noDsn)).toEqual(['kairos: migrate sql -e: the DSN environment variable is not set']);
    const { file } = await sqliteConfig('migrate-invalid', { secrets: {} });
    const invalid = await kairos(['migrate', 'sql', '-c', file, '--yes']);
    expect(invalid.code).toBe(2);
    expect(plainLines(invalid)).toEqual(['kairos: secrets.default: is required outside dev mode (at least one secret of 16+ characters)']);
  }, 2 * CLI_TIMEOUT_MS);
});
