/** Operators and console sign-ins for the console tests, through the real flows and the real hand-off. */
import { expect } from 'vitest';
import type { TestKairos } from '../support/harness.js';
import { BrowserClient } from '../support/browser-client.js';
import { loginWithPassword, registerWithPassword } from '../support/users.js';
import { secretOf } from '../support/flows.js';
import { submitTotpEnrollment } from '../support/enroll.js';
import { totpCodeNow } from '../support/totp.js';

export const PASSWORD = 'a long enough passphrase';
export const CONSOLE_CONFIG = {
  selfservice: { methods: { totp: { enabled: true, config: { issuer: 'Kairos Test', lockout: { base_delay: '15m', max_delay: '1h' } } }, lookup_secret: { enabled: true } } },
  serve: { public: { rate_limit: { enabled: false } } },
  session: { lifespan: '2000h' },
};

let counter = 0;

export async function setRole(k: TestKairos, identityId: string, role: string | null): Promise<void> {
  const response = await fetch(`${k.adminUrl}/admin/identities/${identityId}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([{ op: 'replace', path: '/metadata_admin', value: role ? { role } : {} }]),
  });
  expect(response.status).toBe(200);
}

/** A registered identity with TOTP enrolled; `aal2()` signs in with password and a fresh code. */
export async function totpUser(k: TestKairos, prefix = 'user') {
  const email = `${prefix}${++counter}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  const registered = await registerWithPassword(k, email, PASSWORD);
  const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: registered.token });
  const secret = secretOf(settings);
  await submitTotpEnrollment(k, { flowId: settings.id, token: registered.token, code: totpCodeNow(k, secret) });
  k.clock.advanceSeconds(30);
  const aal2 = async () => {
    const first = await loginWithPassword(k, email, PASSWORD);
    const flow = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: first.session_token! });
    await k.frontend.updateLoginFlow({ flow: flow.id, xSessionToken: first.session_token!, updateLoginFlowBody: { method: 'totp', totp_code: totpCodeNow(k, secret) } });
    k.clock.advanceSeconds(30);
    return first.session_token!;
  };
  const aal1 = async () => (await loginWithPassword(k, email, PASSWORD)).session_token!;
  return { email, secret, identityId: registered.identityId, aal2, aal1 };
}

export async function operator(k: TestKairos, role: string | null) {
  const user = await totpUser(k, role ?? 'norole');
  if (role) await setRole(k, user.identityId, role);
  return user;
}

/** Signs in to the console with a Kairos session token (the hand-off reads X-Session-Token like a cookie). */
export async function consoleSignIn(k: TestKairos, sessionToken: string): Promise<{ client: BrowserClient; callback: Response }> {
  const client = new BrowserClient(k.adminUrl);
  const start = await client.get('/console/sign-in');
  expect(start.status).toBe(303);
  const handoff = await client.request(start.headers.get('location')!, { headers: { 'x-session-token': sessionToken } });
  expect(handoff.status).toBe(303);
  const callbackUrl = handoff.headers.get('location')!;
  const callback = await client.get(callbackUrl);
  return { client, callback };
}

export async function signedIn(k: TestKairos, role: string) {
  const op = await operator(k, role);
  const { client, callback } = await consoleSignIn(k, await op.aal2());
  expect(callback.status).toBe(200);
  return { ...op, client };
}

/** The CSRF token of a console page. */
export function csrfOf(html: string): string {
  const m = /name="csrf_token" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no csrf_token on the page');
  return m[1]!;
}

export async function page(client: BrowserClient, path: string): Promise<{ status: number; html: string; response: Response }> {
  const response = await client.get(path, { accept: 'text/html' });
  return { status: response.status, html: await response.text(), response };
}

export async function post(client: BrowserClient, path: string, form: Record<string, string | string[]>): Promise<{ status: number; html: string }> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
  const response = await client.request(path, { method: 'POST', body: body.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', 'sec-fetch-site': 'same-origin' } });
  return { status: response.status, html: await response.text() };
}

/** Visible text of the result box. */
export function resultText(html: string): string {
  const m = /data-testid="console\/result">([\s\S]*?)<\/div>/.exec(html);
  return m ? m[1]!.replace(/<[^>]+>/g, ' ').replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/\s+/g, ' ').trim() : '';
}
