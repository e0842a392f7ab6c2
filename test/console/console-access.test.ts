/**
 * The console's server-side checks, on both dialects, through the real HTTP API (inject): sign-in only from an aal2
 * Kairos session of an identity with a console role; every page and every action refused without a console session
 * (401), without a role (403), to an auditor for actions (403), without the CSRF token or from another site (403);
 * no action on one's own identity; a reason required. Named after the threats they stop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { BrowserClient } from '../support/browser-client.js';
import { CONSOLE_CONFIG, consoleSignIn, csrfOf, operator, page, post, setRole, signedIn, totpUser } from './support.js';

const PAGES = (id: string) => ['/console/search?q=example', `/console/identities/${id}`, '/console/approvals', '/console/dashboard', '/console/configuration'];
const ACTIONS = (id: string) => [
  [`/console/identities/${id}/diagnose`, { code: '123456' }],
  [`/console/identities/${id}/resync`, { code1: '123456', code2: '654321' }],
  [`/console/identities/${id}/unlock`, {}],
  [`/console/identities/${id}/sessions/revoke`, {}],
  [`/console/identities/${id}/mfa-reset`, { delay: 'no', checklist: 'callback' }],
  [`/console/identities/${id}/recovery`, { kind: 'code', checklist: 'callback' }],
  [`/console/identities/${id}/deactivate`, {}],
  [`/console/identities/${id}/reactivate`, {}],
  ['/console/approvals/00000000-0000-4000-8000-000000000000', { decision: 'approve' }],
] as [string, Record<string, string>][];

describe.each(DIALECTS)('console access control (%s)', (dialect) => {
  let k: TestKairos;
  beforeAll(async () => {
    k = await startKairos({ dialect, config: CONSOLE_CONFIG });
  }, 60_000);
  afterAll(async () => k?.close());

  it('sign-in: no Kairos session goes to login, aal1 goes to the second factor, aal2 with a role gets a console session', async () => {
    const op = await operator(k, 'helpdesk');
    const client = new BrowserClient(k.adminUrl);
    const start = await client.get('/console/sign-in');
    const handoffUrl = start.headers.get('location')!;
    expect(handoffUrl.startsWith(`${k.publicUrl}/console-handoff?sign_in=`)).toBe(true);
    const anonymous = await client.get(handoffUrl);
    expect(anonymous.status).toBe(303);
    const login = new URL(anonymous.headers.get('location')!);
    expect(login.pathname).toBe('/self-service/login/browser');
    expect(login.searchParams.get('return_to')).toBe(handoffUrl);
    const aal1 = await client.request(handoffUrl, { headers: { 'x-session-token': await op.aal1() } });
    expect(new URL(aal1.headers.get('location')!).searchParams.get('aal')).toBe('aal2');
    const aal2 = await client.request(handoffUrl, { headers: { 'x-session-token': await op.aal2() } });
    const callback = aal2.headers.get('location')!;
    expect(callback.startsWith(`${k.adminUrl}/console/auth/callback?code=`)).toBe(true);
    // The hand-off code is single use, and only from the browser that started the sign-in.
    const stranger = new BrowserClient(k.adminUrl);
    expect((await stranger.get(callback)).status).toBe(400);
    const done = await client.get(callback);
    expect(done.status).toBe(200);
    expect(client.cookies.has('kairos_console_session')).toBe(true);
    expect((await page(client, '/console/search')).status).toBe(200);
    expect((await client.get(callback)).status).toBe(400);
    const events = await k.deps.db.selectFrom('audit_events').select(['details', 'actor']).where('identity_id', '=', op.identityId).where('type', '=', 'admin.action_performed').execute();
    expect(events.map((e) => JSON.parse(e.details).action)).toContain('console.sign_in');
  });

  it('console session stealing: a console cookie is not a Kairos session, and a Kairos session cookie is not a console session', async () => {
    const op = await signedIn(k, 'helpdesk');
    const token = op.client.cookies.get('kairos_console_session')!;
    const whoami = await fetch(`${k.publicUrl}/sessions/whoami`, { headers: { cookie: `ory_kratos_session=${token}` } });
    expect(whoami.status).toBe(401);
    const kairosToken = await op.aal2();
    const viaKairos = await fetch(`${k.adminUrl}/console/search`, { headers: { cookie: `kairos_console_session=${kairosToken}`, 'x-session-token': kairosToken } });
    expect(viaKairos.status).toBe(401);
  });

  it('an identity without a console role cannot sign in, and loses every page and action when its role is removed', async () => {
    const nobody = await operator(k, null);
    const { client: nobodyClient, callback } = await consoleSignIn(k, await nobody.aal2());
    expect(callback.status).toBe(403);
    // Still signed in to Kairos (its session cookie reaches the console's host): 403 everywhere, not a sign-in prompt.
    nobodyClient.cookies.set('ory_kratos_session', await nobody.aal2());
    const someone = await totpUser(k);
    for (const path of PAGES(someone.identityId)) expect((await page(nobodyClient, path)).status, path).toBe(403);
    for (const [path, form] of ACTIONS(someone.identityId)) expect((await post(nobodyClient, path, { ...form, reason: 'r' })).status, path).toBe(403);
    const target = await totpUser(k);
    const op = await signedIn(k, 'admin');
    const csrf = csrfOf((await page(op.client, '/console/search')).html);
    await setRole(k, op.identityId, null);
    for (const path of PAGES(target.identityId)) expect((await page(op.client, path)).status, path).toBe(403);
    for (const [path, form] of ACTIONS(target.identityId)) expect((await post(op.client, path, { ...form, reason: 'r', csrf_token: csrf })).status, path).toBe(403);
    expect((await k.deps.identities.get(target.identityId))!.state).toBe('active');
  });

  it('without a console session every page asks to sign in and every action is refused (401), changing nothing', async () => {
    const target = await totpUser(k);
    const client = new BrowserClient(k.adminUrl);
    for (const path of PAGES(target.identityId)) {
      const r = await page(client, path);
      expect(r.status, path).toBe(401);
      expect(r.html).toContain('data-testid="console/sign-in"');
    }
    for (const [path, form] of ACTIONS(target.identityId)) expect((await post(client, path, { ...form, reason: 'r' })).status, path).toBe(401);
    expect(await k.deps.sessions.listForIdentity(target.identityId, { activeOnly: true })).not.toHaveLength(0);
  });

  it('an auditor sees every page but every action is refused (403), changing nothing', async () => {
    const target = await totpUser(k);
    const op = await signedIn(k, 'auditor');
    for (const path of PAGES(target.identityId)) expect((await page(op.client, path)).status, path).toBe(200);
    const identityPage = (await page(op.client, `/console/identities/${target.identityId}`)).html;
    expect(identityPage).toContain('data-testid="console/read-only"');
    expect(identityPage).not.toContain('console/action/unlock');
    const csrf = csrfOf(identityPage);
    for (const [path, form] of ACTIONS(target.identityId)) expect((await post(op.client, path, { ...form, reason: 'r', csrf_token: csrf })).status, path).toBe(403);
    expect((await k.deps.identities.get(target.identityId))!.credentials.totp).toBeDefined();
  });

  it('helpdesk may act but not deactivate; admin may deactivate and reactivate', async () => {
    const target = await totpUser(k);
    const helpdesk = await signedIn(k, 'helpdesk');
    const csrf = csrfOf((await page(helpdesk.client, `/console/identities/${target.identityId}`)).html);
    expect((await post(helpdesk.client, `/console/identities/${target.identityId}/unlock`, { reason: 'ticket 7', csrf_token: csrf })).status).toBe(200);
    expect((await post(helpdesk.client, `/console/identities/${target.identityId}/deactivate`, { reason: 'ticket 7', csrf_token: csrf })).status).toBe(403);
    const admin = await signedIn(k, 'admin');
    const adminCsrf = csrfOf((await page(admin.client, `/console/identities/${target.identityId}`)).html);
    const off = await post(admin.client, `/console/identities/${target.identityId}/deactivate`, { reason: 'left the company', csrf_token: adminCsrf });
    expect(off.status).toBe(200);
    expect((await k.deps.identities.get(target.identityId))!.state).toBe('inactive');
    expect(await k.deps.sessions.listForIdentity(target.identityId, { activeOnly: true })).toHaveLength(0);
    expect((await post(admin.client, `/console/identities/${target.identityId}/reactivate`, { reason: 'came back', csrf_token: adminCsrf })).status).toBe(200);
    expect((await k.deps.identities.get(target.identityId))!.state).toBe('active');
    const audit = await k.deps.db.selectFrom('audit_events').select(['actor', 'details']).where('identity_id', '=', target.identityId).where('type', '=', 'admin.action_performed').orderBy('created_at').orderBy('id').execute();
    expect(audit.map((a) => [a.actor, JSON.parse(a.details).action, JSON.parse(a.details).reason])).toEqual([
      [`console:${helpdesk.identityId}`, 'mfa.unlock', 'ticket 7'],
      [`console:${admin.identityId}`, 'identity.deactivate', 'left the company'],
      [`console:${admin.identityId}`, 'identity.reactivate', 'came back'],
    ]);
  });

  it('cross-site request forgery: an action without the CSRF token, with another session\'s token, or from another site is refused', async () => {
    const target = await totpUser(k);
    const a = await signedIn(k, 'helpdesk');
    const b = await signedIn(k, 'helpdesk');
    const bCsrf = csrfOf((await page(b.client, '/console/search')).html);
    const path = `/console/identities/${target.identityId}/sessions/revoke`;
    expect((await post(a.client, path, { reason: 'x' })).status).toBe(403);
    expect((await post(a.client, path, { reason: 'x', csrf_token: bCsrf })).status).toBe(403);
    const aCsrf = csrfOf((await page(a.client, '/console/search')).html);
    const crossSite = await a.client.request(path, { method: 'POST', body: new URLSearchParams({ reason: 'x', csrf_token: aCsrf }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site' } });
    expect(crossSite.status).toBe(403);
    const otherOrigin = await a.client.request(path, { method: 'POST', body: new URLSearchParams({ reason: 'x', csrf_token: aCsrf }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' } });
    expect(otherOrigin.status).toBe(403);
    expect(await k.deps.sessions.listForIdentity(target.identityId, { activeOnly: true })).not.toHaveLength(0);
  });

  it('an operator cannot act on their own identity, and every action needs a reason', async () => {
    const op = await signedIn(k, 'admin');
    const own = await page(op.client, `/console/identities/${op.identityId}`);
    const csrf = csrfOf(own.html);
    expect((await post(op.client, `/console/identities/${op.identityId}/mfa-reset`, { delay: 'no', checklist: 'callback', reason: 'me', csrf_token: csrf })).status).toBe(403);
    expect((await k.deps.identities.get(op.identityId))!.credentials.totp).toBeDefined();
    const target = await totpUser(k);
    const noReason = await post(op.client, `/console/identities/${target.identityId}/unlock`, { reason: '  ', csrf_token: csrf });
    expect(noReason.status).toBe(400);
    expect(noReason.html).toContain('A reason is required');
    const noChecklist = await post(op.client, `/console/identities/${target.identityId}/mfa-reset`, { delay: 'no', reason: 'lost phone', csrf_token: csrf });
    expect(noChecklist.status).toBe(400);
    expect((await k.deps.identities.get(target.identityId))!.credentials.totp).toBeDefined();
  });

  it('strict CSP, no inline script or style, and no caching on every console page', async () => {
    const op = await signedIn(k, 'auditor');
    const target = await totpUser(k);
    for (const path of PAGES(target.identityId)) {
      const r = await page(op.client, path);
      expect(r.response.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(r.response.headers.get('content-security-policy')).toContain("style-src 'self'");
      expect(r.response.headers.get('cache-control')).toBe('no-store');
      expect(r.html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(r.html).not.toMatch(/<style|\sstyle=/);
      expect(r.html).not.toMatch(/\son[a-z]+=/);
    }
  });

  it('revoking the operator\'s Kairos session ends the console session at once', async () => {
    const op = await signedIn(k, 'helpdesk');
    expect((await page(op.client, '/console/search')).status).toBe(200);
    const row = await k.deps.db.selectFrom('console_sessions').select('kairos_session_id').where('operator_id', '=', op.identityId).executeTakeFirstOrThrow();
    await k.deps.sessions.revoke(row.kairos_session_id);
    expect((await page(op.client, '/console/search')).status).toBe(401);
  });

  it('session fixation and abandoned desks: signing out ends the console session, and so do the idle timeout and the lifespan', async () => {
    const op = await signedIn(k, 'helpdesk');
    const csrf = csrfOf((await page(op.client, '/console/search')).html);
    const token = op.client.cookies.get('kairos_console_session')!;
    const out = await post(op.client, '/console/sign-out', { csrf_token: csrf });
    expect(out.status).toBe(200);
    expect(out.html).toContain('data-testid="console/signed-out"');
    op.client.cookies.set('kairos_console_session', token);
    expect((await page(op.client, '/console/search')).status).toBe(401);

    const idle = await signedIn(k, 'helpdesk');
    k.clock.advanceMs(29 * 60_000);
    expect((await page(idle.client, '/console/search')).status).toBe(200);
    k.clock.advanceMs(29 * 60_000);
    expect((await page(idle.client, '/console/search')).status).toBe(200);
    k.clock.advanceMs(31 * 60_000);
    const timedOut = await page(idle.client, '/console/search');
    expect(timedOut.status).toBe(401);
    expect(timedOut.html).toContain('Your console session has ended');

    const long = await signedIn(k, 'helpdesk');
    for (let i = 0; i < 17; i++) {
      k.clock.advanceMs(29 * 60_000);
      await page(long.client, '/console/search');
    }
    expect((await page(long.client, '/console/search')).status).toBe(401);
  });

  it('console.listener: public serves the console on the public listener behind the same checks, and not on the admin one', async () => {
    const pub = await startKairos({ dialect, config: { ...CONSOLE_CONFIG, console: { listener: 'public' } } });
    try {
      const op = await operator(pub, 'helpdesk');
      const client = new BrowserClient(pub.publicUrl);
      expect((await client.get('/console/search')).status).toBe(401);
      expect((await fetch(`${pub.adminUrl}/console/search`)).status).toBe(404);
      const start = await client.get('/console/sign-in');
      const handoff = await client.request(start.headers.get('location')!, { headers: { 'x-session-token': await op.aal2() } });
      expect(handoff.headers.get('location')!.startsWith(`${pub.publicUrl}/console/auth/callback?code=`)).toBe(true);
      expect((await client.get(handoff.headers.get('location')!)).status).toBe(200);
      expect((await page(client, '/console/search')).status).toBe(200);
      await setRole(pub, op.identityId, 'auditor');
      const target = await totpUser(pub);
      const csrf = csrfOf((await page(client, '/console/search')).html);
      expect((await post(client, `/console/identities/${target.identityId}/unlock`, { reason: 'r', csrf_token: csrf })).status).toBe(403);
    } finally {
      await pub.close();
    }
  });

  it('the console works with admin API keys configured (it authenticates its own users; the API still needs the key)', async () => {
    const keyed = await startKairos({ dialect, config: { ...CONSOLE_CONFIG, serve: { ...CONSOLE_CONFIG.serve, admin: { api_keys: ['a-long-admin-api-key-0123456789'] } } } });
    try {
      const client = new BrowserClient(keyed.adminUrl);
      expect((await client.get('/console/search')).status).toBe(401);
      expect((await fetch(`${keyed.adminUrl}/admin/identities`)).status).toBe(401);
      expect((await client.get('/console/sign-in')).status).toBe(303);
    } finally {
      await keyed.close();
    }
  });
});
