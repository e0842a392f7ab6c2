import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Configuration, CourierApi, ResponseError } from '@ory/client-fetch';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { eventually, TestSmtpServer } from '../support/smtp.js';
import { CourierWorker } from '../../src/courier/worker.js';
import { REDACTED_BODY } from '../../src/courier/admin-routes.js';

const workerOf = (k: TestKairos) => (k.server.modules.find((m) => m.name === 'courier') as unknown as { worker: CourierWorker }).worker;
const courierApi = (k: TestKairos) => new CourierApi(new Configuration({ basePath: k.adminUrl }));
const address = (tag: string) => `${tag}-${Math.random().toString(36).slice(2, 8)}@example.com`;

describe.each(DIALECTS)('courier (%s)', (dialect) => {
  let smtp: TestSmtpServer;
  let k: TestKairos;
  let templates: string;

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    templates = mkdtempSync(join(tmpdir(), 'kairos-templates-'));
    mkdirSync(join(templates, 'recovery_code/invalid'), { recursive: true });
    writeFileSync(join(templates, 'recovery_code/invalid/email.subject.gotmpl'), 'Custom subject for {{ .To }}');
    writeFileSync(join(templates, 'recovery_code/invalid/email.body.plaintext.gotmpl'), 'Custom plain body, hello {{ .To }}.');
    writeFileSync(join(templates, 'recovery_code/invalid/email.body.gotmpl'), '<p>Custom <b>html</b> {{ .To }}</p>');
    k = await startKairos({
      dialect,
      config: { courier: { smtp: { connection_uri: smtp.uri, from_address: 'kairos@example.org' }, template_override_path: templates, message_retries: 2, worker: { poll_interval: '50ms' } } },
    });
  });
  afterAll(async () => {
    await k?.close();
    await smtp?.stop();
    rmSync(templates, { recursive: true, force: true });
  });

  it('delivers a queued message over SMTP and lists it as sent', async () => {
    const to = address('plain');
    const id = await k.deps.courier.enqueue({ template: 'verification_code_invalid', recipient: to, data: {} });
    const mail = await smtp.waitFor(to);
    expect(mail.subject).toBe('Someone tried to verify this email address');
    expect(mail.from).toContain('kairos@example.org');
    expect(mail.text).toContain('unable to find an account');
    expect(mail.html).toContain('<p>');
    const message = await eventually(async () => {
      const m = await courierApi(k).getCourierMessage({ id });
      return m.status === 'sent' ? m : null;
    });
    expect(message.send_count).toBe(1);
    expect(message.recipient).toBe(to);
    expect(message.template_type).toBe('verification_code_invalid');
    expect(message.body).toContain('unable to find an account');
    expect(message.dispatches?.map((d) => d.status)).toEqual(['success']);
  });

  it('the outbox row and the message commit together (rollback leaves no message)', async () => {
    const to = address('rollback');
    const identityCountBefore = (await k.deps.db.selectFrom('identities').select('id').execute()).length;
    await expect(
      k.deps.db.transaction().execute(async (trx) => {
        await k.deps.courier.enqueue({ template: 'verification_code_invalid', recipient: to, data: {} }, trx);
        const inside = await trx.selectFrom('courier_messages').select('id').where('recipient', '=', to).execute();
        expect(inside).toHaveLength(1);
        throw new Error('the action failed after writing its message');
      }),
    ).rejects.toThrow('the action failed');
    const listed = await courierApi(k).listCourierMessages({ recipient: to });
    expect(listed).toEqual([]);
    expect((await k.deps.db.selectFrom('identities').select('id').execute()).length).toBe(identityCountBefore);

    // The same write committed is delivered.
    await k.deps.db.transaction().execute((trx) => k.deps.courier.enqueue({ template: 'verification_code_invalid', recipient: to, data: {} }, trx));
    expect((await smtp.waitFor(to)).subject).toBe('Someone tried to verify this email address');
  });

  it('redacts bodies that carry a code in the admin API and keeps them encrypted at rest', async () => {
    const to = address('secret');
    const id = await k.deps.courier.enqueue({ template: 'verification_code_valid', recipient: to, data: { VerificationCode: '246810', VerificationURL: 'http://x/y', ExpiresInMinutes: 15 }, carriesSecret: true });
    const row = await k.deps.db.selectFrom('courier_messages').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.body).not.toContain('246810');
    expect(row.html_body).not.toContain('246810');
    expect(row.body_encrypted).toBe(1);
    const mail = await smtp.waitFor(to);
    expect(mail.text).toContain('246810');
    const listed = await courierApi(k).listCourierMessages({ recipient: to });
    expect(listed).toHaveLength(1);
    expect(listed[0]!.body).toBe(REDACTED_BODY);
    const single = await courierApi(k).getCourierMessage({ id });
    expect(single.body).toBe(REDACTED_BODY);
    expect(JSON.stringify(single)).not.toContain('246810');
    // Once delivered, the code's ciphertext is not kept either.
    const after = await eventually(async () => {
      const r = await k.deps.db.selectFrom('courier_messages').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      return r.status === 'sent' ? r : null;
    });
    expect(after.body).toBe('');
  });

  it('renders overridden templates from courier.template_override_path', async () => {
    const to = address('override');
    await k.deps.courier.enqueue({ template: 'recovery_code_invalid', recipient: to, data: {} });
    const mail = await smtp.waitFor(to);
    expect(mail.subject).toBe(`Custom subject for ${to}`);
    expect(mail.text.trim()).toBe(`Custom plain body, hello ${to}.`);
    expect(mail.html).toContain('<b>html</b>');
  });

  it('lists messages newest first, filters by status, and pages with page_token', async () => {
    const to = address('paging');
    for (let i = 0; i < 3; i++) {
      await k.deps.courier.enqueue({ template: 'verification_code_invalid', recipient: to, data: {} });
      k.clock.advanceMs(1);
    }
    for (let i = 0; i < 3; i++) await smtp.waitFor(to);
    const first = await courierApi(k).listCourierMessagesRaw({ recipient: to, pageSize: 2 });
    const page1 = await first.value();
    expect(page1).toHaveLength(2);
    expect(page1[0]!.created_at.getTime()).toBeGreaterThan(page1[1]!.created_at.getTime());
    const link = first.raw.headers.get('link') ?? '';
    const token = /page_token=([^&>]+)/.exec(link)?.[1];
    expect(token).toBeTruthy();
    const page2 = await courierApi(k).listCourierMessages({ recipient: to, pageSize: 2, pageToken: decodeURIComponent(token!) });
    expect(page2).toHaveLength(1);
    expect(new Set([...page1, ...page2].map((m) => m.id)).size).toBe(3);
    const abandoned = await courierApi(k).listCourierMessages({ recipient: to, status: 'abandoned' });
    expect(abandoned).toEqual([]);
    const bad = await courierApi(k).listCourierMessagesRaw({ status: 'nope' as never }).catch((e) => e);
    expect(bad).toBeInstanceOf(ResponseError);
    expect((bad as ResponseError).response.status).toBe(400);
    const missing = await courierApi(k).getCourierMessage({ id: '00000000-0000-4000-8000-000000000000' }).catch((e) => e);
    expect((missing as ResponseError).response.status).toBe(404);
  });

  it('retries a failing delivery with backoff, then abandons it and audits each failure', async () => {
    const to = address('failing');
    smtp.failWith = 451;
    try {
      const id = await k.deps.courier.enqueue({ template: 'verification_code_invalid', recipient: to, data: {} });
      const statusOf = async () => (await k.deps.db.selectFrom('courier_messages').selectAll().where('id', '=', id).executeTakeFirstOrThrow());
      // attempt 1 fails → queued again, due after the first backoff
      let row = await eventually(async () => ((await statusOf()).send_count === 1 ? statusOf() : null));
      expect(row.status).toBe('queued');
      expect(row.next_attempt_at).toBe(k.clock.nowMs() + CourierWorker.backoffSeconds(1) * 1000);
      // not retried before its time
      await workerOf(k).runOnce();
      expect((await statusOf()).send_count).toBe(1);
      k.clock.advanceSeconds(CourierWorker.backoffSeconds(1));
      row = await eventually(async () => ((await statusOf()).send_count === 2 ? statusOf() : null));
      expect(row.status).toBe('queued');
      expect(row.next_attempt_at).toBe(k.clock.nowMs() + CourierWorker.backoffSeconds(2) * 1000);
      k.clock.advanceSeconds(CourierWorker.backoffSeconds(2));
      // message_retries = 2: the third attempt is the last one
      row = await eventually(async () => ((await statusOf()).status === 'abandoned' ? statusOf() : null));
      expect(row.send_count).toBe(3);
      const message = await courierApi(k).getCourierMessage({ id });
      expect(message.status).toBe('abandoned');
      expect(message.dispatches?.map((d) => d.status)).toEqual(['failed', 'failed', 'failed']);
      expect(JSON.stringify(message.dispatches?.[0]?.error)).toContain('451');
      const events = await k.deps.audit.list({ types: ['courier.delivery_failed'], pageSize: 100 });
      const mine = events.filter((e) => e.details.message_id === id);
      expect(mine.map((e) => [e.details.attempt, e.details.abandoned])).toEqual([
        [1, false],
        [2, false],
        [3, true],
      ]);
      // abandoned is final
      k.clock.advanceSeconds(3600);
      await workerOf(k).runOnce();
      expect((await statusOf()).send_count).toBe(3);
    } finally {
      smtp.failWith = null;
    }
  });

  it('several workers deliver each message once', async () => {
    const worker = workerOf(k);
    const { CourierWorker: Worker, smtpTransport } = await import('../../src/courier/worker.js');
    const extra = [1, 2, 3].map(() => new Worker(k.deps, k.deps.courier, () => smtpTransport(smtp.uri)));
    const to = address('many');
    for (let i = 0; i < 8; i++) await k.deps.courier.enqueue({ template: 'verification_code_invalid', recipient: to, data: {} });
    await Promise.all([worker.runOnce(), ...extra.map((w) => w.runOnce())]);
    for (let i = 0; i < 8; i++) await smtp.waitFor(to);
    const rows = await eventually(async () => {
      const all = await k.deps.db.selectFrom('courier_messages').selectAll().where('recipient', '=', to).execute();
      return all.every((r) => r.status === 'sent') ? all : null;
    });
    expect(rows.map((r) => r.send_count)).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    const dispatches = await k.deps.db.selectFrom('courier_message_dispatches').select('message_id').where('message_id', 'in', rows.map((r) => r.id)).execute();
    expect(dispatches).toHaveLength(8);
    expect(smtp.received.filter((m) => m.to.includes(to))).toHaveLength(0);
  });
});

describe('dev mode mail sink (sqlite)', () => {
  let k: TestKairos;
  beforeAll(async () => {
    k = await startKairos({ dialect: 'sqlite', config: { dev: true } });
  });
  afterAll(async () => k?.close());

  it('catches mail without any SMTP server and lists it at /ui/dev/mail', async () => {
    const to = address('dev');
    await k.deps.courier.enqueue({ template: 'verification_code_valid', recipient: to, data: { VerificationCode: '135790', ExpiresInMinutes: 15 }, carriesSecret: true });
    const mails = await eventually(async () => {
      const list = (await (await fetch(`${k.publicUrl}/ui/dev/mail`, { headers: { accept: 'application/json' } })).json()) as { to: string; text: string }[];
      return list.some((m) => m.to.includes(to)) ? list : null;
    });
    expect(mails.find((m) => m.to.includes(to))!.text).toContain('135790');
    const html = await (await fetch(`${k.publicUrl}/ui/dev/mail`)).text();
    expect(html).toContain('Development mode only');
    expect(html).toContain(to);
  });

  it('is not served outside dev mode', async () => {
    const prod = await startKairos({ dialect: 'sqlite' });
    try {
      expect((await fetch(`${prod.publicUrl}/ui/dev/mail`)).status).toBe(404);
    } finally {
      await prod.close();
    }
  });
});
