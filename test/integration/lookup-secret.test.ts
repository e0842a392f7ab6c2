/**
 * Recovery codes (lookup_secret) through @ory/client-fetch, on SQLite and PostgreSQL: the scenarios of Kratos's
 * `profiles/mfa/lookup.spec.ts` and `profiles/mobile/mfa/backup.spec.ts` (reference §6), the mandatory confirmation
 * at TOTP enrollment, and security tests named after the threat.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResponseError, type SettingsFlow } from '@ory/client-fetch';
import { createTestDatabase, DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { totpCodeNow } from '../support/totp.js';
import { loginWithPassword, registerWithPassword } from '../support/users.js';
import { errorBody } from '../support/flows.js';
import { BrowserClient, csrfTokenOf } from '../support/browser-client.js';
import { ManualClock } from '../../src/support/clock.js';
import type { LookupSecretModule } from '../../src/credentials/lookup-secret/module.js';

const PASSWORD = 'a long enough passphrase';
/** Kratos's e2e MFA profile: TOTP and lookup secrets enabled, lax AAL for settings and whoami. */
const MFA_PROFILE = {
  selfservice: {
    methods: { totp: { enabled: true, config: { issuer: 'Kairos Test' } }, lookup_secret: { enabled: true } },
    flows: { settings: { required_aal: 'aal1' } },
  },
  session: { whoami: { required_aal: 'aal1' } },
};
const CODE_FORMAT = /^[0-9abcdefghjkmnpqrstvwxyz]{4}-[0-9abcdefghjkmnpqrstvwxyz]{4}-[0-9abcdefghjkmnpqrstvwxyz]{4}$/;

const messageIds = (flow: any): number[] => [
  ...((flow.ui?.messages ?? []) as any[]).map((m) => m.id),
  ...(flow.ui?.nodes ?? []).flatMap((n: any) => n.messages.map((m: any) => m.id)),
];
const nodeNames = (flow: any, group: string): string[] =>
  flow.ui.nodes.filter((n: any) => n.group === group).map((n: any) => n.attributes.name ?? n.attributes.id);
const nodeOf = (flow: any, name: string): any => flow.ui.nodes.find((n: any) => (n.attributes.name ?? n.attributes.id) === name);

/** The codes as a person reads them from the `lookup_secret_codes` node (as Kratos's `getLookupSecrets`). */
function codesOf(flow: any): string[] {
  const node = nodeOf(flow, 'lookup_secret_codes');
  if (!node) throw new Error('no lookup_secret_codes node');
  return node.attributes.text.context.secrets.map((s: any) => s.context.secret);
}

function secretOf(flow: SettingsFlow): string {
  return (nodeOf(flow, 'totp_secret_key') as any).attributes.text.context.secret as string;
}

const totpNow = (k: TestKairos, secretBase32: string): string => totpCodeNow(k, secretBase32);

const ACK = { transient_payload: { lookup_secret_acknowledged: true } };

describe.each(DIALECTS)('recovery codes (lookup_secret) (%s)', (dialect) => {
  let k: TestKairos;
  let counter = 0;
  beforeAll(async () => {
    k = await startKairos({ dialect, config: MFA_PROFILE });
  });
  afterAll(async () => k?.close());

  async function register(server: TestKairos = k) {
    const email = `lookup${++counter}-${Math.random().toString(36).slice(2, 8)}@example.com`;
    return registerWithPassword(server, email, PASSWORD);
  }

  const passwordLogin = (email: string, server: TestKairos = k) => loginWithPassword(server, email, PASSWORD);

  async function regenerate(token: string, server: TestKairos = k) {
    const flow = await server.frontend.createNativeSettingsFlow({ xSessionToken: token });
    const shown = await server.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: token, updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_regenerate: true } });
    return { flowId: flow.id, flow: shown, codes: codesOf(shown) };
  }

  function confirm(token: string, flowId: string, server: TestKairos = k, ack = true) {
    return server.frontend.updateSettingsFlow({
      flow: flowId,
      xSessionToken: token,
      updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_confirm: true, ...(ack ? ACK : {}) },
    });
  }

  async function withCodes(server: TestKairos = k) {
    const user = await register(server);
    const { flowId, codes } = await regenerate(user.token, server);
    await confirm(user.token, flowId, server);
    return { ...user, codes };
  }

  /** A new session of `user` lifted to aal2 with their last recovery code (confirming codes lifts nothing). */
  async function aal2Session(user: { email: string; codes: string[] }, server: TestKairos = k): Promise<string> {
    const login = await passwordLogin(user.email, server);
    expect((await lookupLogin(login.session_token!, user.codes.at(-1)!, server)).status).toBe(200);
    return login.session_token!;
  }

  /** POST of an aal2 login step with plain fetch, to see Kairos's additions (`kairos`, `ui_messages`). */
  async function lookupLogin(token: string, code: string, server: TestKairos = k, options: { refresh?: boolean } = {}) {
    const flow = await server.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: token, ...(options.refresh ? { refresh: true } : {}) });
    const response = await fetch(`${server.publicUrl}/self-service/login?flow=${flow.id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'x-session-token': token },
      body: JSON.stringify({ method: 'lookup_secret', lookup_secret: code }),
    });
    return { status: response.status, body: (await response.json()) as any, flowId: flow.id };
  }

  async function whoamiRaw(token: string, server: TestKairos = k): Promise<any> {
    const response = await fetch(`${server.publicUrl}/sessions/whoami`, { headers: { 'x-session-token': token } });
    return response.json();
  }

  async function codeRows(identityId: string) {
    return k.deps.db.selectFrom('lookup_secret_codes').selectAll().where('identity_id', '=', identityId).orderBy('position').execute();
  }

  it('goes through several lookup secret lifecycles (Kratos lookup.spec / mobile backup.spec)', async () => {
    const user = await register();
    const initial = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    expect(nodeNames(initial, 'lookup_secret')).toEqual(['lookup_secret_regenerate']);

    const { flowId, flow: shown, codes } = await regenerate(user.token);
    expect(shown.state).toBe('show_form');
    expect(nodeOf(shown, 'lookup_secret_codes').meta.label.id).toBe(1050010);
    expect(nodeOf(shown, 'lookup_secret_codes').attributes.text.id).toBe(1050015);
    expect(codes).toHaveLength(12);
    for (const code of codes) expect(code).toMatch(CODE_FORMAT);
    expect(new Set(codes).size).toBe(12);
    expect(nodeNames(shown, 'lookup_secret')).toEqual(expect.arrayContaining(['lookup_secret_confirm', 'lookup_secret_acknowledged']));
    // Regenerate without confirm stores nothing (Kratos settings_test).
    expect((await k.identityApi.getIdentity({ id: user.identityId })).credentials?.lookup_secret).toBeUndefined();
    expect(await codeRows(user.identityId)).toHaveLength(0);

    const saved = await confirm(user.token, flowId);
    expect(saved.state).toBe('success');
    expect(messageIds(saved)).toContain(1050001);
    expect(nodeNames(saved, 'lookup_secret')).toContain('lookup_secret_reveal');
    for (const hidden of ['lookup_secret_codes', 'lookup_secret_confirm', 'lookup_secret_regenerate']) expect(nodeNames(saved, 'lookup_secret')).not.toContain(hidden);
    const session = await k.frontend.toSession({ xSessionToken: user.token });
    // Saving codes is not an authentication: the session gains no method (issue 14, finding 7; Kratos adds one).
    expect(session.authenticator_assurance_level).toBe('aal1');
    expect(session.authentication_methods?.map((m) => m.method)).toEqual(['password']);

    // Reveal shows the status of every code, never a code.
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    const revealed = await k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_reveal: true } });
    const statuses = nodeOf(revealed, 'lookup_secret_codes').attributes.text.context.secrets;
    expect(statuses.map((s: any) => s.id)).toEqual(Array(12).fill(1900207));
    for (const code of codes) expect(JSON.stringify(revealed)).not.toContain(code);

    // The aal2 step offers the backup code (and not TOTP, which is not set up).
    const fresh = await passwordLogin(user.email);
    const aal2 = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: fresh.session_token! });
    expect(nodeNames(aal2, 'lookup_secret')).toEqual(['lookup_secret', 'method']);
    expect(nodeOf(aal2, 'lookup_secret').meta.label.id).toBe(1010007);
    expect(nodeNames(aal2, 'totp')).toEqual([]);

    const invalid = await lookupLogin(fresh.session_token!, 'invalid-code');
    expect(invalid.status).toBe(400);
    expect(invalid.body.ui.messages.map((m: any) => m.id)).toContain(4000016);
    expect(nodeOf(invalid.body, 'lookup_secret').attributes.value ?? '').toBe('');

    // Accepted regardless of case, spaces and dashes.
    const typed = codes[0]!.toUpperCase().replaceAll('-', ' ');
    const ok = await lookupLogin(fresh.session_token!, typed);
    expect(ok.status).toBe(200);
    expect(ok.body.session.authenticator_assurance_level).toBe('aal2');
    expect(ok.body.session.authentication_methods.map((m: any) => m.method)).toEqual(['password', 'lookup_secret']);
    expect(ok.body.session.kairos).toEqual({ recovery_codes_remaining: 11 });
    expect(ok.body.ui_messages.map((m: any) => m.id)).toEqual([1900200]);
    expect((await whoamiRaw(fresh.session_token!)).kairos).toEqual({ recovery_codes_remaining: 11 });

    const again = await passwordLogin(user.email);
    const reused = await lookupLogin(again.session_token!, codes[0]!);
    expect(reused.body.ui.messages.map((m: any) => m.id)).toContain(4000012);
    const before = (await k.frontend.toSession({ xSessionToken: again.session_token! })).authenticated_at;
    k.clock.advanceSeconds(5);
    const second = await lookupLogin(again.session_token!, codes[1]!);
    expect(second.status).toBe(200);
    expect(second.body.session.authenticated_at).not.toBe(before?.toISOString());

    const revealFlow = await k.frontend.createNativeSettingsFlow({ xSessionToken: again.session_token! });
    const revealedAgain = await k.frontend.updateSettingsFlow({ flow: revealFlow.id, xSessionToken: again.session_token!, updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_reveal: true } });
    const after = nodeOf(revealedAgain, 'lookup_secret_codes').attributes.text.context.secrets;
    expect(after.slice(0, 2).map((s: any) => s.id)).toEqual([1050014, 1050014]);
    expect(after[0].context.used_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(after.slice(2).every((s: any) => s.id === 1900207)).toBe(true);

    // Regenerate and confirm: the old codes are gone, the new ones work.
    const renewed = await regenerate(again.session_token!);
    expect(renewed.codes.some((c) => codes.includes(c))).toBe(false);
    await confirm(again.session_token!, renewed.flowId);
    const third = await passwordLogin(user.email);
    expect((await lookupLogin(third.session_token!, codes[2]!)).body.ui.messages.map((m: any) => m.id)).toContain(4000016);
    const newOk = await lookupLogin(third.session_token!, renewed.codes[0]!);
    expect(newOk.status).toBe(200);
    expect(newOk.body.session.kairos.recovery_codes_remaining).toBe(11);
  });

  it('confirm without regenerate answers 400 with Kratos\'s reason; a Kratos SDK client\'s plain confirm (no acknowledgement field) completes', async () => {
    const user = await register();
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    const early = await errorBody(confirm(user.token, settings.id));
    expect(early.status).toBe(400);
    expect(early.body.ui.messages).toEqual([expect.objectContaining({ id: 4000001, text: 'You must (re-)generate recovery backup codes before you can save them.' })]);

    const { flowId } = await regenerate(user.token);
    const pending = await k.frontend.getSettingsFlow({ id: flowId, xSessionToken: user.token });
    // UIs rendering the nodes still show the required checkbox.
    expect(pending.ui.nodes.find((n) => (n.attributes as { name?: string }).name === 'lookup_secret_acknowledged')?.attributes).toMatchObject({ type: 'checkbox', required: true });
    expect(await codeRows(user.identityId)).toHaveLength(0);
    expect((await confirm(user.token, flowId, k, false)).state).toBe('success');
    expect(await codeRows(user.identityId)).toHaveLength(12);
  });

  it('removes lookup codes after re-authentication, and the aal2 step no longer offers them (Kratos lookup.spec)', async () => {
    const user = await withCodes();
    k.clock.advanceSeconds(16 * 60);
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    const refused = await errorBody(k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_disable: true } }));
    expect(refused.status).toBe(403);
    expect(refused.body.error.id).toBe('session_refresh_required');
    expect(await codeRows(user.identityId)).toHaveLength(12);

    const fresh = await passwordLogin(user.email);
    const ok = await lookupLogin(fresh.session_token!, user.codes[0]!);
    expect(ok.status).toBe(200);
    const again = await k.frontend.createNativeSettingsFlow({ xSessionToken: fresh.session_token! });
    const disabled = await k.frontend.updateSettingsFlow({ flow: again.id, xSessionToken: fresh.session_token!, updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_disable: true } });
    expect(disabled.state).toBe('success');
    expect(nodeNames(disabled, 'lookup_secret')).toEqual(['lookup_secret_regenerate']);
    expect(await codeRows(user.identityId)).toHaveLength(0);

    const next = await passwordLogin(user.email);
    const aal2 = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: next.session_token! });
    expect(nodeNames(aal2, 'lookup_secret')).toEqual([]);
    expect(nodeNames(aal2, 'totp')).toEqual([]);
    expect(nodeNames(aal2, 'password')).toEqual([]);
    expect(messageIds(aal2)).toContain(1010004);
  });

  it('reveal and regenerate need a privileged session (Kratos lookup.spec)', async () => {
    const user = await withCodes();
    k.clock.advanceSeconds(16 * 60);
    for (const body of [{ lookup_secret_reveal: true }, { lookup_secret_regenerate: true }]) {
      const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
      const r = await errorBody(k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'lookup_secret', ...body } }));
      expect(r.status).toBe(403);
      expect(r.body.error.id).toBe('session_refresh_required');
      expect(r.body.redirect_browser_to).toContain('refresh=true');
    }
  });

  it('regenerating codes needs a second factor in the current session', async () => {
    const user = await withCodes();
    const aal1 = await passwordLogin(user.email);
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: aal1.session_token! });
    const r = await errorBody(k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: aal1.session_token!, updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_regenerate: true } }));
    expect(r.status).toBe(403);
    expect(r.body.error.id).toBe('session_aal2_required');
    expect(r.body.redirect_browser_to).toContain('aal=aal2');
    // After the second factor, the same session may.
    expect((await lookupLogin(aal1.session_token!, user.codes[0]!)).status).toBe(200);
    expect((await regenerate(aal1.session_token!)).codes).toHaveLength(12);
  });

  it('does not offer lookup at aal2 without codes, and answers 4000014 (Kratos lookup.spec)', async () => {
    const user = await register();
    const flow = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: user.token });
    expect(nodeNames(flow, 'lookup_secret')).toEqual([]);
    const r = await lookupLogin(user.token, 'abcd-efgh-jkmn');
    expect(r.status).toBe(400);
    expect(r.body.ui.messages.map((m: any) => m.id)).toContain(4000014);
    const empty = await errorBody(k.frontend.updateLoginFlow({ flow: flow.id, xSessionToken: user.token, updateLoginFlowBody: { method: 'lookup_secret', lookup_secret: '' } }));
    expect(nodeOf(empty.body, 'lookup_secret')).toBeUndefined();
    expect(messageIds(empty.body)).toContain(4000002);
  });

  it('tells how many codes remain, warns at 3 or fewer, and at 0 sends a browser to regenerate', async () => {
    const server = await startKairos({ dialect, config: { ...MFA_PROFILE, selfservice: { ...MFA_PROFILE.selfservice, methods: { ...MFA_PROFILE.selfservice.methods, lookup_secret: { enabled: true, config: { count: 8 } } } } } });
    try {
      const browser = new BrowserClient(server.publicUrl);
      const email = 'last-code@example.com';
      const { id: regId, flow: regFlow } = await browser.startFlow('registration');
      await browser.postForm(`/self-service/registration?flow=${regId}`, { csrf_token: csrfTokenOf(regFlow), method: 'password', 'traits.email': email, password: PASSWORD });
      const { id: settingsId, flow: settingsFlow } = await browser.startFlow('settings');
      await browser.postForm(`/self-service/settings?flow=${settingsId}`, { csrf_token: csrfTokenOf(settingsFlow), lookup_secret_regenerate: 'true' });
      const shown = await (await browser.get(`/self-service/settings/flows?id=${settingsId}`, { accept: 'application/json' })).json();
      const codes = codesOf(shown);
      expect(codes).toHaveLength(8);
      const saved = await browser.postForm(`/self-service/settings?flow=${settingsId}`, { csrf_token: csrfTokenOf(shown), lookup_secret_acknowledged: 'true', lookup_secret_confirm: 'true' });
      expect(saved.status).toBe(303);

      const api = await passwordLogin(email, server);
      const seen: { remaining: number; ids: number[] }[] = [];
      for (const code of codes.slice(0, 7)) {
        const r = await lookupLogin(api.session_token!, code, server, { refresh: true });
        expect(r.status).toBe(200);
        seen.push({ remaining: r.body.session.kairos.recovery_codes_remaining, ids: r.body.ui_messages.map((m: any) => m.id) });
      }
      expect(seen.map((s) => s.remaining)).toEqual([7, 6, 5, 4, 3, 2, 1]);
      expect(seen.map((s) => s.ids)).toEqual([[1900200], [1900200], [1900200], [1900200], [1900200, 1900201], [1900200, 1900201], [1900200, 1900201]]);
      // The hosted UI warns, with a link to regenerate.
      const welcome = await (await browser.get('/ui/welcome', { accept: 'text/html' })).text();
      expect(welcome).toContain('data-testid="ui/message/1900201"');
      expect(welcome).toContain('Only 1 backup code is left.');
      expect(welcome).toContain('href="/ui/settings"');

      // The last code, in the browser: the answer is the settings, where regenerating is offered.
      const { id: loginId, flow: loginFlow } = await browser.startFlow('login', '?aal=aal2&refresh=true');
      const last = await browser.postForm(`/self-service/login?flow=${loginId}`, { csrf_token: csrfTokenOf(loginFlow), method: 'lookup_secret', lookup_secret: codes[7]! });
      expect(last.status).toBe(303);
      expect(last.headers.get('location')).toBe(`${server.publicUrl}/self-service/settings/browser`);
      const stored = await server.deps.flows.get(loginId);
      expect(stored!.ui.messages!.map((m) => m.id)).toEqual([1900200, 1900202]);
      const whoami = await (await browser.get('/sessions/whoami')).json();
      expect(whoami.kairos).toEqual({ recovery_codes_remaining: 0 });
      const settings = await browser.startFlow('settings');
      expect(nodeNames(settings.flow, 'lookup_secret')).toContain('lookup_secret_regenerate');
      expect(nodeOf(settings.flow, 'lookup_secret_status').attributes.text.id).toBe(1900201);
    } finally {
      await server.close();
    }
  });

  it('the hosted UI shows the new codes, the acknowledgement checkbox, and download and print options', async () => {
    const browser = new BrowserClient(k.publicUrl);
    const { id: regId, flow: regFlow } = await browser.startFlow('registration');
    await browser.postForm(`/self-service/registration?flow=${regId}`, { csrf_token: csrfTokenOf(regFlow), method: 'password', 'traits.email': `ui-${counter++}@example.com`, password: PASSWORD });
    const { id, flow } = await browser.startFlow('settings');
    await browser.postForm(`/self-service/settings?flow=${id}`, { csrf_token: csrfTokenOf(flow), lookup_secret_regenerate: 'true' });
    const html = await (await browser.get(`/ui/settings?flow=${id}`, { accept: 'text/html' })).text();
    const codes = codesOf(await (await browser.get(`/self-service/settings/flows?id=${id}`, { accept: 'application/json' })).json());
    for (const code of codes) expect(html).toContain(code);
    // The checkbox sits inside its label (hosted UI markup), unticked and required.
    expect(html).toMatch(/<label class="check" for="([^"]+)"><input type="checkbox" value="true" id="\1" name="lookup_secret_acknowledged" required[^>]*><span>I have saved these backup codes in a safe place<\/span><\/label>/);
    const download = /<a [^>]*href="([^"]+codes\.txt[^"]*)"[^>]*>Download codes \(\.txt\)<\/a>/.exec(html)![1]!.replaceAll('&amp;', '&');
    const print = /<a [^>]*href="([^"]+print[^"]*)"[^>]*>Print codes<\/a>/.exec(html)![1]!.replaceAll('&amp;', '&');

    const file = await browser.get(download);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(file.headers.get('content-disposition')).toBe('attachment; filename="recovery-codes.txt"');
    expect(file.headers.get('cache-control')).toContain('no-store');
    const text = await file.text();
    for (const code of codes) expect(text).toContain(code);
    const printed = await (await browser.get(print)).text();
    for (const code of codes) expect(printed).toContain(code);

    // Nobody else gets them: no session, another identity's session.
    expect((await fetch(download)).status).toBe(401);
    const other = await register();
    expect((await fetch(download, { headers: { 'x-session-token': other.token } })).status).toBe(404);

    // Confirmed through the form (checkbox + button), the codes are no longer downloadable; a reveal shows status.
    const shown = await (await browser.get(`/self-service/settings/flows?id=${id}`, { accept: 'application/json' })).json();
    expect((await browser.postForm(`/self-service/settings?flow=${id}`, { csrf_token: csrfTokenOf(shown), lookup_secret_acknowledged: 'true', lookup_secret_confirm: 'true' })).status).toBe(303);
    expect((await browser.get(download)).status).toBe(404);
    const after = await (await browser.get(`/self-service/settings/flows?id=${id}`, { accept: 'application/json' })).json();
    await browser.postForm(`/self-service/settings?flow=${id}`, { csrf_token: csrfTokenOf(after), lookup_secret_reveal: 'true' });
    const revealHtml = await (await browser.get(`/ui/settings?flow=${id}`, { accept: 'text/html' })).text();
    expect(revealHtml).toContain('Code 1: unused');
    for (const code of codes) expect(revealHtml).not.toContain(code);
  });

  it('the hosted aal2 step offers the backup code in its own form beside the authenticator, and it signs in', async () => {
    const browser = new BrowserClient(k.publicUrl);
    const email = `ui-aal2-${counter++}@example.com`;
    const { id: regId, flow: regFlow } = await browser.startFlow('registration');
    await browser.postForm(`/self-service/registration?flow=${regId}`, { csrf_token: csrfTokenOf(regFlow), method: 'password', 'traits.email': email, password: PASSWORD });
    const { id, flow } = await browser.startFlow('settings');
    const secret = secretOf(flow as SettingsFlow);
    expect((await browser.postForm(`/self-service/settings?flow=${id}`, { csrf_token: csrfTokenOf(flow), method: 'totp', totp_code: totpNow(k, secret) })).status).toBe(303);
    const pending = await (await browser.get(`/self-service/settings/flows?id=${id}`, { accept: 'application/json' })).json();
    const codes = codesOf(pending);
    await browser.postForm(`/self-service/settings?flow=${id}`, { csrf_token: csrfTokenOf(pending), lookup_secret_acknowledged: 'true', lookup_secret_confirm: 'true' });
    expect((await browser.get('/ui/welcome', { accept: 'text/html' }).then((r) => r.text()))).toContain('aal2');

    const fresh = new BrowserClient(k.publicUrl);
    const { id: loginId, flow: loginFlow } = await fresh.startFlow('login');
    await fresh.postForm(`/self-service/login?flow=${loginId}`, { csrf_token: csrfTokenOf(loginFlow), method: 'password', identifier: email, password: PASSWORD });
    const second = await fresh.startFlow('login', '?aal=aal2');
    const html = await (await fresh.get(`/ui/login?flow=${second.id}`, { accept: 'text/html' })).text();
    const forms = [...html.matchAll(/<form [^>]*>(.*?)<\/form>/gs)].map((m) => m[1]!);
    expect(forms).toHaveLength(2);
    // The required text input of each form, whatever the attribute order.
    const requiredTextInputs = (form: string) =>
      [...form.matchAll(/<input\b[^>]*>/g)].map((m) => m[0]).filter((tag) => / type="text"/.test(tag) && /\brequired\b/.test(tag)).map((tag) => / name="([a-z_]+)"/.exec(tag)![1]);
    expect(forms.map(requiredTextInputs)).toEqual([['totp_code'], ['lookup_secret']]);
    expect(forms[1]).toContain('Use backup code');
    const done = await fresh.postForm(`/self-service/login?flow=${second.id}`, { csrf_token: csrfTokenOf(second.flow), method: 'lookup_secret', lookup_secret: codes[0]! });
    expect(done.status).toBe(303);
    const whoami = await (await fresh.get('/sessions/whoami')).json();
    expect(whoami.authentication_methods.map((m: any) => m.method)).toEqual(['password', 'lookup_secret']);
  });

  it('a recovery code is accepted once under 10 concurrent submissions on two server instances sharing the database', async () => {
    const database = await createTestDatabase(dialect);
    const clock = new ManualClock();
    // About single use: the per-identity delay (mfa/attempts) is relaxed so that most of the ten are really checked;
    // the guard may still refuse a racing attempt before its code is checked (4900100, fail closed), never accept one.
    const noDelay = { ...MFA_PROFILE, selfservice: { ...MFA_PROFILE.selfservice, methods: { ...MFA_PROFILE.selfservice.methods, totp: { enabled: true, config: { issuer: 'Kairos Test', lockout: { free_failures: 20 } } } } } };
    const a = await startKairos({ dialect, database, clock, config: noDelay });
    const b = await startKairos({ dialect, database, clock, config: noDelay });
    try {
      const user = await withCodes(a);
      const servers = [a, b];
      const sessions = await Promise.all(Array.from({ length: 10 }, (_, i) => passwordLogin(user.email, servers[i % 2])));
      const flows = await Promise.all(sessions.map((s, i) => servers[i % 2]!.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: s.session_token! })));
      const code = user.codes[3]!;
      const results = await Promise.all(
        flows.map((flow, i) =>
          fetch(`${servers[i % 2]!.publicUrl}/self-service/login?flow=${flow.id}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'application/json', 'x-session-token': sessions[i]!.session_token! },
            body: JSON.stringify({ method: 'lookup_secret', lookup_secret: code }),
          }).then(async (r) => ({ status: r.status, body: await r.json() })),
        ),
      );
      const outcomes = results.map((r) => (r.status === 200 ? 'accepted' : `${r.status} ${JSON.stringify(r.body.ui?.messages?.map((m: any) => m.id) ?? r.body.error)}`));
      expect(outcomes.filter((o) => o === 'accepted')).toHaveLength(1);
      for (const o of outcomes.filter((o) => o !== 'accepted')) expect(['400 [4000012]', '400 [4900100]']).toContain(o);
      const used = await a.deps.db.selectFrom('lookup_secret_codes').selectAll().where('identity_id', '=', user.identityId).where('used_at', 'is not', null).execute();
      expect(used.map((r) => r.position)).toEqual([4]);
      const events = await a.deps.db.selectFrom('audit_events').selectAll().where('identity_id', '=', user.identityId).where('type', '=', 'recovery_codes.used').execute();
      expect(events).toHaveLength(1);
    } finally {
      await b.close();
      await a.close();
      await database.drop();
    }
  });

  it('the database holds no plaintext code (confirmed codes, and codes awaiting confirmation in a flow)', async () => {
    const user = await withCodes();
    const pending = await regenerate(await aal2Session(user));
    const needles = [...user.codes, ...pending.codes].flatMap((c) => [c, c.replaceAll('-', ''), c.toUpperCase(), c.replaceAll('-', '').toUpperCase()]);
    const tables = ['identities', 'identity_credentials', 'identity_credential_identifiers', 'sessions', 'selfservice_flows', 'audit_events', 'lookup_secret_codes'] as const;
    let dump = '';
    for (const table of tables) dump += JSON.stringify(await k.deps.db.selectFrom(table).selectAll().execute());
    expect(dump).toContain(user.identityId);
    for (const needle of needles) expect(dump.includes(needle)).toBe(false);
    const rows = await codeRows(user.identityId);
    expect(rows).toHaveLength(12);
    for (const row of rows) expect(row.code_hash).toMatch(/^[0-9a-f]{64}$/);
    if (dialect === 'sqlite') {
      const path = k.dsn.replace(/^sqlite:\/\//, '');
      const files = [path, `${path}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f));
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) for (const needle of needles) expect(file.includes(Buffer.from(needle))).toBe(false);
    }
    expect(k.logs.text()).not.toContain(user.codes[0]!);
  });

  it('regenerated codes invalidate the old set atomically (a failure midway keeps the old set, and no mix exists)', async () => {
    const user = await withCodes();
    const module = k.server.modules.find((m) => m.name === 'lookup_secret') as LookupSecretModule;
    const repository = module.strategy.repository;
    const original = repository.insertCodes.bind(repository);
    const token = await aal2Session(user);
    const renewed = await regenerate(token);
    repository.insertCodes = async () => {
      throw new Error('injected failure after the old codes were deleted');
    };
    try {
      const failed = await fetch(`${k.publicUrl}/self-service/settings?flow=${renewed.flowId}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', 'x-session-token': token },
        body: JSON.stringify({ method: 'lookup_secret', lookup_secret_confirm: true, lookup_secret_acknowledged: true }),
      });
      expect(failed.status).toBe(500);
    } finally {
      repository.insertCodes = original;
    }
    // Rolled back: the old set is whole and still works; none of the new codes does.
    expect(await codeRows(user.identityId)).toHaveLength(12);
    const login = await passwordLogin(user.email);
    expect((await lookupLogin(login.session_token!, renewed.codes[0]!)).body.ui.messages.map((m: any) => m.id)).toContain(4000016);
    expect((await lookupLogin(login.session_token!, user.codes[0]!)).status).toBe(200);

    // Now the real thing, with logins using old codes racing the confirmation.
    const again = await regenerate(login.session_token!);
    const racers = await Promise.all(user.codes.slice(1, 6).map(() => passwordLogin(user.email)));
    const [confirmed, ...logins] = await Promise.all([
      confirm(login.session_token!, again.flowId),
      ...racers.map((r, i) => lookupLogin(r.session_token!, user.codes[i + 1]!)),
    ]);
    expect((confirmed as SettingsFlow).state).toBe('success');
    const rows = await codeRows(user.identityId);
    expect(rows).toHaveLength(12);
    expect(rows.every((r) => r.used_at === null)).toBe(true);
    // Whatever won the race, no old code works after the confirmation (each try waits out the per-identity delay,
    // so every code is really checked).
    const after = await passwordLogin(user.email);
    for (const code of user.codes.slice(1, 8)) {
      k.clock.advanceSeconds(15 * 60 + 1);
      const r = await lookupLogin(after.session_token!, code, k);
      expect(r.body.ui.messages.map((m: any) => m.id)).toContain(4000016);
    }
    expect(logins.length).toBe(5);
    k.clock.advanceSeconds(15 * 60 + 1);
    expect((await lookupLogin(after.session_token!, again.codes[0]!)).status).toBe(200);
  });

  it('recovery-code guessing is throttled like TOTP guessing (per-flow budget, shared with TOTP codes)', async () => {
    const user = await withCodes();
    const first = await passwordLogin(user.email);
    const token = first.session_token!;
    const flow = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: token });
    const post = (body: Record<string, unknown>) =>
      fetch(`${k.publicUrl}/self-service/login?flow=${flow.id}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', 'x-session-token': token },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
    for (let i = 0; i < 5; i++) {
      const r = await post({ method: 'lookup_secret', lookup_secret: `wrong-code-${i}` });
      expect(r.body.ui.messages.map((m: any) => m.id)).toContain(4000016);
    }
    const sixth = await post({ method: 'lookup_secret', lookup_secret: user.codes[0]! });
    expect(sixth.status).toBe(400);
    expect(sixth.body.ui.messages.map((m: any) => m.text)).toContain('Too many wrong codes. Sign in again.');
    expect((await codeRows(user.identityId)).every((r) => r.used_at === null)).toBe(true);
    // The per-identity layer counts recovery codes too: a fresh pending login must wait first, like after wrong TOTP
    // codes; once the delay has passed, the right code works.
    const delayed = await lookupLogin(token, user.codes[0]!);
    expect(delayed.status).toBe(400);
    expect(delayed.body.ui.messages.map((m: any) => m.id)).toContain(4900100);
    k.clock.advanceSeconds(15 * 60 + 1);
    expect((await lookupLogin(token, user.codes[0]!)).status).toBe(200);
  });

  it('admin: include_credential shows status only, DELETE removes the codes, import hashes Kratos codes', async () => {
    const user = await withCodes();
    const login = await passwordLogin(user.email);
    await lookupLogin(login.session_token!, user.codes[5]!);
    const identity = await k.identityApi.getIdentity({ id: user.identityId, includeCredential: ['lookup_secret'] });
    const config = identity.credentials?.lookup_secret?.config as any;
    expect(config.recovery_codes).toHaveLength(12);
    expect(config.recovery_codes[5].used_at).toMatch(/^\d{4}-/);
    expect(config.recovery_codes[0]).toEqual({ position: 1, used_at: null });
    for (const code of user.codes) expect(JSON.stringify(identity)).not.toContain(code);

    const report = await (await fetch(`${k.adminUrl}/admin/identities/${user.identityId}/mfa`)).json();
    expect(report.second_factors).toEqual(['lookup_secret']);
    expect(report.recovery_codes).toEqual({ total: 12, remaining: 11, created_at: expect.any(String), used: [{ position: 6, used_at: expect.any(String) }] });
    for (const code of user.codes) expect(JSON.stringify(report)).not.toContain(code);

    await k.identityApi.deleteIdentityCredentials({ id: user.identityId, type: 'lookup_secret' });
    expect(await codeRows(user.identityId)).toHaveLength(0);
    expect((await k.identityApi.getIdentity({ id: user.identityId })).credentials?.lookup_secret).toBeUndefined();
    expect((await errorBody(k.identityApi.deleteIdentityCredentials({ id: user.identityId, type: 'lookup_secret' }))).status).toBe(404);
    const next = await passwordLogin(user.email);
    expect(nodeNames(await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: next.session_token! }), 'lookup_secret')).toEqual([]);

    // Import (Kratos HEAD's format, import_mfa.spec): codes are hashed; used ones stay used.
    const email = `imported-${counter++}@example.com`;
    const created = await k.identityApi.createIdentity({
      createIdentityBody: {
        schema_id: 'default',
        traits: { email },
        credentials: {
          password: { config: { password: PASSWORD } },
          lookup_secret: { config: { codes: [{ code: 'abcd1234' }, { code: 'efgh5678', used_at: new Date('2026-01-01T00:00:00Z') as any }, { code: 'q7w8e9r0' }] } },
        } as any,
      },
    });
    const imported = await k.deps.db.selectFrom('lookup_secret_codes').selectAll().where('identity_id', '=', created.id).execute();
    expect(imported).toHaveLength(3);
    expect(JSON.stringify(imported)).not.toContain('abcd1234');
    const session = await passwordLogin(email);
    expect((await lookupLogin(session.session_token!, 'nope-nope')).body.ui.messages.map((m: any) => m.id)).toContain(4000016);
    expect((await lookupLogin(session.session_token!, 'efgh5678')).body.ui.messages.map((m: any) => m.id)).toContain(4000012);
    const ok = await lookupLogin(session.session_token!, 'ABCD1234');
    expect(ok.status).toBe(200);
    expect(ok.body.session.authentication_methods.map((m: any) => m.method)).toEqual(['password', 'lookup_secret']);
    expect(ok.body.session.kairos.recovery_codes_remaining).toBe(1);

    const bad = await fetch(`${k.adminUrl}/admin/identities`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ schema_id: 'default', traits: { email: `bad-${counter++}@example.com` }, credentials: { lookup_secret: { config: { codes: [{ code: 'not a code!' }] } } } }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.text()).not.toContain('not a code!');
  });

  it('records generated, revealed, used, regenerated and disabled audit events without any code', async () => {
    // The clock moves between steps so the events' order is their time order.
    const user = await withCodes();
    k.clock.advanceSeconds(1);
    const login = await passwordLogin(user.email);
    await lookupLogin(login.session_token!, user.codes[2]!);
    k.clock.advanceSeconds(1);
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: login.session_token! });
    await k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: login.session_token!, updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_reveal: true } });
    k.clock.advanceSeconds(1);
    const renewed = await regenerate(login.session_token!);
    await confirm(login.session_token!, renewed.flowId);
    k.clock.advanceSeconds(1);
    const disableFlow = await k.frontend.createNativeSettingsFlow({ xSessionToken: login.session_token! });
    await k.frontend.updateSettingsFlow({ flow: disableFlow.id, xSessionToken: login.session_token!, updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_disable: true } });
    const events = await k.deps.db.selectFrom('audit_events').selectAll().where('identity_id', '=', user.identityId).where('type', 'like', 'recovery_codes.%').orderBy('created_at').execute();
    expect(events.map((e) => e.type)).toEqual(['recovery_codes.generated', 'recovery_codes.used', 'recovery_codes.revealed', 'recovery_codes.regenerated', 'recovery_codes.disabled']);
    expect(JSON.parse(events[1]!.details)).toEqual({ position: 3, remaining: 11, total: 12 });
    expect(JSON.parse(events[3]!.details)).toMatchObject({ count: 12, previous_total: 12, previous_remaining: 11 });
    const text = JSON.stringify(events);
    for (const code of [...user.codes, ...renewed.codes]) expect(text).not.toContain(code);
  });

  describe('mandatory at TOTP enrollment', () => {
    async function totpStep(token: string, server: TestKairos = k) {
      const flow = await server.frontend.createNativeSettingsFlow({ xSessionToken: token });
      const secret = secretOf(flow);
      const code = totpNow(server, secret);
      const shown = await server.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: token, updateSettingsFlowBody: { method: 'totp', totp_code: code } });
      return { flowId: flow.id, secret, code, shown };
    }

    it('a right TOTP code shows the codes to acknowledge; only the confirm enrolls TOTP and the codes together', async () => {
      const user = await register();
      const { flowId, secret, code, shown } = await totpStep(user.token);
      expect(shown.state).toBe('show_form');
      const codes = codesOf(shown);
      expect(codes).toHaveLength(12);
      expect(nodeNames(shown, 'lookup_secret')).toEqual(['lookup_secret_codes', 'lookup_secret_pending_hint', 'lookup_secret_download', 'lookup_secret_print', 'lookup_secret_acknowledged', 'lookup_secret_confirm']);
      expect(nodeNames(shown, 'totp')).toEqual([]);
      expect((await k.frontend.toSession({ xSessionToken: user.token })).authenticator_assurance_level).toBe('aal1');
      expect((await k.identityApi.getIdentity({ id: user.identityId })).credentials?.totp).toBeUndefined();

      const saved = await confirm(user.token, flowId);
      expect(saved.state).toBe('success');
      expect(nodeNames(saved, 'totp')).toContain('totp_unlink');
      const session = await k.frontend.toSession({ xSessionToken: user.token });
      expect(session.authenticator_assurance_level).toBe('aal2');
      expect(session.authentication_methods?.map((m) => m.method)).toEqual(['password', 'totp']);
      expect(await codeRows(user.identityId)).toHaveLength(12);
      const totpRow = await k.deps.db.selectFrom('totp_credentials').selectAll().where('identity_id', '=', user.identityId).execute();
      const lookupCredential = await k.deps.db.selectFrom('identity_credentials').select('created_at').where('identity_id', '=', user.identityId).where('type', '=', 'lookup_secret').executeTakeFirstOrThrow();
      expect(totpRow).toHaveLength(1);
      expect(Number(lookupCredential.created_at)).toBeGreaterThan(0);

      // The TOTP code typed at enrollment stays single-use; a backup code works at the next login.
      const next = await passwordLogin(user.email);
      const replay = await errorBody(k.frontend.updateLoginFlow({ flow: (await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: next.session_token! })).id, xSessionToken: next.session_token!, updateLoginFlowBody: { method: 'totp', totp_code: code } }));
      expect(messageIds(replay.body)).toContain(4000008);
      const aal2 = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: next.session_token! });
      expect(nodeNames(aal2, 'totp')).toEqual(['totp_code', 'method']);
      expect(nodeNames(aal2, 'lookup_secret')).toEqual(['lookup_secret', 'method']);
      expect((await lookupLogin(next.session_token!, codes[0]!)).status).toBe(200);
      k.clock.advanceSeconds(30);
      const other = await passwordLogin(user.email);
      const byTotp = await k.frontend.updateLoginFlow({ flow: (await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: other.session_token! })).id, xSessionToken: other.session_token!, updateLoginFlowBody: { method: 'totp', totp_code: totpNow(k, secret) } });
      expect(byTotp.session.authenticator_assurance_level).toBe('aal2');
    });

    it('uses both TOTP and lookup in aal2 refreshes of one session (Kratos mix.spec / mobile mix.spec)', async () => {
      const user = await register();
      const { flowId, secret, shown } = await totpStep(user.token);
      const codes = codesOf(shown);
      await confirm(user.token, flowId);
      k.clock.advanceSeconds(30);
      const refresh = await k.frontend.createNativeLoginFlow({ aal: 'aal2', refresh: true, xSessionToken: user.token });
      expect(nodeNames(refresh, 'password')).toEqual([]);
      await k.frontend.updateLoginFlow({ flow: refresh.id, xSessionToken: user.token, updateLoginFlowBody: { method: 'totp', totp_code: totpNow(k, secret) } });
      const byCode = await lookupLogin(user.token, codes[1]!, k, { refresh: true });
      expect(byCode.status).toBe(200);
      const session = await k.frontend.toSession({ xSessionToken: user.token });
      expect(session.authentication_methods?.map((m) => m.method)).toEqual(['password', 'totp', 'totp', 'lookup_secret']);
      expect(session.authenticator_assurance_level).toBe('aal2');
    });

    it('abandoning enrollment after the TOTP code leaves no credential (no TOTP, no codes)', async () => {
      const user = await register();
      const { shown } = await totpStep(user.token);
      expect(codesOf(shown)).toHaveLength(12);
      // The person closes the page here.
      expect(await k.deps.db.selectFrom('totp_credentials').selectAll().where('identity_id', '=', user.identityId).execute()).toHaveLength(0);
      expect(await codeRows(user.identityId)).toHaveLength(0);
      expect(await k.deps.db.selectFrom('identity_credentials').select('type').where('identity_id', '=', user.identityId).execute()).toEqual([{ type: 'password' }]);
      const next = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
      expect(nodeNames(next, 'totp')).toEqual(['totp_qr', 'totp_secret_key', 'totp_code', 'method']);
      expect(nodeNames(next, 'lookup_secret')).toEqual(['lookup_secret_regenerate']);
      const login = await passwordLogin(user.email);
      expect(login.session.authenticator_assurance_level).toBe('aal1');
      const whoami = await fetch(`${k.publicUrl}/sessions/whoami`, { headers: { 'x-session-token': login.session_token! } });
      expect(whoami.status).toBe(200);
    });

    it('recovery codes cannot be disabled while TOTP is enrolled and codes are mandatory', async () => {
      const user = await register();
      const { flowId } = await totpStep(user.token);
      await confirm(user.token, flowId);
      const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
      expect(nodeNames(settings, 'lookup_secret')).not.toContain('lookup_secret_disable');
      const refused = await errorBody(k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_disable: true } }));
      expect(refused.status).toBe(400);
      expect(refused.body.ui.messages.map((m: any) => m.id)).toEqual([4900201]);
      expect(await codeRows(user.identityId)).toHaveLength(12);
    });

    it('an identity that still has unused codes enrolls TOTP directly and keeps them', async () => {
      const user = await withCodes();
      const { shown } = await totpStep(user.token);
      expect(shown.state).toBe('success');
      expect(await codeRows(user.identityId)).toHaveLength(12);
      expect((await k.identityApi.getIdentity({ id: user.identityId })).credentials?.totp).toBeDefined();
    });

    it('two settings flows enrolling TOTP at the same moment leave one credential, and the other is told', async () => {
      const user = await register();
      const [a, b] = await Promise.all([totpStep(user.token), totpStep(user.token)]);
      const results = await Promise.allSettled([confirm(user.token, a.flowId), confirm(user.token, b.flowId)]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const loser = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      const body = await (loser.reason as ResponseError).response.json();
      expect(body.ui.messages.map((m: any) => m.id)).toEqual([4900202]);
      expect(await k.deps.db.selectFrom('totp_credentials').selectAll().where('identity_id', '=', user.identityId).execute()).toHaveLength(1);
      const winner = results[0]!.status === 'fulfilled' ? a : b;
      const other = winner === a ? b : a;
      // The stored codes are the winner's; the loser's were never stored.
      const login = await passwordLogin(user.email);
      expect((await lookupLogin(login.session_token!, codesOf(other.shown)[0]!)).status).toBe(400);
      expect((await lookupLogin(login.session_token!, codesOf(winner.shown)[0]!)).status).toBe(200);
      // A later confirm of the loser's flow does not replace the winner's credential either.
      expect((await errorBody(confirm(user.token, other.flowId))).status).toBe(400);
      const row = await k.deps.db.selectFrom('totp_credentials').select('credential_id').where('identity_id', '=', user.identityId).execute();
      expect(row).toHaveLength(1);
    });
  });

  it('without require_recovery_codes, two flows enrolling TOTP at once leave one credential and the other is told', async () => {
    const server = await startKairos({ dialect, config: { selfservice: { methods: { totp: { enabled: true, config: { require_recovery_codes: false } } } } } });
    try {
      const user = await register(server);
      const flows = await Promise.all([1, 2].map(() => server.frontend.createNativeSettingsFlow({ xSessionToken: user.token })));
      const results = await Promise.allSettled(
        flows.map((f) => server.frontend.updateSettingsFlow({ flow: f.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'totp', totp_code: totpNow(server, secretOf(f)) } })),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const loser = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      // One answer: the winner's credential, its codes, its session's AAL, its flow and its audit event commit in one
      // unit of work, so the loser sees either nothing of it (its own insert then fails) or all of it (its session is
      // already aal2): either way it is told that another flow enrolled first (4900202). Never a success, a 403 or a 500.
      const answer = await (loser.reason as ResponseError).response.json();
      expect((loser.reason as ResponseError).response.status).toBe(400);
      expect(answer.ui.messages.map((m: any) => m.id)).toEqual([4900202]);
      const rows = await server.deps.db.selectFrom('totp_credentials').selectAll().where('identity_id', '=', user.identityId).execute();
      expect(rows).toHaveLength(1);
      expect(await server.deps.db.selectFrom('lookup_secret_codes').selectAll().where('identity_id', '=', user.identityId).execute()).toHaveLength(0);
    } finally {
      await server.close();
    }
  });
});
