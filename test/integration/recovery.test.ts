import { translator } from '../../src/ui/i18n/catalogue.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecoveryFlow } from '@ory/client-fetch';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { errorBody as failure, messageIds } from '../support/flows.js';
import { eventually, TestSmtpServer, type ReceivedMail } from '../support/smtp.js';
import { Templates } from '../../src/courier/templates.js';
import type { CourierTemplateType } from '../../src/courier/courier.js';
import { totpCodeNow } from '../support/totp.js';
import { submitTotpEnrollment } from '../support/enroll.js';
import { BrowserClient, csrfTokenOf } from '../support/browser-client.js';
import { MAX_CODES_PER_ADDRESS, OWNER_RESERVE_PER_ADDRESS } from '../../src/credentials/code/one-time-codes.js';

const PASSWORD = 'a long enough passphrase';
const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const CONFIG = { selfservice: { methods: { totp: { enabled: true } } } };
const BACKUP_CODES = ['abcd2345wxyz', 'efgh6789stuv'];

const nodeNames = (flow: any) => flow.ui.nodes.map((n: any) => `${n.group}:${n.attributes.name ?? n.attributes.id}:${n.attributes.type ?? ''}`);

describe.each(DIALECTS)('recovery (%s)', (dialect) => {
  let k: TestKairos;
  let smtp: TestSmtpServer;
  let counter = 0;
  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    k = await startKairos({ dialect, config: { ...CONFIG, courier: { smtp: { connection_uri: smtp.uri, from_address: 'kairos@example.org' }, worker: { poll_interval: '50ms' } } } });
  });
  afterAll(async () => {
    await k?.close();
    await smtp?.stop();
  });

  const subjects = new Templates(undefined);
  /** The next mail of this template that arrived over SMTP for `to` (taken, so each is read once). */
  async function mailOf(to: string, template: CourierTemplateType): Promise<ReceivedMail> {
    const subject = subjects.render(template, to, {}).subject;
    return eventually(async () => {
      const found = smtp.received.find((m) => m.to.includes(to) && m.subject === subject);
      if (found) smtp.received.splice(smtp.received.indexOf(found), 1);
      return found;
    });
  }
  /** What the outbox holds for `to` (counted without waiting for delivery: a message exists iff it was queued). */
  const queued = async (to: string, template: CourierTemplateType) =>
    (await k.deps.db.selectFrom('courier_messages').select('id').where('recipient', '=', to).where('template_type', '=', template).execute()).length;
  const lastCode = new Map<string, string>();

  /** An identity created by the admin API, its email verified or not, optionally with TOTP. */
  async function identity(options: { verified?: boolean; totp?: boolean; password?: boolean } = {}) {
    const email = `rec${++counter}-${dialect}@example.com`;
    const credentials: Record<string, unknown> = {};
    if (options.password !== false) credentials.password = { config: { password: PASSWORD } };
    if (options.totp) {
      credentials.totp = { config: { totp_url: `otpauth://totp/Kairos:${email}?secret=${SECRET}&issuer=Kairos` } };
      credentials.lookup_secret = { config: { codes: BACKUP_CODES.map((code) => ({ code })) } };
    }
    const created = await k.identityApi.createIdentity({
      createIdentityBody: {
        schema_id: 'default',
        traits: { email },
        credentials: credentials as any,
        verifiable_addresses: options.verified === false ? [] : ([{ value: email, verified: true, via: 'email', status: 'completed' }] as any),
      },
    });
    return { email, id: created.id };
  }

  async function requestCode(email: string): Promise<RecoveryFlow> {
    const flow = await k.frontend.createNativeRecoveryFlow();
    return k.frontend.updateRecoveryFlow({ flow: flow.id, updateRecoveryFlowBody: { method: 'code', email } });
  }

  /** The code from the recovery mail that arrived for `email` over SMTP. */
  async function codeFor(email: string): Promise<string> {
    const mail = await mailOf(email, 'recovery_code_valid');
    const code = /\b(\d{6})\b/.exec(mail.text)?.[1];
    if (!code) throw new Error('no code in the mail');
    lastCode.set(email, code);
    return code;
  }
  const cancelUrlOf = async (email: string) => /(http:\/\/\S+\/self-service\/recovery\/mfa-reset\/cancel\?token=\w+)/.exec((await mailOf(email, 'mfa_reset_requested')).text)![1]!;
  const submitCode = (flowId: string, code: string) => k.frontend.updateRecoveryFlow({ flow: flowId, updateRecoveryFlowBody: { method: 'code', code } });
  const submitPassword = (flowId: string, password: string) =>
    k.frontend.updateRecoveryFlow({ flow: flowId, updateRecoveryFlowBody: { method: 'password', password } as any });
  const tokenOf = (flow: RecoveryFlow) => (flow.continue_with as any[]).find((c) => c.action === 'set_ory_session_token')?.ory_session_token as string;
  const hasTotp = async (id: string) => Boolean((await k.identityApi.getIdentity({ id })).credentials?.totp);
  const hasBackupCodes = async (id: string) => Boolean((await k.identityApi.getIdentity({ id })).credentials?.lookup_secret);
  const events = async (id: string) => ((await (await fetch(`${k.adminUrl}/admin/audit-events?identity_id=${id}`)).json()) as any[]);
  const wrong = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

  it('recovers an identity without a second factor: code by email, privileged session, settings to set a new password', async () => {
    const user = await identity();
    const old = await k.frontend.updateLoginFlow({ flow: (await k.frontend.createNativeLoginFlow()).id, updateLoginFlowBody: { method: 'password', identifier: user.email, password: PASSWORD } });
    const init = await k.frontend.createNativeRecoveryFlow();
    expect(init.state).toBe('choose_method');
    expect(nodeNames(init)).toEqual(['default:csrf_token:hidden', 'code:email:email', 'code:method:submit']);

    const sent = await k.frontend.updateRecoveryFlow({ flow: init.id, updateRecoveryFlowBody: { method: 'code', email: user.email } });
    expect(sent.state).toBe('sent_email');
    expect(messageIds(sent)).toEqual([1060003]);
    expect(nodeNames(sent)).toEqual(['default:csrf_token:hidden', 'code:code:text', 'code:method:hidden', 'code:method:submit', 'code:email:submit']);
    const code = await codeFor(user.email);
    expect(JSON.stringify(sent)).not.toContain(code);

    const done = await submitCode(sent.id, code);
    expect(done.state).toBe('passed_challenge');
    const token = tokenOf(done);
    const show = (done.continue_with as any[]).find((c) => c.action === 'show_settings_ui');
    expect(show.flow.url).toContain(`/ui/settings?flow=${show.flow.id}`);
    const session = await k.frontend.toSession({ xSessionToken: token });
    expect(session.identity?.id).toBe(user.id);
    expect(session.authentication_methods?.map((m) => m.method)).toEqual(['code_recovery']);
    // Every other session is gone (an attacker's included).
    expect((await failure(k.frontend.toSession({ xSessionToken: old.session_token }))).status).toBe(401);

    const settings = await k.frontend.getSettingsFlow({ id: show.flow.id, xSessionToken: token });
    expect(messageIds(settings)).toContain(1060001);
    const saved = await k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: token, updateSettingsFlowBody: { method: 'password', password: 'a brand new passphrase' } });
    expect(saved.state).toBe('success');
    await k.frontend.updateLoginFlow({ flow: (await k.frontend.createNativeLoginFlow()).id, updateLoginFlowBody: { method: 'password', identifier: user.email, password: 'a brand new passphrase' } });
    const types = (await events(user.id)).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['recovery.requested', 'recovery.completed']));
    expect(JSON.stringify(await events(user.id))).not.toContain(code);
  });

  it('browser flow: form posts with CSRF, 303s to the UI, and the code lands in settings with a session cookie', async () => {
    const user = await identity();
    const browser = new BrowserClient(k.publicUrl);
    const { id, flow, redirect } = await browser.startFlow('recovery');
    expect(redirect).toContain(`/ui/recovery?flow=${id}`);
    const csrf = csrfTokenOf(flow);
    const forged = await browser.postForm(`/self-service/recovery?flow=${id}`, { method: 'code', email: user.email });
    expect(forged.status).toBe(303);
    expect(forged.headers.get('location')).toContain('/ui/error?id=');
    expect(await queued(user.email, 'recovery_code_valid')).toBe(0);
    const sent = await browser.postForm(`/self-service/recovery?flow=${id}`, { csrf_token: csrf, method: 'code', email: user.email });
    expect(sent.status).toBe(303);
    expect(sent.headers.get('location')).toContain(`/ui/recovery?flow=${id}`);
    const page = await browser.get(`/ui/recovery?flow=${id}`, { accept: 'text/html' });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('name="code"');
    expect(html).toContain('1060003');
    const done = await browser.postForm(`/self-service/recovery?flow=${id}`, { csrf_token: csrf, method: 'code', code: await codeFor(user.email) });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toContain('/ui/settings?flow=');
    expect(browser.cookies.has('ory_kratos_session')).toBe(true);
    const whoami = await (await browser.get('/sessions/whoami', { accept: 'application/json' })).json();
    expect(whoami.identity.id).toBe(user.id);
    // A browser with a session does not start recovery again.
    expect((await browser.get('/self-service/recovery/browser', { accept: 'text/html' })).status).toBe(303);
    const spa = await browser.get('/self-service/recovery/browser', { accept: 'application/json' });
    expect(spa.status).toBe(400);
    expect((await spa.json()).error.id).toBe('session_already_available');
  });

  it('answers the same whether or not the address exists, and mails nothing to an unknown address', async () => {
    const user = await identity();
    const nobody = `nobody-${dialect}@example.com`;
    const unknown = await requestCode(nobody);
    expect(await queued(nobody, 'recovery_code_valid')).toBe(0);
    expect(await queued(nobody, 'recovery_code_invalid')).toBe(0);
    const known = await requestCode(user.email);
    await codeFor(user.email);
    expect(unknown.state).toBe(known.state);
    expect(unknown.ui.messages).toEqual(known.ui.messages);
    expect(nodeNames(unknown)).toEqual(nodeNames(known));
  });

  it('an unverified recovery address cannot reset MFA (nor recover an account without one)', async () => {
    for (const totp of [true, false]) {
      const user = await identity({ verified: false, totp });
      const sent = await requestCode(user.email);
      expect(sent.state).toBe('sent_email');
      expect(await queued(user.email, 'recovery_code_valid')).toBe(0);
      const attempt = await failure(submitCode(sent.id, '000000'));
      expect(messageIds(attempt.body)).toContain(4060006);
      expect(await hasTotp(user.id)).toBe(totp);
      const resets = await k.deps.db.selectFrom('mfa_reset_requests').selectAll().where('identity_id', '=', user.id).execute();
      expect(resets).toHaveLength(0);
    }
  });

  it('a recovery code by email is single-use and expires', async () => {
    // Single use: two concurrent submissions of the same code, one session.
    const a = await identity();
    const flow = await requestCode(a.email);
    const code = await codeFor(a.email);
    const results = await Promise.allSettled([submitCode(flow.id, code), submitCode(flow.id, code)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((await failure(submitCode(flow.id, code))).status).toBe(400);

    // A code is bound to its flow.
    const b = await identity();
    const first = await requestCode(b.email);
    const firstCode = await codeFor(b.email);
    const second = await k.frontend.createNativeRecoveryFlow();
    await k.frontend.updateRecoveryFlow({ flow: second.id, updateRecoveryFlowBody: { method: 'code', email: b.email } });
    await codeFor(b.email);
    expect(messageIds((await failure(submitCode(second.id, firstCode))).body)).toContain(4060006);

    // A resent code voids the previous one.
    const resent = await k.frontend.updateRecoveryFlow({ flow: first.id, updateRecoveryFlowBody: { method: 'code', email: b.email } });
    expect(await codeFor(b.email)).not.toBe(firstCode);
    expect(messageIds((await failure(submitCode(resent.id, firstCode))).body)).toContain(4060006);

    // Expiry: selfservice.methods.code.config.lifespan (15m) later the right code is refused.
    const c = await identity();
    const late = await requestCode(c.email);
    const lateCode = await codeFor(c.email);
    const row = await k.deps.db.selectFrom('one_time_codes').select('expires_at').where('flow_id', '=', late.id).executeTakeFirstOrThrow();
    expect(Number(row.expires_at)).toBe(k.clock.nowMs() + 15 * 60_000);
    k.clock.advanceSeconds(15 * 60 + 1);
    expect(messageIds((await failure(submitCode(late.id, lateCode))).body)).toContain(4060006);
  });

  it('email-code guessing is throttled: per flow, and codes mailed per identity per hour', async () => {
    const user = await identity();
    const flow = await requestCode(user.email);
    const code = await codeFor(user.email);
    for (let i = 0; i < 5; i++) expect(messageIds((await failure(submitCode(flow.id, wrong(code)))).body)).toContain(4060006);
    const blocked = await failure(submitCode(flow.id, code));
    expect(messageIds(blocked.body)).toContain(4900400);
    expect(blocked.body.state).toBe('sent_email');

    // This client never saw the owner sign in, so it gets the address's codes minus the owner's reserve: two more
    // this hour are mailed (three in all); the fourth request answers the same but mails nothing.
    for (let i = 0; i < MAX_CODES_PER_ADDRESS - OWNER_RESERVE_PER_ADDRESS - 1; i++) await requestCode(user.email);
    expect(await queued(user.email, 'recovery_code_valid')).toBe(MAX_CODES_PER_ADDRESS - OWNER_RESERVE_PER_ADDRESS);
    const fourth = await requestCode(user.email);
    expect(fourth.state).toBe('sent_email');
    expect(fourth.ui.messages).toEqual(flow.ui.messages);
    expect(await queued(user.email, 'recovery_code_valid')).toBe(MAX_CODES_PER_ADDRESS - OWNER_RESERVE_PER_ADDRESS);
    k.clock.advanceSeconds(3601);
    await requestCode(user.email);
    expect(await queued(user.email, 'recovery_code_valid')).toBe(MAX_CODES_PER_ADDRESS - OWNER_RESERVE_PER_ADDRESS + 1);
  });

  describe('identity with a second factor', () => {
    it('recovery by email alone does not remove the second factor', async () => {
      const user = await identity({ totp: true });
      const flow = await requestCode(user.email);
      const step = await submitCode(flow.id, await codeFor(user.email));
      expect(step.state).toBe('sent_email');
      expect(step.continue_with ?? []).toEqual([]);
      expect(messageIds(step)).toEqual([1900400]);
      expect((step.ui.messages![0] as any).context.delay_seconds).toBe(72 * 3600);
      expect(nodeNames(step)).toEqual(['default:csrf_token:hidden', 'code:password:password', 'code:method:submit']);
      expect(await hasTotp(user.id)).toBe(true);
      const notice = await mailOf(user.email, 'mfa_reset_requested');
      expect(notice.text).toContain('/self-service/recovery/mfa-reset/cancel?token=');
      // A date people read (issue 19: no ISO timestamps in words), in UTC and saying so.
      expect(notice.text).toContain(translator('en').date(k.clock.nowMs() + 72 * 3_600_000));
      expect((await events(user.id)).map((e) => e.type)).toContain('mfa_reset.requested');
      // Kratos's behaviour is no better (an aal1 session blocked by the factor); Kairos issues no session at all here.
      expect((await k.deps.db.selectFrom('sessions').select('id').where('identity_id', '=', user.id).execute()).length).toBe(0);
    });

    it('a verified secondary recovery address recovers and every verified address is told; an unverified one gets nothing', async () => {
      const user = await identity({ totp: true });
      const secondary = `second-${counter}-${dialect}@example.org`;
      const unverified = `unverified-${counter}-${dialect}@example.org`;
      const added = await k.deps.recoveryAddresses.addSecondary(user.id, secondary);
      await k.deps.recoveryAddresses.markSecondaryVerified(added.id, user.id);
      await k.deps.recoveryAddresses.addSecondary(user.id, unverified);

      await requestCode(unverified);
      expect(await queued(unverified, 'recovery_code_valid')).toBe(0);

      const step = await submitCode((await requestCode(secondary)).id, await codeFor(secondary));
      expect(messageIds(step)).toEqual([1900400]);
      expect((await mailOf(user.email, 'mfa_reset_requested')).text).toContain('/self-service/recovery/mfa-reset/cancel?token=');
      expect((await mailOf(secondary, 'mfa_reset_requested')).text).toContain('/self-service/recovery/mfa-reset/cancel?token=');
      expect(await queued(unverified, 'mfa_reset_requested')).toBe(0);
      expect(await hasTotp(user.id)).toBe(true);
    });

    it('lost phone and codes: the password completes the reset at once; TOTP must be enrolled again before the session works', async () => {
      const user = await identity({ totp: true });
      const flow = await requestCode(user.email);
      const step = await submitCode(flow.id, await codeFor(user.email));
      const bad = await failure(submitPassword(step.id, 'not the passphrase'));
      expect(messageIds(bad.body)).toContain(4000006);
      expect(await hasTotp(user.id)).toBe(true);

      const done = await submitPassword(step.id, PASSWORD);
      expect(done.state).toBe('passed_challenge');
      const token = tokenOf(done);
      expect(await hasTotp(user.id)).toBe(false);
      expect(await hasBackupCodes(user.id)).toBe(false);
      // Removed through the identity service: the old secret is kept (encrypted) for rejection diagnosis.
      expect(await k.deps.db.selectFrom('totp_previous_secrets').select('id').where('identity_id', '=', user.id).execute()).toHaveLength(1);
      const whoami = await failure(k.frontend.toSession({ xSessionToken: token }));
      expect(whoami.status).toBe(403);
      expect(whoami.body.error.id).toBe('kairos_second_factor_enrollment_required');
      expect(whoami.body.redirect_browser_to).toContain('/self-service/settings/browser');
      const show = (done.continue_with as any[]).find((c) => c.action === 'show_settings_ui');
      const settings = await k.frontend.getSettingsFlow({ id: show.flow.id, xSessionToken: token });
      expect(messageIds(settings)).toEqual(expect.arrayContaining([1060001, 1900401]));
      expect((await mailOf(user.email, 'mfa_reset_completed')).text).toContain('second factor');
      const types = (await events(user.id)).map((e) => e.type);
      expect(types).toEqual(expect.arrayContaining(['mfa_reset.requested', 'mfa_reset.completed', 'second_factor.removed', 'recovery.completed']));

      // Until TOTP is enrolled again (with new recovery codes, confirmed) the session stays refused.
      const enroll = await k.frontend.createNativeSettingsFlow({ xSessionToken: token });
      const secret = (enroll.ui.nodes.find((n: any) => n.attributes.id === 'totp_secret_key') as any).attributes.text.context.secret as string;
      const code = totpCodeNow(k, secret);
      const pending = await k.frontend.updateSettingsFlow({ flow: enroll.id, xSessionToken: token, updateSettingsFlowBody: { method: 'totp', totp_code: code } });
      expect(pending.state).toBe('show_form');
      expect((await failure(k.frontend.toSession({ xSessionToken: token }))).status).toBe(403);
      const saved = await submitTotpEnrollment(k, { flowId: enroll.id, token, code });
      expect(saved.state).toBe('success');
      expect(await hasTotp(user.id)).toBe(true);
      expect(await hasBackupCodes(user.id)).toBe(true);
      const session = await k.frontend.toSession({ xSessionToken: token });
      expect(session.authenticator_assurance_level).toBe('aal2');
      // The old backup codes are gone for good.
      const again = await k.frontend.updateLoginFlow({ flow: (await k.frontend.createNativeLoginFlow()).id, updateLoginFlowBody: { method: 'password', identifier: user.email, password: PASSWORD } });
      const aal2 = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: again.session_token });
      const old = await failure(k.frontend.updateLoginFlow({ flow: aal2.id, xSessionToken: again.session_token, updateLoginFlowBody: { method: 'lookup_secret', lookup_secret: BACKUP_CODES[0]! } }));
      expect(old.status).toBe(400);
    });

    it('lost phone and codes without the password: the reset completes only after mfa_reset_delay, when the mailbox is proven again', async () => {
      const user = await identity({ totp: true });
      let step = await submitCode((await requestCode(user.email)).id, await codeFor(user.email));
      const completesAt = (step.ui.messages![0] as any).context.completes_at;
      k.clock.advanceSeconds(71 * 3600);
      step = await submitCode((await requestCode(user.email)).id, await codeFor(user.email));
      expect(step.state).toBe('sent_email');
      expect((step.ui.messages![0] as any).context.completes_at).toBe(completesAt);
      expect(await queued(user.email, 'mfa_reset_requested')).toBe(1);
      expect(await hasTotp(user.id)).toBe(true);

      k.clock.advanceSeconds(3600);
      const done = await submitCode((await requestCode(user.email)).id, await codeFor(user.email));
      expect(done.state).toBe('passed_challenge');
      expect(await hasTotp(user.id)).toBe(false);
      expect((await failure(k.frontend.toSession({ xSessionToken: tokenOf(done) }))).body.error.id).toBe('kairos_second_factor_enrollment_required');
      const completed = (await events(user.id)).find((e) => e.type === 'mfa_reset.completed');
      expect(completed.details.via).toBe('delay');
      expect([...completed.details.removed].sort()).toEqual(['lookup_secret', 'totp']);
      expect(await hasBackupCodes(user.id)).toBe(false);
    });

    it('a cancelled MFA reset leaves the second factor in place', async () => {
      const user = await identity({ totp: true });
      const step = await submitCode((await requestCode(user.email)).id, await codeFor(user.email));
      const cancelUrl = await cancelUrlOf(user.email);
      // Opening the link (as a mail scanner or link preview does) cancels nothing: it shows the request and a button.
      for (let i = 0; i < 2; i++) {
        const page = await fetch(cancelUrl, { headers: { accept: 'text/html' } });
        expect(page.status).toBe(200);
        expect(page.headers.get('cache-control')).toContain('no-store');
        const html = await page.text();
        expect(html).toContain('data-testid="ui/message/1900404"');
        expect(html).toContain('data-testid="mfa-reset/cancel"');
      }
      expect((await k.deps.db.selectFrom('mfa_reset_requests').select('status').where('identity_id', '=', user.id).executeTakeFirstOrThrow()).status).toBe('pending');
      const token = new URL(cancelUrl).searchParams.get('token')!;
      const cancel = () => fetch(new URL('/self-service/recovery/mfa-reset/cancel', cancelUrl), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' }, body: new URLSearchParams({ token }).toString() });
      const done = await cancel();
      expect(done.status).toBe(200);
      expect(await done.text()).toContain('data-testid="ui/message/1900402"');
      expect((await cancel()).status).toBe(404);
      expect((await fetch(cancelUrl, { headers: { accept: 'text/html' } })).status).toBe(404);
      expect((await mailOf(user.email, 'mfa_reset_cancelled')).subject).toBe('The reset of your second factor was cancelled');

      // Neither the password on the old flow nor the passing of the delay completes a cancelled reset.
      expect(messageIds((await failure(submitPassword(step.id, PASSWORD))).body)).toContain(4900402);
      k.clock.advanceSeconds(73 * 3600);
      const again = await submitCode((await requestCode(user.email)).id, await codeFor(user.email));
      expect(again.state).toBe('sent_email');
      expect(messageIds(again)).toEqual([1900400]);
      expect(await hasTotp(user.id)).toBe(true);
      expect(await hasBackupCodes(user.id)).toBe(true);
      expect((await events(user.id)).map((e) => e.type)).toContain('mfa_reset.cancelled');
      const rows = await k.deps.db.selectFrom('mfa_reset_requests').select(['status']).where('identity_id', '=', user.id).orderBy('created_at').execute();
      expect(rows.map((r) => r.status)).toEqual(['cancelled', 'pending']);
    });
  });

  describe('admin recovery (helpdesk)', () => {
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${k.adminUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as any };
    };

    it('helpdesk reset: TOTP removed with a reason, then a recovery code in Kratos shape; both recorded with actor and reason', async () => {
      const user = await identity({ totp: true });
      const del = await fetch(`${k.adminUrl}/admin/identities/${user.id}/credentials/totp`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'ticket 99: identity proven in person' }) });
      expect(del.status).toBe(204);
      const delCodes = await fetch(`${k.adminUrl}/admin/identities/${user.id}/credentials/lookup_secret?reason=${encodeURIComponent('ticket 99: codes lost too')}`, { method: 'DELETE' });
      expect(delCodes.status).toBe(204);
      expect(await hasBackupCodes(user.id)).toBe(false);
      const { status, body } = await post('/admin/recovery/code', { identity_id: user.id, expires_in: '30m', flow_type: 'api', reason: 'ticket 99' });
      expect(status).toBe(201);
      expect(Object.keys(body).sort()).toEqual(['expires_at', 'recovery_code', 'recovery_link']);
      expect(body.recovery_code).toMatch(/^\d{6}$/);
      expect(new Date(body.expires_at).getTime()).toBe(k.clock.nowMs() + 30 * 60_000);
      const flowId = new URL(body.recovery_link).searchParams.get('flow')!;
      const flow = await k.frontend.getRecoveryFlow({ id: flowId });
      expect(flow.state).toBe('sent_email');
      const done = await submitCode(flowId, body.recovery_code);
      expect((await k.frontend.toSession({ xSessionToken: tokenOf(done) })).identity?.id).toBe(user.id);
      const all = await events(user.id);
      const deletions = all.filter((e) => e.type === 'credential.deleted');
      expect(deletions.map((e) => [e.actor, e.details.credential_type, e.details.reason])).toEqual([
        ['admin', 'totp', 'ticket 99: identity proven in person'],
        ['admin', 'lookup_secret', 'ticket 99: codes lost too'],
      ]);
      expect(all.find((e) => e.type === 'recovery.requested')).toMatchObject({ actor: 'admin', details: { method: 'admin_code', reason: 'ticket 99' } });
      expect(all.find((e) => e.type === 'recovery.completed')).toMatchObject({ details: { issued_by: 'admin', mfa: 'none' } });
      expect(JSON.stringify(all)).not.toContain(body.recovery_code);
    });

    it('an admin recovery link signs the browser in once and lands in settings; calls without a reason say so', async () => {
      const user = await identity();
      const { status, body } = await post('/admin/recovery/link', { identity_id: user.id });
      expect(status).toBe(200);
      expect(Object.keys(body).sort()).toEqual(['expires_at', 'recovery_link']);
      const first = await fetch(body.recovery_link, { redirect: 'manual' });
      expect(first.status).toBe(303);
      expect(first.headers.get('location')).toContain('/ui/settings?flow=');
      expect(first.headers.get('set-cookie')).toContain('ory_kratos_session=');
      const again = await fetch(body.recovery_link, { redirect: 'manual', headers: { accept: 'application/json' } });
      expect(again.status).toBe(400);
      expect(messageIds(await again.json())).toContain(4060004);
      const requested = (await events(user.id)).find((e) => e.type === 'recovery.requested');
      expect(requested.details).toMatchObject({ method: 'admin_link', reason: 'no reason given' });
    });

    it('rejects bad admin recovery requests with Kratos errors, never a 500', async () => {
      const user = await identity();
      expect((await post('/admin/recovery/code', {})).status).toBe(400);
      expect((await post('/admin/recovery/code', { identity_id: '00000000-0000-4000-8000-000000000000' })).status).toBe(404);
      expect((await post('/admin/recovery/code', { identity_id: 'nope' })).status).toBe(404);
      expect((await post('/admin/recovery/code', { identity_id: user.id, expires_in: 'soon' })).status).toBe(400);
      expect((await post('/admin/recovery/code', { identity_id: user.id, expires_in: '9999h' })).status).toBe(400);
      expect((await post('/admin/recovery/code', { identity_id: user.id, flow_type: 'carrier-pigeon' })).status).toBe(400);
      expect((await post('/admin/recovery/code', { identity_id: user.id, reason: 'x'.repeat(1001) })).status).toBe(400);
      const withTotp = await identity({ totp: true });
      const longReason = await fetch(`${k.adminUrl}/admin/identities/${withTotp.id}/credentials/totp?reason=${'y'.repeat(1001)}`, { method: 'DELETE' });
      expect(longReason.status).toBe(400);
      expect(await hasTotp(withTotp.id)).toBe(true);
      const res = await post('/admin/recovery/link', [1, 2]);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe(400);
    });
  });
});
