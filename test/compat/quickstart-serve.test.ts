/**
 * `kairos serve` with Kratos's quickstart config file, unchanged (dsn: memory, bcrypt, log.format: text, CORS,
 * hooks), as a real process: it starts (migrating the in-memory database, with and without --dev) and serves a
 * registration. Only the schema's path (/etc/config/kratos/… in Kratos's container) and the ports come from the
 * environment, in Kratos's style (IDENTITY_SCHEMAS, SERVE_PUBLIC_PORT, SERVE_ADMIN_PORT).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../support/harness.js';
import { KAIROS_BIN } from '../support/build.js';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);

async function serveQuickstart(extraArgs: string[], extraEnv: Record<string, string> = {}) {
  const publicPort = await freePort();
  const adminPort = await freePort();
  const cwd = mkdtempSync(join(tmpdir(), 'kairos-quickstart-'));
  const child = spawn(process.execPath, [KAIROS_BIN, 'serve', '-c', fixture('quickstart-email-password.kratos.yml').pathname, ...extraArgs], {
    cwd,
    env: {
      ...process.env,
      NODE_NO_WARNINGS: '1',
      SERVE_PUBLIC_PORT: String(publicPort),
      SERVE_ADMIN_PORT: String(adminPort),
      IDENTITY_SCHEMAS: JSON.stringify([{ id: 'default', url: fixture('quickstart-identity.schema.json').href }]),
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const listening = new Promise<void>((resolve, reject) => {
    const check = () => (output.includes('kairos is listening') ? resolve() : undefined);
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    void exited.then((code) => reject(new Error(`kairos exited (${code}):\n${output}`)));
  });
  await listening;
  return {
    publicUrl: `http://127.0.0.1:${publicPort}`,
    output: () => output,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function registersThroughTheApi(publicUrl: string) {
  const flow = await (await fetch(`${publicUrl}/self-service/registration/api`)).json();
  const answer = await fetch(`${publicUrl}/self-service/registration?flow=${flow.id}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ method: 'password', traits: { email: 'quick@example.org', name: { first: 'Q', last: 'S' } }, password: 'Tr0ub4dor and three horses' }),
  });
  const body = await answer.json();
  expect(answer.status, JSON.stringify(body)).toBe(200);
  expect(body.identity.traits.name).toEqual({ first: 'Q', last: 'S' });
}

describe("kairos serve with Kratos's quickstart kratos.yml", () => {
  it('starts in --dev as Kratos\'s quickstart does, migrating dsn: memory, and serves a registration with nested traits', async () => {
    const server = await serveQuickstart(['--dev']);
    try {
      await registersThroughTheApi(server.publicUrl);
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('without --dev, dsn: memory is still migrated on start (an in-memory database starts empty)', async () => {
    const server = await serveQuickstart([], { SECRETS_DEFAULT: 'a-production-like-default-secret-0123' });
    try {
      await registersThroughTheApi(server.publicUrl);
      expect(server.output()).not.toContain('pending migration');
    } finally {
      await server.stop();
    }
  }, 60_000);
});
