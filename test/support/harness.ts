/**
 * Starts a real Kairos against SQLite or PostgreSQL for integration tests, with an injected clock. Each server gets
 * its own database (a temp SQLite file, or a fresh PostgreSQL schema), so runs never collide.
 *
 * Transport: by default the server does not listen; requests to its URLs (the SDK clients here, and plain `fetch`
 * in the test worker) go through Fastify's `inject()` in this process (support/in-process-fetch.ts), which runs the
 * whole Fastify request path without a TCP socket. `transport: 'socket'` listens on loopback for tests that need a
 * real socket (a browser, another process); `KAIROS_TEST_TRANSPORT=socket` runs every test over sockets.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { Configuration, FrontendApi, IdentityApi } from '@ory/client-fetch';
import { loadConfig, deepMerge } from '../../src/config/load.js';
import { createDeps, createModules } from '../../src/registry.js';
import { buildServer, type KairosServer } from '../../src/server.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { ManualClock } from '../../src/support/clock.js';
import type { Deps } from '../../src/deps.js';
import { inProcessFetch, installInProcessFetch, routeInProcess } from './in-process-fetch.js';

export type Transport = 'inject' | 'socket';

/** The transport when a test does not ask for one: KAIROS_TEST_TRANSPORT=socket|inject (default inject). */
export const DEFAULT_TRANSPORT: Transport = process.env.KAIROS_TEST_TRANSPORT === 'socket' ? 'socket' : 'inject';

installInProcessFetch();

export type Dialect = 'sqlite' | 'postgres';

export const PG_URL = process.env.KAIROS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Dialects under test: both by default; KAIROS_TEST_DIALECTS=sqlite narrows it on a machine without PostgreSQL. */
export const DIALECTS: Dialect[] = (process.env.KAIROS_TEST_DIALECTS ?? 'sqlite,postgres').split(',').map((d) => d.trim()) as Dialect[];

/**
 * Ports this test process has handed out. In-process servers (inject) never bind theirs, so the OS may offer the
 * same port again; a port is handed out once per process, so two servers never share an origin ("already routed").
 */
const portsHandedOut = new Set<number>();

export async function freePort(): Promise<number> {
  for (;;) {
    const port = await probeFreePort();
    if (!portsHandedOut.has(port)) {
      portsHandedOut.add(port);
      return port;
    }
  }
}

function probeFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface TestDatabase {
  dsn: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(dialect: Dialect): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'kairos-test-'));
    return { dsn: `sqlite://${join(dir, 'kairos.sqlite')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const schema = `kairos_t_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`create schema ${schema}`);
  await client.end();
  const url = new URL(PG_URL);
  url.searchParams.set('search_path', schema);
  return {
    dsn: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`drop schema if exists ${schema} cascade`);
      await c.end();
    },
  };
}

/** Log lines captured from the server, for tests that assert what is (and is not) logged. */
export class LogCapture {
  readonly lines: string[] = [];
  write(line: string): void {
    this.lines.push(line);
  }
  records(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l));
  }
  text(): string {
    return this.lines.join('');
  }
}

export interface TestKairos {
  publicUrl: string;
  adminUrl: string;
  frontend: FrontendApi;
  identityApi: IdentityApi;
  clock: ManualClock;
  deps: Deps;
  server: KairosServer;
  logs: LogCapture;
  dsn: string;
  close(): Promise<void>;
}

/** Argon2 parameters for tests: the code path is the real one, the cost is not (speed is measured in bench/). */
export const TEST_HASHERS = { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } };

export async function startKairos(options: {
  dialect: Dialect;
  config?: Record<string, unknown>;
  clock?: ManualClock;
  /** Reuse a database (a second instance sharing it). */
  database?: TestDatabase;
  /** 'socket' to listen on loopback (browsers, other processes); default DEFAULT_TRANSPORT. */
  transport?: Transport;
} ): Promise<TestKairos> {
  const transport = options.transport ?? DEFAULT_TRANSPORT;
  const database = options.database ?? (await createTestDatabase(options.dialect));
  const publicPort = await freePort();
  const adminPort = await freePort();
  const overrides = deepMerge(
    {
      dsn: database.dsn,
      serve: { public: { port: publicPort, base_url: `http://127.0.0.1:${publicPort}/` }, admin: { port: adminPort } },
      secrets: { default: ['test-secret-default-0123456789'], cookie: ['test-secret-cookie-0123456789'], cipher: ['test-cipher-secret-0123456789abcdef0123'] },
      hashers: TEST_HASHERS,
      log: { level: 'info' },
    },
    options.config ?? {},
  );
  const { config } = loadConfig({ overrides, env: {} });
  const clock = options.clock ?? new ManualClock();
  const logs = new LogCapture();
  const logger = pino({ level: config.log.level }, logs);
  const deps = createDeps(config, { clock, logger });
  await migrateToLatest(deps.storage);
  const server = await buildServer(deps, createModules(deps));
  const publicUrl = `http://127.0.0.1:${publicPort}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const unroute: (() => void)[] = [];
  if (transport === 'socket') {
    await server.listen();
  } else {
    // The ports stay reserved only by convention (nothing listens); the URLs keep their real shape for base_url.
    unroute.push(routeInProcess(publicUrl, server.publicApp), routeInProcess(adminUrl, server.adminApp));
    await server.start();
  }
  return {
    publicUrl,
    adminUrl,
    frontend: new FrontendApi(new Configuration({ basePath: publicUrl, fetchApi: inProcessFetch })),
    identityApi: new IdentityApi(new Configuration({ basePath: adminUrl, fetchApi: inProcessFetch })),
    clock,
    deps,
    server,
    logs,
    dsn: database.dsn,
    async close() {
      for (const u of unroute) u();
      await server.close();
      await deps.storage.close();
      if (!options.database) await database.drop();
    },
  };
}
