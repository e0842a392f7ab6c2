/**
 * The `kairos import kratos` command as an operator runs it (a real child process, SQLite on both sides): a dry run
 * with a JSON summary, then the import with the text summary; a row Kairos cannot read gives exit code 1 and is
 * named in the output, and no secret appears in it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage } from '../../src/storage/db.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { spawnKairos, writeConfig } from '../support/process.js';
import { bcryptHash, createKratosDatabase, seedIdentity, seedNetwork, type KratosDatabase } from './kratos-source.js';

const OK = '1a1b2c3d-0000-4000-8000-000000000001';
const BAD = '1a1b2c3d-0000-4000-8000-000000000002';
const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';

describe('kairos import kratos (command line)', () => {
  let dir: string;
  let kratos: KratosDatabase;
  let configFile: string;
  let dsn: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kairos-import-cli-'));
    kratos = await createKratosDatabase('sqlite');
    await seedNetwork(kratos);
    await seedIdentity(kratos, {
      id: OK,
      traits: { email: 'ok@example.com' },
      createdAt: '2024-01-01T00:00:00Z',
      credentials: [
        { type: 'password', config: { hashed_password: bcryptHash('secret-password-1') } },
        { type: 'totp', config: { totp_url: `otpauth://totp/Kratos:ok@example.com?secret=${SECRET}&issuer=Kratos` } },
      ],
    });
    await seedIdentity(kratos, { id: BAD, traits: { email: 'bad@example.com' }, createdAt: '2024-01-01T00:00:00Z', credentials: [{ type: 'totp', config: { totp_url: 'not-an-otpauth-url' } }] });
    dsn = `sqlite://${join(dir, 'kairos.sqlite')}`;
    const storage = openStorage(dsn);
    await migrateToLatest(storage);
    await storage.close();
    configFile = writeConfig(dir, 'kairos.yml', {
      dsn,
      secrets: { default: ['cli-test-secret-default-0123456789'], cipher: ['cli-test-cipher-secret-0123456789abcdef'] },
      selfservice: { methods: { totp: { enabled: true }, lookup_secret: { enabled: true } } },
    });
  });
  afterAll(async () => {
    await kratos?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('dry run prints a JSON summary and writes nothing; the import prints the text summary and exits 1 for the bad row', async () => {
    const dry = spawnKairos(['import', 'kratos', '--from', kratos.dsn, '-c', configFile, '--dry-run', '--json']);
    expect(await dry.exited).toBe(1);
    const summary = JSON.parse(dry.output().slice(dry.output().indexOf('{')));
    expect(summary).toMatchObject({ dryRun: true, total: 2, imported: 1, credentials: { password: 1, totp: 1, lookup_secret: 0 } });
    expect(summary.failed).toEqual([{ id: BAD, problems: [expect.stringMatching(/^credentials\.totp\.config\.totp_url: /)] }]);
    const storage = openStorage(dsn, { readOnly: true });
    expect(await storage.db.selectFrom('identities').select('id').execute()).toEqual([]);
    await storage.close();

    const run = spawnKairos(['import', 'kratos', '--from', kratos.dsn, '-c', configFile]);
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain('imported: 1 (passwords 1, TOTP 1, recovery codes 0)');
    expect(run.output()).toContain(`${BAD}: credentials.totp.config.totp_url`);
    expect(run.output()).not.toContain(SECRET);

    const again = spawnKairos(['import', 'kratos', '--from', kratos.dsn, '-c', configFile]);
    expect(await again.exited).toBe(1);
    expect(again.output()).toContain('skipped (already in Kairos, left unchanged): 1');
  }, 240_000);

  it('an unusable --from is refused with exit code 2 and no password in the message', async () => {
    const bad = spawnKairos(['import', 'kratos', '--from', 'mysql://root:hunter2@localhost/kratos', '-c', configFile]);
    expect(await bad.exited).toBe(2);
    expect(bad.output()).toContain('unsupported DSN');
    expect(bad.output()).not.toContain('hunter2');
  }, 120_000);
});
