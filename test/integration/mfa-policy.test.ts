/**
 * MFA policy by role (issue 16), through the real HTTP API on both dialects: rules matched by schema id, trait,
 * metadata_public and metadata_admin (first match wins), grace by time (injected clock) and by sign-ins, enforcement
 * in browser, SPA and native flows (@ory/client-fetch), forbidden methods refused and not counted, role changes at
 * the next request, and remembered devices (skip, refusals, revocations, a copied cookie).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { BrowserClient, csrfTokenOf } from '../support/browser-client.js';
import { errorBody, messageIds, secretOf } from '../support/flows.js';
import { totpCodeNow } from '../support/totp.js';
import { submitTotpEnrollment } from '../support/enroll.js';
import { loginWithPassword } from '../support/users.js';
import { DEFAULT_SCHEMA_PATH } from '../../src/config/load.js';
import { readFileSync } from 'node:fs';

const PASSWORD = 'a long enough passphrase';
const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const DAY = 86_400_000;

/** A second identity schema (`employee`): the default one plus a department. */
const employeeSchema = (() => {
  const schema = JSON.parse(readFileSync(DEFAULT_SCHEMA_PATH, 'utf8'));
  schema.$id = 'https://kairos.local/schemas/employee/identity.schema.json';
  schema.properties.traits.properties.department = { type: 'string', title: 'Department' };
  return `base64://${Buffer.from(JSON.stringify(schema)).toString('base64')}`;
})();

const POLICY_CONFIG = {
  identity: {
    default_schema_id: 'default',
    schemas: [
      { id: 'default', url: `file://${DEFAULT_SCHEMA_PATH}` },
      { id: 'employee', url: employeeSchema },
    ],
  },
  selfservice: {
    methods: { totp: { enabled: true }, webauthn: { enabled: true, config: { rp: { id: '127.0.0.1', display_name: 'Kairos Test' } } } },
    mfa: {
      policies: [
        { id: 'admins', match: { metadata_admin: { role: 'admin' } }, required: ['webauthn'], allowed_methods: ['webauthn', 'lookup_secret'] },
        { id: 'engineering', match: { traits: { department: ['engineering', 'sre'] } }, required: 'any', enrollment_grace: '7d', remember_device: '720h' },
        { id: 'contractors', match: { metadata_public: { kind: 'contractor' } }, required: 'any', enrollment_grace: { logins: 2 } },
        { id: 'kiosk', match: { metadata_public: { kind: 'kiosk' } }, required: 'none', allowed_methods: ['webauthn', 'lookup_secret'] },
        { id: 'employees', match: { schema_id: 'employee' }, required: 'none' },
      ],
    },
  },
};

describe.each(DIALECTS)('MFA policy by role (%s)', (dialect) => {
  let k: TestKairos;
  let counter = 0;
  beforeAll(async () => {
    k = await startKairos({ dialect, config: POLICY_CONFIG });
  });
  afterAll(async () => k?.close());

  interface Who {
    email: string;
    id: string;
  }

  /** An identity made by the admin API (password; optionally TOTP with SECRET). */
  async function identity(o: { department?: string; metadataPublic?: unknown; metadataAdmin?: unknown; totp?: boolean } = {}): Promise<Who> {
    const email = `pol${++counter}-${dialect}@example.com`;
    const credentials: Record<string, unknown> = { password: { config: { password: PASSWORD } } };
    if (o.totp) credentials.totp = { config: { totp_url: `otpauth://totp/Kairos:${email}?secret=${SECRET}&issuer=Kairos` } };
    const response = await fetch(`${k.adminUrl}/admin/identities`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        schema_id: o.department ? 'employee' : 'default',
        traits: o.department ? { email, department: o.department } : { email },
        metadata_public: o.metadataPublic,
        metadata_admin: o.metadataAdmin,
        credentials,
      }),
    });
    const json = (await response.json()) as any;
    expect(response.status, JSON.stringify(json)).toBe(201);
    return { email, id: json.id };
  }

  const adminJson = async (id: string) => (await (await fetch(`${k.adminUrl}/admin/identities/${id}`)).json()) as any;
  const patch = (id: string, operations: unknown[]) =>
    fetch(`${k.adminUrl}/admin/identities/${id}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(operations) });
  const events = async (id: string, type?: string) =>
    ((await (await fetch(`${k.adminUrl}/admin/audit-events?identity_id=${id}${type ? `&type=${type}` : ''}`)).json()) as any[]);
  /** A fresh TOTP code: the clock moves one step first (each step is accepted once per credential). */
  const nextCode = () => {
    k.clock.advanceSeconds(30);
    return totpCodeNow(k, SECRET);
  };
  const uiMessages = (result: any): any[] => (result.ui_messages ?? []) as any[];
  const rawLogin = async (email: string) => {
    const flow = await k.frontend.createNativeLoginFlow();
    const response = await fetch(`${k.publicUrl}/self-service/login?flow=${flow.id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ method: 'password', identifier: email, password: PASSWORD }),
    });
    return { status: response.status, body: (await response.json()) as any };
  };

  // ---- matching ---------------------------------------------------------------------------------------------------

  it('matches by metadata_admin, trait, metadata_public and schema id, first match wins, and the admin API shows the rule in force', async () => {
    const adminEngineer = await identity({ department: 'engineering', metadataAdmin: { role: 'admin' } });
    const sre = await identity({ department: 'sre' });
    const contractor = await identity({ metadataPublic: { kind: 'contractor' } });
    const sales = await identity({ department: 'sales' });
    const plain = await identity();
    const ruleOf = async (who: Who) => (await adminJson(who.id)).kairos.mfa_policy;
    expect(await ruleOf(adminEngineer)).toMatchObject({ rule_id: 'admins', matched_by: ['metadata_admin.role = "admin"'], required: ['webauthn'], allowed_methods: ['webauthn', 'lookup_secret'] });
    expect(await ruleOf(sre)).toMatchObject({ rule_id: 'engineering', matched_by: ['traits.department in ["engineering", "sre"]'], required: 'any', enrollment_grace: { duration_seconds: 7 * 86_400, logins: null }, remember_device_seconds: 720 * 3600 });
    expect(await ruleOf(contractor)).toMatchObject({ rule_id: 'contractors', matched_by: ['metadata_public.kind = "contractor"'], enrollment_grace: { duration_seconds: null, logins: 2 } });
    expect(await ruleOf(sales)).toMatchObject({ rule_id: 'employees', matched_by: ['schema_id = "employee"'], required: 'none' });
    expect(await ruleOf(plain)).toMatchObject({ rule_id: 'default', default: true, required: 'none' });
    // Kratos's SDK reads the same response and ignores the extra member.
    const viaSdk = await k.identityApi.getIdentity({ id: sre.id });
    expect(viaSdk.id).toBe(sre.id);
    expect((viaSdk as any).kairos).toBeUndefined();
    const listed = (await (await fetch(`${k.adminUrl}/admin/identities?ids=${contractor.id}`)).json()) as any[];
    expect(listed[0].kairos.mfa_policy.rule_id).toBe('contractors');
  });

  // ---- grace -----------------------------------------------------------------------------------------------------

  it('grace by time: native sign-ins are reminded with the deadline; after it, whoami refuses until a second factor is enrolled through the settings API', async () => {
    const user = await identity({ department: 'engineering' });
    const startedAt = k.clock.nowMs();
    // @ory/client-fetch drops `ui_messages` (not in Kratos's type): read the raw answer.
    const first = (await rawLogin(user.email)).body;
    const reminder = uiMessages(first).find((m) => m.id === 1901000);
    expect(reminder.context).toMatchObject({ deadline_at: new Date(startedAt + 7 * DAY).toISOString(), rule_id: 'engineering', logins_left: null });
    expect(first.session.identity?.id).toBe(user.id);
    const whoami = await (await fetch(`${k.publicUrl}/sessions/whoami`, { headers: { 'x-session-token': first.session_token! } })).json();
    expect(whoami.kairos.mfa_policy).toEqual({ rule_id: 'engineering', status: 'grace', enrollment_deadline: new Date(startedAt + 7 * DAY).toISOString() });

    k.clock.advanceMs(7 * DAY - 60_000);
    const stillGrace = (await rawLogin(user.email)).body;
    // The deadline runs from the first sign-in under the rule, not from this one.
    expect(uiMessages(stillGrace).find((m) => m.id === 1901000).context.deadline_at).toBe(new Date(startedAt + 7 * DAY).toISOString());
    await k.frontend.toSession({ xSessionToken: stillGrace.session_token });

    k.clock.advanceMs(120_000);
    const late = (await rawLogin(user.email)).body;
    expect(late.session_token).toMatch(/^ory_st_/);
    expect(late.session.identity ?? null).toBeNull();
    expect(uiMessages(late).map((m) => m.id)).toContain(4901000);
    const refused = await errorBody(k.frontend.toSession({ xSessionToken: late.session_token }));
    expect(refused.status).toBe(403);
    expect(refused.body.error.id).toBe('kairos_second_factor_enrollment_required');
    expect(refused.body.error.details.rule_id).toBe('engineering');
    expect(refused.body.redirect_browser_to).toBe(`${k.publicUrl}/self-service/settings/browser`);
    // The session that was let in during the grace is refused too, from its next request.
    expect((await errorBody(k.frontend.toSession({ xSessionToken: stillGrace.session_token }))).status).toBe(403);

    // Settings stay reachable with the refused session, say why, and enrolling lifts the refusal.
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: late.session_token });
    expect(messageIds(settings)).toContain(4901000);
    await submitTotpEnrollment(k, { flowId: settings.id, token: late.session_token!, code: totpCodeNow(k, secretOf(settings)) });
    const after = await k.frontend.toSession({ xSessionToken: late.session_token });
    expect(after.authenticator_assurance_level).toBe('aal2');

    const types = (await events(user.id)).map((e) => e.type);
    expect(types.filter((t) => t === 'mfa_policy.applied')).toHaveLength(1);
    expect(types.filter((t) => t === 'mfa_policy.grace_reminded')).toHaveLength(2);
    const enforced = await events(user.id, 'mfa_policy.enrollment_enforced');
    expect(enforced.map((e) => e.details.at)).toEqual(['login']);
    expect(enforced[0].details.rule_id).toBe('engineering');
    const logins = await events(user.id, 'login.succeeded');
    expect(logins.map((e) => e.details.mfa_decision)).toEqual(['grace', 'grace', 'enrollment_required']);
    expect(logins.every((e) => e.details.mfa_rule === 'engineering')).toBe(true);
  });

  it('grace by sign-ins: two sign-ins with a reminder, the third is sent to enroll', async () => {
    const user = await identity({ metadataPublic: { kind: 'contractor' } });
    const one = (await rawLogin(user.email)).body;
    expect(uiMessages(one).find((m) => m.id === 1901001).context).toMatchObject({ logins_left: 1, rule_id: 'contractors' });
    const two = (await rawLogin(user.email)).body;
    expect(uiMessages(two).find((m) => m.id === 1901001).context.logins_left).toBe(0);
    await k.frontend.toSession({ xSessionToken: two.session_token });
    const three = (await rawLogin(user.email)).body;
    expect(uiMessages(three).map((m) => m.id)).toContain(4901000);
    expect((await errorBody(k.frontend.toSession({ xSessionToken: three.session_token }))).body.error.id).toBe('kairos_second_factor_enrollment_required');
    // Clock time does not matter to a sign-in grace.
    const state = await k.deps.db.selectFrom('mfa_policy_states').selectAll().where('identity_id', '=', user.id).execute();
    expect(state.map((s) => [s.rule_id, Number(s.login_count)])).toEqual([['contractors', 3]]);
  });

  // ---- browser and SPA -------------------------------------------------------------------------------------------

  it('enforcement after the grace: a browser is sent to settings with the reason, an SPA gets 403 with redirect_browser_to', async () => {
    const user = await identity({ metadataPublic: { kind: 'contractor' } });
    for (let i = 0; i < 2; i++) await loginWithPassword(k, user.email, PASSWORD);

    const browser = new BrowserClient(k.publicUrl);
    const { id, flow } = await browser.startFlow('login');
    const posted = await browser.postForm(`/self-service/login?flow=${id}`, { csrf_token: csrfTokenOf(flow), method: 'password', identifier: user.email, password: PASSWORD });
    expect(posted.status).toBe(303);
    expect(posted.headers.get('location')).toBe(`${k.publicUrl}/self-service/settings/browser`);
    const settingsInit = await browser.get('/self-service/settings/browser', { accept: 'text/html' });
    expect(settingsInit.status).toBe(303);
    const settingsId = new URL(settingsInit.headers.get('location')!).searchParams.get('flow');
    const settings = (await (await browser.get(`/self-service/settings/flows?id=${settingsId}`, { accept: 'application/json' })).json()) as any;
    expect(settings.ui.messages.map((m: any) => m.id)).toContain(4901000);
    const whoami = await browser.get('/sessions/whoami', { accept: 'application/json' });
    expect(whoami.status).toBe(403);
    // The hosted welcome page follows the same decision.
    const welcome = await browser.get('/ui/welcome', { accept: 'text/html' });
    expect(welcome.status).toBe(303);
    expect(welcome.headers.get('location')).toContain('/self-service/settings/browser');

    const spa = new BrowserClient(k.publicUrl);
    const spaFlow = (await (await spa.get('/self-service/login/browser', { accept: 'application/json' })).json()) as any;
    const answer = await spa.request(`/self-service/login?flow=${spaFlow.id}`, { method: 'POST', json: { csrf_token: csrfTokenOf(spaFlow), method: 'password', identifier: user.email, password: PASSWORD } });
    expect(answer.status).toBe(403);
    const body = (await answer.json()) as any;
    expect(body.error.id).toBe('kairos_second_factor_enrollment_required');
    expect(body.redirect_browser_to).toBe(`${k.publicUrl}/self-service/settings/browser`);
    expect(spa.cookies.has('ory_kratos_session')).toBe(true);
    expect((await spa.get('/sessions/whoami', { accept: 'application/json' })).status).toBe(403);
    expect((await spa.get('/self-service/settings/browser', { accept: 'application/json' })).status).toBe(200);
  });

  it('an SPA sign-in during the grace succeeds (200), and whoami carries the rule and deadline', async () => {
    const user = await identity({ department: 'sre' });
    const spa = new BrowserClient(k.publicUrl);
    const spaFlow = (await (await spa.get('/self-service/login/browser', { accept: 'application/json' })).json()) as any;
    const answer = await spa.request(`/self-service/login?flow=${spaFlow.id}`, { method: 'POST', json: { csrf_token: csrfTokenOf(spaFlow), method: 'password', identifier: user.email, password: PASSWORD } });
    expect(answer.status).toBe(200);
    const whoami = (await (await spa.get('/sessions/whoami', { accept: 'application/json' })).json()) as any;
    expect(whoami.kairos.mfa_policy).toMatchObject({ rule_id: 'engineering', status: 'grace' });
  });

  // ---- forbidden methods and role changes ------------------------------------------------------------------------

  it('a role change applies at the next request: an aal2 session by TOTP becomes an admin\'s, whose rule forbids TOTP and requires a key', async () => {
    const user = await identity({ totp: true });
    const first = await loginWithPassword(k, user.email, PASSWORD);
    const aal2 = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: first.session_token });
    await k.frontend.updateLoginFlow({ flow: aal2.id, xSessionToken: first.session_token, updateLoginFlowBody: { method: 'totp', totp_code: nextCode() } });
    expect((await k.frontend.toSession({ xSessionToken: first.session_token })).authenticator_assurance_level).toBe('aal2');

    expect((await patch(user.id, [{ op: 'add', path: '/metadata_admin', value: { role: 'admin' } }])).status).toBe(200);
    const refused = await errorBody(k.frontend.toSession({ xSessionToken: first.session_token }));
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ id: 'kairos_second_factor_enrollment_required', details: { rule_id: 'admins' } });
    const applied = await events(user.id, 'mfa_policy.applied');
    expect(applied.map((e) => e.details.rule_id)).toEqual(['admins']);

    // In settings the forbidden TOTP can be removed, not renewed; the page says what the rule allows.
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: first.session_token });
    expect(settings.ui.nodes.filter((n: any) => n.group === 'totp').map((n: any) => n.attributes.name)).toEqual(['totp_unlink']);
    expect(messageIds(settings)).toEqual(expect.arrayContaining([4901000, 1901002]));
  });

  it('a method the rule forbids is refused at enrollment (settings says why, nothing is stored) and at sign-in', async () => {
    const admin = await identity({ metadataAdmin: { role: 'admin' } });
    const session = await loginWithPassword(k, admin.email, PASSWORD);
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: session.session_token });
    expect(settings.ui.nodes.some((n: any) => n.group === 'totp')).toBe(false);
    expect(settings.ui.nodes.some((n: any) => n.group === 'webauthn')).toBe(true);
    const refused = await errorBody(k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: session.session_token, updateSettingsFlowBody: { method: 'totp', totp_code: '123456' } }));
    expect(refused.status).toBe(400);
    const message = refused.body.ui.messages.find((m: any) => m.id === 4901001);
    expect(message.context).toMatchObject({ method: 'totp', allowed_methods: 'webauthn,lookup_secret', rule_id: 'admins' });
    expect((await k.identityApi.getIdentity({ id: admin.id })).credentials?.totp).toBeUndefined();
    expect((await events(admin.id, 'mfa_policy.method_refused')).map((e) => [e.details.method, e.details.at])).toEqual([['totp', 'settings']]);
    // Recovery codes are allowed for admins: asking for them is not refused by the rule.
    const regenerate = await fetch(`${k.publicUrl}/self-service/settings?flow=${settings.id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'x-session-token': session.session_token! },
      body: JSON.stringify({ method: 'lookup_secret', lookup_secret_regenerate: true }),
    });
    expect(regenerate.status).toBe(200);
    expect(messageIds(await regenerate.json())).not.toContain(4901001);
  });

  it('a forbidden second factor does not count toward the AAL: the kiosk rule drops TOTP from the session and from sign-in', async () => {
    const user = await identity({ totp: true });
    const first = await loginWithPassword(k, user.email, PASSWORD);
    const aal2 = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: first.session_token });
    await k.frontend.updateLoginFlow({ flow: aal2.id, xSessionToken: first.session_token, updateLoginFlowBody: { method: 'totp', totp_code: nextCode() } });
    expect((await patch(user.id, [{ op: 'add', path: '/metadata_public', value: { kind: 'kiosk' } }])).status).toBe(200);

    const whoami = await k.frontend.toSession({ xSessionToken: first.session_token });
    expect(whoami.authenticator_assurance_level).toBe('aal1');
    expect(whoami.authentication_methods?.map((m) => m.method)).toEqual(['password']);
    // A new sign-in needs no second factor any more (TOTP does not count), and TOTP is not offered nor accepted.
    const next = await loginWithPassword(k, user.email, PASSWORD);
    expect(next.session.identity?.id).toBe(user.id);
    await k.frontend.toSession({ xSessionToken: next.session_token });
    const flow = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: next.session_token });
    expect(flow.ui.nodes.some((n: any) => n.group === 'totp')).toBe(false);
    const refused = await errorBody(k.frontend.updateLoginFlow({ flow: flow.id, xSessionToken: next.session_token, updateLoginFlowBody: { method: 'totp', totp_code: nextCode() } }));
    expect(refused.status).toBe(400);
    expect(messageIds(refused.body)).toContain(4901001);
    expect((await k.frontend.toSession({ xSessionToken: next.session_token })).authenticator_assurance_level).toBe('aal1');
    expect((await events(user.id, 'mfa_policy.method_refused')).map((e) => e.details.at)).toEqual(['login']);
  });

  // ---- remembered devices ----------------------------------------------------------------------------------------

  /** A browser signs in with the password; returns the answer (303 to the second factor, or on). */
  async function browserPassword(browser: BrowserClient, email: string): Promise<Response> {
    const { id, flow } = await browser.startFlow('login');
    return browser.postForm(`/self-service/login?flow=${id}`, { csrf_token: csrfTokenOf(flow), method: 'password', identifier: email, password: PASSWORD });
  }
  async function browserTotp(browser: BrowserClient): Promise<Response> {
    const { id, flow } = await browser.startFlow('login', '?aal=aal2');
    return browser.postForm(`/self-service/login?flow=${id}`, { csrf_token: csrfTokenOf(flow), method: 'totp', totp_code: nextCode() });
  }
  const asksSecondFactor = (response: Response) => response.status === 303 && /aal=aal2/.test(response.headers.get('location') ?? '');
  const signOut = (browser: BrowserClient) => browser.cookies.delete('ory_kratos_session');
  /** Password then TOTP: the browser is remembered; returns the Set-Cookie of the device cookie. */
  async function rememberedBrowser(email: string, browser = new BrowserClient(k.publicUrl)) {
    expect(asksSecondFactor(await browserPassword(browser, email))).toBe(true);
    const done = await browserTotp(browser);
    expect(done.status).toBe(303);
    const header = done.headers.getSetCookie().find((c) => c.startsWith('kairos_remembered_device='));
    expect(header).toBeDefined();
    signOut(browser);
    return { browser, header: header! };
  }
  const deviceRefusals = async (id: string) => (await events(id, 'mfa_policy.device_refused')).map((e) => e.details.reason);

  it('a remembered browser skips the second factor within the duration; the cookie is HttpOnly, SameSite=Lax, hashed at rest, bound to identity and factor', async () => {
    const user = await identity({ department: 'engineering', totp: true });
    const { browser, header } = await rememberedBrowser(user.email);
    expect(header).toMatch(/HttpOnly/i);
    expect(header).toMatch(/SameSite=Lax/i);
    expect(header).not.toMatch(/Secure/i); // http base URL; on https the cookie is Secure
    expect(header).toMatch(/Path=\//);
    const token = browser.cookies.get('kairos_remembered_device')!;
    const rows = await k.deps.db.selectFrom('mfa_remembered_devices').selectAll().where('identity_id', '=', user.id).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.method).toBe('totp');
    expect(rows[0]!.token_hash).not.toContain(token);
    expect(Number(rows[0]!.expires_at) - Number(rows[0]!.created_at)).toBe(720 * 3_600_000);

    const again = await browserPassword(browser, user.email);
    expect(again.status).toBe(303);
    expect(asksSecondFactor(again)).toBe(false);
    const whoami = (await (await browser.get('/sessions/whoami', { accept: 'application/json' })).json()) as any;
    expect(whoami.authenticator_assurance_level).toBe('aal2');
    expect(whoami.authentication_methods.map((m: any) => m.method)).toEqual(['password', 'remembered_device']);
    expect((await events(user.id, 'mfa_policy.device_used')).map((e) => e.details.device_id)).toEqual([rows[0]!.id]);
    expect((await events(user.id, 'login.succeeded')).at(-1).details.mfa_decision).toBe('device_skip');

    // Past the duration the browser is asked again.
    signOut(browser);
    k.clock.advanceMs(720 * 3_600_000);
    expect(asksSecondFactor(await browserPassword(browser, user.email))).toBe(true);
    expect(await deviceRefusals(user.id)).toEqual(['expired']);
  });

  it('a device cookie copied into another identity\'s browser is useless there', async () => {
    const alice = await identity({ department: 'engineering', totp: true });
    const mallory = await identity({ department: 'engineering', totp: true });
    const { browser } = await rememberedBrowser(alice.email);
    const stolen = browser.cookies.get('kairos_remembered_device')!;
    const other = new BrowserClient(k.publicUrl);
    other.cookies.set('kairos_remembered_device', stolen);
    expect(asksSecondFactor(await browserPassword(other, mallory.email))).toBe(true);
    expect(await deviceRefusals(mallory.id)).toEqual(['other_identity']);
    // And a session of another identity cannot turn it into aal2 either: the cookie only counts at its own sign-in.
    const token = (await loginWithPassword(k, mallory.email, PASSWORD)).session_token!;
    const aal = (await k.frontend.toSession({ xSessionToken: token }).catch(() => null))?.authenticator_assurance_level ?? 'refused';
    expect(aal).not.toBe('aal2');
  });

  it('a device forgotten in settings, or revoked by an admin, no longer skips', async () => {
    const user = await identity({ department: 'engineering', totp: true });
    const { browser } = await rememberedBrowser(user.email);
    // Sign in (skipping), open settings: the group lists the browser; forget it.
    expect(asksSecondFactor(await browserPassword(browser, user.email))).toBe(false);
    const { id, flow } = await browser.startFlow('settings');
    const nodes = flow.ui.nodes.filter((n: any) => n.group === 'remembered_device');
    const remove = nodes.find((n: any) => n.attributes.name === 'remembered_device_remove');
    expect(remove.meta.label.id).toBe(1901004);
    const forgotten = await browser.request(`/self-service/settings?flow=${id}`, { method: 'POST', json: { csrf_token: csrfTokenOf(flow), method: 'remembered_device', remembered_device_remove: remove.attributes.value } });
    expect(forgotten.status).toBe(200);
    expect(((await forgotten.json()) as any).ui.messages.map((m: any) => m.id)).toContain(1901007);
    signOut(browser);
    expect(asksSecondFactor(await browserPassword(browser, user.email))).toBe(true);
    expect(await deviceRefusals(user.id)).toEqual(['revoked']);

    // Admin API: list and revoke.
    const second = await rememberedBrowser(user.email);
    const listed = (await (await fetch(`${k.adminUrl}/admin/identities/${user.id}/remembered-devices`)).json()) as any[];
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ method: 'totp', rule_id: 'engineering' });
    expect(JSON.stringify(listed)).not.toContain(second.browser.cookies.get('kairos_remembered_device'));
    const deleted = await fetch(`${k.adminUrl}/admin/identities/${user.id}/remembered-devices/${listed[0].id}`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'lost laptop' }) });
    expect(deleted.status).toBe(204);
    expect(asksSecondFactor(await browserPassword(second.browser, user.email))).toBe(true);
    const revoked = await events(user.id, 'mfa_policy.device_revoked');
    expect(revoked.map((e) => [e.details.reason, e.actor])).toEqual([['user', 'self'], ['admin', 'admin']]);
    expect((await fetch(`${k.adminUrl}/admin/identities/${user.id}/remembered-devices/${listed[0].id}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('a password change revokes remembered devices', async () => {
    const user = await identity({ department: 'engineering', totp: true });
    const { browser } = await rememberedBrowser(user.email);
    expect(asksSecondFactor(await browserPassword(browser, user.email))).toBe(false);
    const { id, flow } = await browser.startFlow('settings');
    const changed = await browser.request(`/self-service/settings?flow=${id}`, { method: 'POST', json: { csrf_token: csrfTokenOf(flow), method: 'password', password: 'another long passphrase 2' } });
    expect(changed.status).toBe(200);
    signOut(browser);
    const { id: loginId, flow: loginFlow } = await browser.startFlow('login');
    const answer = await browser.postForm(`/self-service/login?flow=${loginId}`, { csrf_token: csrfTokenOf(loginFlow), method: 'password', identifier: user.email, password: 'another long passphrase 2' });
    expect(asksSecondFactor(answer)).toBe(true);
    expect((await events(user.id, 'mfa_policy.device_revoked')).map((e) => e.details.reason)).toEqual(['password_changed']);
  });

  it('an MFA reset (helpdesk removal of the factor, or recovery with the password) revokes remembered devices', async () => {
    const helpdesk = await identity({ department: 'engineering', totp: true });
    await rememberedBrowser(helpdesk.email);
    const removed = await fetch(`${k.adminUrl}/admin/identities/${helpdesk.id}/credentials/totp`, { method: 'DELETE' });
    expect(removed.status).toBe(204);
    expect((await events(helpdesk.id, 'mfa_policy.device_revoked')).map((e) => [e.details.reason, e.details.method])).toEqual([['factor_removed', 'totp']]);
    expect(await (await fetch(`${k.adminUrl}/admin/identities/${helpdesk.id}/remembered-devices`)).json()).toEqual([]);

    const recovering = await identity({ department: 'engineering', totp: true });
    await rememberedBrowser(recovering.email);
    const issued = (await (await fetch(`${k.adminUrl}/admin/recovery/code`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ identity_id: recovering.id, flow_type: 'api' }) })).json()) as any;
    const flowId = new URL(issued.recovery_link).searchParams.get('flow')!;
    const step = await k.frontend.updateRecoveryFlow({ flow: flowId, updateRecoveryFlowBody: { method: 'code', code: issued.recovery_code } });
    await k.frontend.updateRecoveryFlow({ flow: step.id, updateRecoveryFlowBody: { method: 'password', password: PASSWORD } as any });
    const reasons = (await events(recovering.id, 'mfa_policy.device_revoked')).map((e) => e.details.reason);
    expect(reasons).toEqual(['mfa_reset']);
    expect(await (await fetch(`${k.adminUrl}/admin/identities/${recovering.id}/remembered-devices`)).json()).toEqual([]);
  });

  it('a remembered device never skips under a rule that forbids remembering (role change)', async () => {
    const user = await identity({ department: 'engineering', totp: true });
    const { browser } = await rememberedBrowser(user.email);
    // Moved to sales: the employees rule requires nothing and remembers nothing, but TOTP is enrolled (highest_available).
    expect((await patch(user.id, [{ op: 'replace', path: '/traits/department', value: 'sales' }])).status).toBe(200);
    expect(asksSecondFactor(await browserPassword(browser, user.email))).toBe(true);
    expect(await deviceRefusals(user.id)).toEqual(['rule_forbids']);
  });

  it('a skip already in a session stops counting when the rule stops remembering (next request)', async () => {
    const user = await identity({ department: 'engineering', totp: true });
    const { browser } = await rememberedBrowser(user.email);
    expect(asksSecondFactor(await browserPassword(browser, user.email))).toBe(false);
    expect((await browser.get('/sessions/whoami', { accept: 'application/json' })).status).toBe(200);
    expect((await patch(user.id, [{ op: 'replace', path: '/traits/department', value: 'sales' }])).status).toBe(200);
    const whoami = await browser.get('/sessions/whoami', { accept: 'application/json' });
    expect(whoami.status).toBe(403);
    expect(((await whoami.json()) as any).error.id).toBe('session_aal2_required');
  });

  it('the admin MFA report has the policy section', async () => {
    const user = await identity({ metadataPublic: { kind: 'contractor' } });
    await loginWithPassword(k, user.email, PASSWORD);
    const report = (await (await fetch(`${k.adminUrl}/admin/identities/${user.id}/mfa`)).json()) as any;
    expect(report.mfa_policy).toMatchObject({ rule_id: 'contractors', status: 'grace', logins_under_rule: 1, logins_left: 1, enrolled_methods: [], remembered_devices: 0 });
    expect(report.mfa_policy.first_applied_at).toBe(new Date(k.clock.nowMs()).toISOString());
  });

  it('a native sign-in past the grace gets its token (for the settings API), no identity, and the reason', async () => {
    const user = await identity({ metadataAdmin: { role: 'admin' } });
    const answer = await rawLogin(user.email);
    expect(answer.status).toBe(200);
    expect(answer.body.session.identity).toBeNull();
    expect(answer.body.ui_messages.map((m: any) => m.id)).toContain(4901000);
  });
});

describe.each(DIALECTS)('MFA policy: passkeys a rule forbids (%s)', (dialect) => {
  const ORIGIN = 'https://app.example.test';
  let k: TestKairos;
  let counter = 0;
  beforeAll(async () => {
    k = await startKairos({
      dialect,
      config: {
        selfservice: {
          methods: { totp: { enabled: true }, passkey: { enabled: true, config: { rp: { id: 'example.test', display_name: 'Kairos Test', origins: [ORIGIN] } } } },
          mfa: { policies: [{ id: 'no-passkeys', match: { metadata_admin: { passkeys: 'off' } }, allowed_methods: ['totp', 'lookup_secret'] }] },
        },
      },
    });
  });
  afterAll(async () => k?.close());
  const node = (flow: any, name: string) => flow.ui.nodes.find((n: any) => n.attributes.name === name || n.attributes.id === name);

  it('a passkey sign-in is refused (no session) and a new passkey cannot be added once the rule forbids passkeys; the old one can be removed', async () => {
    const { registerWithPassword } = await import('../support/users.js');
    const { SoftwareAuthenticator } = await import('../support/software-authenticator.js');
    const user = await registerWithPassword(k, `pk${++counter}-${dialect}@example.com`, PASSWORD);
    const authenticator = new SoftwareAuthenticator(ORIGIN);
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    const saved = await k.frontend.updateSettingsFlow({
      flow: settings.id,
      xSessionToken: user.token,
      updateSettingsFlowBody: { method: 'passkey', passkey_settings_register: authenticator.create(JSON.parse(node(settings, 'passkey_create_data').attributes.value)) },
    });
    expect(saved.state).toBe('success');
    const signIn = async () => {
      const login = await k.frontend.createNativeLoginFlow();
      const challenge = JSON.parse(node(login, 'passkey_challenge').attributes.value);
      return k.frontend.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'passkey', passkey_login: authenticator.get(challenge) } });
    };
    const passkeySession = await signIn();
    expect(passkeySession.session.authentication_methods?.map((m) => m.method)).toEqual(['passkey']);

    const patched = await fetch(`${k.adminUrl}/admin/identities/${user.identityId}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ op: 'add', path: '/metadata_admin', value: { passkeys: 'off' } }]) });
    expect(patched.status).toBe(200);
    const sessionsBefore = (await k.deps.db.selectFrom('sessions').select('id').where('identity_id', '=', user.identityId).execute()).length;
    const refused = await errorBody(signIn());
    expect(refused.status).toBe(400);
    expect(refused.body.ui.messages.find((m: any) => m.id === 4901001).context).toMatchObject({ method: 'passkey', rule_id: 'no-passkeys' });
    expect((await k.deps.db.selectFrom('sessions').select('id').where('identity_id', '=', user.identityId).execute()).length).toBe(sessionsBefore);
    // The passkey session from before no longer counts either (its only method is forbidden now).
    const stale = await errorBody(k.frontend.toSession({ xSessionToken: passkeySession.session_token }));
    expect(stale.status).toBe(401);
    expect(stale.body.error.id).toBe('session_inactive');

    const password = await loginWithPassword(k, user.email, PASSWORD);
    const later = await k.frontend.createNativeSettingsFlow({ xSessionToken: password.session_token });
    expect(later.ui.nodes.filter((n: any) => n.group === 'passkey').map((n: any) => n.attributes.name)).toEqual(['passkey_remove']);
    const add = await errorBody(k.frontend.updateSettingsFlow({ flow: later.id, xSessionToken: password.session_token, updateSettingsFlowBody: { method: 'passkey', passkey_settings_register: authenticator.create({ publicKey: { challenge: 'AAAA', rp: { id: 'example.test', name: 'x' }, user: { id: 'AAAA', name: 'x', displayName: 'x' }, pubKeyCredParams: [{ type: 'public-key', alg: -7 }] } }) } }));
    expect(add.status).toBe(400);
    expect(messageIds(add.body)).toContain(4901001);
    const removed = await k.frontend.updateSettingsFlow({ flow: later.id, xSessionToken: password.session_token, updateSettingsFlowBody: { method: 'passkey', passkey_remove: node(later, 'passkey_remove').attributes.value } });
    expect(removed.state).toBe('success');
    expect((await k.identityApi.getIdentity({ id: user.identityId })).credentials?.passkey).toBeUndefined();
  });
});
