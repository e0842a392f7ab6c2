/** `kairos courier watch` as separate worker processes sharing the outbox with a server whose own loop is off. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { eventually, TestSmtpServer } from '../support/smtp.js';
import { spawnKairos, writeConfig, type KairosProcess } from '../support/process.js';

describe.each(DIALECTS)('kairos courier watch (%s)', (dialect) => {
  let smtp: TestSmtpServer;
  let k: TestKairos;
  let dir: string;
  const workers: KairosProcess[] = [];

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    k = await startKairos({ dialect, config: { courier: { smtp: { connection_uri: smtp.uri }, worker: { enabled: false } } } });
    dir = mkdtempSync(join(tmpdir(), 'kairos-watch-'));
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await k?.close();
    await smtp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('two watchers deliver every queued message exactly once', async () => {
    const to = `watch-${Math.random().toString(36).slice(2, 8)}@example.com`;
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push(await k.deps.courier.enqueue({ template: 'verification_code_valid', recipient: to, data: { VerificationCode: String(100000 + i), ExpiresInMinutes: 15 }, carriesSecret: true }));
    }
    // The server's own loop is disabled: nothing moves until a watcher runs.
    expect((await k.deps.db.selectFrom('courier_messages').select('status').where('id', 'in', ids).execute()).every((r) => r.status === 'queued')).toBe(true);

    const file = writeConfig(dir, 'kairos.json', {
      dsn: k.dsn,
      secrets: { default: ['test-secret-default-0123456789'], cipher: ['test-cipher-secret-0123456789abcdef0123'] },
      courier: { smtp: { connection_uri: smtp.uri }, worker: { poll_interval: '100ms' } },
      log: { level: 'info' },
    });
    for (let i = 0; i < 2; i++) workers.push(spawnKairos(['courier', 'watch', '-c', file]));
    await Promise.all(workers.map((w) => w.waitFor(/watching the outbox/)));

    const codes = new Set<string>();
    for (let i = 0; i < 6; i++) codes.add(/\b(\d{6})\b/.exec((await smtp.waitFor(to, 20_000)).text)![1]!);
    expect([...codes].sort()).toEqual(['100000', '100001', '100002', '100003', '100004', '100005']);
    // The status is written just after the SMTP server accepted the message.
    const rows = await eventually(async () => {
      const all = await k.deps.db.selectFrom('courier_messages').selectAll().where('id', 'in', ids).execute();
      return all.every((r) => r.status === 'sent') ? all : null;
    });
    expect(rows.map((r) => r.send_count)).toEqual([1, 1, 1, 1, 1, 1]);
    const dispatches = await k.deps.db.selectFrom('courier_message_dispatches').select('message_id').where('message_id', 'in', ids).execute();
    expect(dispatches).toHaveLength(6);
    // No worker log line carries a code.
    for (const w of workers) for (const code of codes) expect(w.output()).not.toContain(code);
    // Two Node processes start here: generous, so a loaded shared machine cannot fail it (nothing is timed).
  }, 120_000);
});
