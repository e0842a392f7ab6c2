/**
 * deploy/compose.yml's topology run as processes (containers cannot run on this machine): PostgreSQL, the migration
 * job run twice (the second run changes nothing), and two `kairos serve` instances with the compose file's exact
 * commands, the sample production config (deploy/kairos.yml) and its secrets from the environment, as compose passes
 * them. A session created through one instance is valid on the other, and a login through the second works.
 * The reverse proxy and the mail catcher are not part of it: the proxy only spreads requests, which the test does
 * by choosing the instance.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { Configuration, FrontendApi } from '@ory/client-fetch';
import { createTestDatabase, DIALECTS, freePort } from '../support/harness.js';
import { spawnKairos, type KairosProcess } from '../support/process.js';
import { KAIROS_BIN } from '../support/build.js';
import { loginWithPassword, registerWithPassword } from '../support/users.js';

const ROOT = resolve(import.meta.dirname, '../..');
/** Each CLI start compiles TypeScript; generous so a loaded machine cannot fail it. */
const CLI_TIMEOUT_MS = 120_000;
const PASSWORD = 'a long enough passphrase';

const compose = parseDocument(readFileSync(join(ROOT, 'deploy/compose.yml'), 'utf8'), { merge: true }).toJS() as any;
const example = Object.fromEntries(
  readFileSync(join(ROOT, 'deploy/env.example'), 'utf8').split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split('=', 2) as [string, string]),
);
/** The compose file's command for a service, with the config path inside the container mapped to the repository's. */
const commandOf = (service: string): string[] =>
  (compose.services[service].command as string[]).map((a) => (a === '/etc/kairos/kairos.yml' ? join(ROOT, 'deploy/kairos.yml') : a));

/** The environment compose gives every Kairos container, with this machine's database and without the mail catcher. */
function composeEnv(dsn: string): NodeJS.ProcessEnv {
  return {
    // vitest sets DEV=true, which Kairos reads as the `dev` key.
    DEV: '',
    DSN: dsn,
    SECRETS_DEFAULT: example.SECRETS_DEFAULT,
    SECRETS_COOKIE: example.SECRETS_COOKIE,
    SECRETS_CIPHER: example.SECRETS_CIPHER,
    SERVE_ADMIN_API_KEYS: example.SERVE_ADMIN_API_KEYS,
    // No NTP servers (an empty list: one comma): the test never reaches out to pool.ntp.org.
    CLOCK_NTP_SERVERS: ',',
    HASHERS_ARGON2_MEMORY_KIB: '1024',
    HASHERS_ARGON2_ITERATIONS: '1',
  };
}

function migrateJob(env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile(process.execPath, [KAIROS_BIN, ...commandOf('migrate')], { env: { ...process.env, NODE_NO_WARNINGS: '1', ...env }, encoding: 'utf8', timeout: CLI_TIMEOUT_MS }, (error, stdout, stderr) =>
      done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

describe.skipIf(!DIALECTS.includes('postgres'))('the compose topology as processes (PostgreSQL; skipped only when KAIROS_TEST_DIALECTS leaves PostgreSQL out)', () => {
  it('migration job twice (idempotent), two instances, a session from one valid on the other', async () => {
    const database = await createTestDatabase('postgres');
    const env = composeEnv(database.dsn);
    const instances: KairosProcess[] = [];
    try {
      const first = await migrateJob(env);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toMatch(/^applied {2}\S+_core$/m);
      const second = await migrateJob(env);
      expect(second.code, second.stderr).toBe(0);
      expect(second.stdout).toBe('database is up to date\n');

      const ports = new Set<number>();
      while (ports.size < 4) ports.add(await freePort());
      const [aPublic, aAdmin, bPublic, bAdmin] = [...ports] as [number, number, number, number];
      for (const [service, publicPort, adminPort] of [['kairos-1', aPublic, aAdmin], ['kairos-2', bPublic, bAdmin]] as const) {
        instances.push(
          spawnKairos(commandOf(service), {
            env: {
              ...env,
              // Loopback instead of the container's 0.0.0.0, on free ports; everything else is the sample config.
              SERVE_PUBLIC_HOST: '127.0.0.1',
              SERVE_PUBLIC_PORT: String(publicPort),
              SERVE_PUBLIC_BASE_URL: `http://127.0.0.1:${publicPort}/`,
              SERVE_ADMIN_HOST: '127.0.0.1',
              SERVE_ADMIN_PORT: String(adminPort),
            },
          }),
        );
      }
      await Promise.all(instances.map((p) => p.waitFor(/kairos is listening/)));
      // Serving refused nothing: the migration job left no pending migration.
      for (const p of instances) expect(p.output()).not.toMatch(/pending migration/);

      const a = new FrontendApi(new Configuration({ basePath: `http://127.0.0.1:${aPublic}` }));
      const b = new FrontendApi(new Configuration({ basePath: `http://127.0.0.1:${bPublic}` }));
      const registered = await registerWithPassword({ frontend: a }, 'compose-topology@example.com', PASSWORD);
      const onB = await b.toSession({ xSessionToken: registered.token });
      expect(onB.identity?.id).toBe(registered.identityId);
      expect(onB.active).toBe(true);

      const login = await loginWithPassword({ frontend: b }, 'compose-topology@example.com', PASSWORD);
      expect((await a.toSession({ xSessionToken: login.session_token! })).identity?.id).toBe(registered.identityId);

      for (const port of [aPublic, bPublic]) expect(await (await fetch(`http://127.0.0.1:${port}/health/ready`)).json()).toEqual({ status: 'ok' });
    } finally {
      await Promise.all(instances.map((p) => p.stop()));
      await database.drop();
    }
  }, 4 * CLI_TIMEOUT_MS);
});
