/**
 * Security keys in real Chromium through the DevTools virtual authenticator (CTAP2, internal transport, resident
 * keys, user verification), driven by playwright-core's CDP session: the hosted pages, Kairos's webauthn.js and
 * navigator.credentials do everything a person's browser would. WebAuthn needs a secure context and a domain RP ID,
 * so these servers are reached at http://localhost / http://a.localhost (loopback, secure in Chromium).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CDPSession } from 'playwright-core';
import { createTestDatabase, freePort, type TestDatabase, type TestKairos } from '../support/harness.js';
import { startKairos } from '../support/harness.js';
import { deepMerge } from '../../src/config/load.js';
import { ManualClock } from '../../src/support/clock.js';
import { arrive, clickAndLoad, DESKTOP, openBrowser, type E2eBrowser } from './support/browser.js';
import { E2E_BRAND, newEmail, PASSWORD } from './support/kairos.js';
import { Phone } from './support/phone.js';
import { en } from '../../src/ui/i18n/en.js';

/** Labels as the hosted UI shows them (English catalogue). */
const SIGN_IN_WITH_KEY = en['1010008'];
const SIGN_IN_WITH_PASSKEY = en['1010021'];
const removeKeyLabel = (name: string) => en['1050018'].replace('{display_name}', name);

async function startAt(host: string, rpId: string, database: TestDatabase, methods: Record<string, unknown> = {}): Promise<{ k: TestKairos; url: string }> {
  const port = await freePort();
  const url = `http://${host}:${port}`;
  const config = {
    ui: { brand: E2E_BRAND },
    serve: { public: { port, base_url: `${url}/`, rate_limit: { enabled: false } } },
    selfservice: {
      methods: { webauthn: { enabled: true, config: { rp: { id: rpId, display_name: E2E_BRAND.name } } }, ...methods },
      flows: { settings: { privileged_session_max_age: '1h' } },
    },
  };
  const k = await startKairos({ dialect: 'sqlite', database, config: deepMerge({}, config), clock: new ManualClock(Math.floor(Date.now() / 1000) * 1000), transport: 'socket' });
  return { k, url };
}

async function addVirtualAuthenticator(cdp: CDPSession): Promise<string> {
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return authenticatorId;
}

describe('security keys in Chromium (virtual authenticator)', () => {
  let database: TestDatabase;
  let b: E2eBrowser;
  let cdp: CDPSession;
  let authenticatorId: string;
  const email = newEmail('key');
  const servers: TestKairos[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    b = await openBrowser(DESKTOP);
    cdp = await b.context.newCDPSession(b.page);
    authenticatorId = await addVirtualAuthenticator(cdp);
  });
  afterAll(async () => {
    await b?.close();
    for (const k of servers) await k.close();
    await database?.drop();
  });

  async function signIn(url: string, who = email) {
    const { page } = b;
    await b.context.clearCookies();
    await page.goto(`${url}/ui/login`);
    await page.getByLabel('Email', { exact: true }).fill(who);
    await page.getByLabel('Password').fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: 'Sign in' }));
  }

  it('registers a key in settings (with backup codes), signs out, and signs in with the key as second factor; then removes it', async () => {
    const { k, url } = await startAt('localhost', 'localhost', database);
    servers.push(k);
    const { page } = b;
    await page.goto(`${url}/ui/registration`);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: 'Create account' }));
    await page.waitForURL(/\/ui\/welcome/);

    await page.goto(`${url}/ui/settings`);
    await page.waitForURL(/\/ui\/settings\?flow=/);
    const keys = page.getByTestId('ui/group/webauthn');
    await arrive(page, b, 'webauthn-01-settings');
    await keys.getByLabel('Name of the security key').fill('Desk key');
    await clickAndLoad(page, keys.getByRole('button', { name: 'Add security key' }));
    await page.waitForURL(/\/ui\/settings\?flow=/);
    // The first second factor comes with backup codes, confirmed before the key is stored.
    const codes = page.getByTestId('ui/group/lookup_secret');
    await arrive(page, b, 'webauthn-02-backup-codes');
    await codes.getByRole('checkbox').check();
    await clickAndLoad(page, codes.getByRole('button', { name: 'Confirm backup codes' }));
    expect(await page.getByTestId('ui/message/1050001').isVisible()).toBe(true);
    expect(await page.getByTestId('node/text/webauthn_keys/text').textContent()).toContain('Desk key');
    const stored = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    expect(stored).toHaveLength(1);
    expect(stored[0]!.rpId).toBe('localhost');
    await arrive(page, b, 'webauthn-03-key-added');

    // Sign out, then the password and the key.
    await signIn(url);
    await page.waitForURL(/\/ui\/login\?flow=/);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Two-step sign-in');
    await arrive(page, b, 'webauthn-04-second-factor');
    await clickAndLoad(page, page.getByTestId('ui/group/webauthn').getByRole('button', { name: SIGN_IN_WITH_KEY }));
    await page.waitForURL(/\/ui\/welcome/);
    expect(await page.getByTestId('ui/session/aal').getAttribute('data-aal')).toBe('aal2');
    expect(await page.getByTestId('ui/session/aal').textContent()).toBe('Signed in with two steps: Password, Security key.');
    expect((await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0]!.signCount).toBeGreaterThan(0);

    // Remove the key (the session has the second factor and is recent).
    await page.goto(`${url}/ui/settings`);
    await page.waitForURL(/\/ui\/settings\?flow=/);
    await clickAndLoad(page, page.getByTestId('ui/group/webauthn').getByRole('button', { name: removeKeyLabel('Desk key') }));
    expect(await page.getByTestId('ui/message/1050001').isVisible()).toBe(true);
    expect(await page.getByTestId('node/text/webauthn_keys/text').count()).toBe(0);
    await arrive(page, b, 'webauthn-05-key-removed');
  });

  it('a key registered under another RP ID is refused with an explanation', async () => {
    // The operator first ran Kairos at a.localhost (keys are scoped to that RP ID), then moved it to localhost.
    const before = await startAt('a.localhost', 'a.localhost', database);
    servers.push(before.k);
    const { page } = b;
    const mover = newEmail('moved');
    await b.context.clearCookies();
    await page.goto(`${before.url}/ui/registration`);
    await page.getByLabel('Email', { exact: true }).fill(mover);
    await page.getByLabel('Password').fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: 'Create account' }));
    await page.waitForURL(/\/ui\/welcome/);
    await page.goto(`${before.url}/ui/settings`);
    await page.waitForURL(/\/ui\/settings\?flow=/);
    await page.getByTestId('ui/group/webauthn').getByLabel('Name of the security key').fill('Old domain key');
    await clickAndLoad(page, page.getByTestId('ui/group/webauthn').getByRole('button', { name: 'Add security key' }));
    await page.waitForURL(/\/ui\/settings\?flow=/);
    await page.getByTestId('ui/group/lookup_secret').getByRole('checkbox').check();
    await clickAndLoad(page, page.getByTestId('ui/group/lookup_secret').getByRole('button', { name: 'Confirm backup codes' }));
    expect(await page.getByTestId('node/text/webauthn_keys/text').textContent()).toContain('Old domain key');

    const after = await startAt('localhost', 'localhost', database);
    servers.push(after.k);
    await signIn(after.url, mover);
    await page.waitForURL(/\/ui\/login\?flow=/);
    // The server knows the key cannot answer here and says so before the person tries.
    const stranded = page.getByTestId('node/text/webauthn_stranded_keys/text');
    expect(await stranded.textContent()).toContain('registered for a.localhost, but this service now uses localhost');
    // Trying anyway: the browser finds no key for this site, and the page explains it (hint 4900609).
    await clickAndLoad(page, page.getByTestId('ui/group/webauthn').getByRole('button', { name: SIGN_IN_WITH_KEY }));
    await page.waitForURL(/\/ui\/login\?flow=/);
    expect(await page.getByTestId('ui/message/4900609').textContent()).toContain('none of your keys is registered for this site');
    await arrive(page, b, 'webauthn-06-other-rp-id');
  });
});

describe('passkeys in Chromium (virtual authenticator)', () => {
  let passkeyUrl = '';
  let database: TestDatabase;
  let b: E2eBrowser;
  let cdp: CDPSession;
  let authenticatorId: string;
  let k: TestKairos | undefined;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    b = await openBrowser(DESKTOP);
    cdp = await b.context.newCDPSession(b.page);
    authenticatorId = await addVirtualAuthenticator(cdp);
  });
  afterAll(async () => {
    await b?.close();
    await k?.close();
    await database?.drop();
  });

  it('adds a passkey in settings, signs out, and signs in with the passkey alone (no identifier, no password)', async () => {
    const started = await startAt('localhost', 'localhost', database, { passkey: { enabled: true, config: { rp: { id: 'localhost', display_name: E2E_BRAND.name } } } });
    k = started.k;
    const { url } = started;
    passkeyUrl = url;
    const { page } = b;
    const email = newEmail('passkey');
    await page.goto(`${url}/ui/registration`);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: 'Create account' }));
    await page.waitForURL(/\/ui\/welcome/);
    await page.goto(`${url}/ui/settings`);
    await page.waitForURL(/\/ui\/settings\?flow=/);
    await clickAndLoad(page, page.getByTestId('ui/group/passkey').getByRole('button', { name: 'Add passkey' }));
    expect(await page.getByTestId('ui/message/1050001').isVisible()).toBe(true);
    expect(await page.getByTestId('node/text/passkey_keys/text').textContent()).toContain('Passkey 1');
    const [credential] = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    expect(credential!.isResidentCredential).toBe(true);
    await arrive(page, b, 'passkey-01-added');

    await b.context.clearCookies();
    await page.goto(`${url}/ui/login`);
    await page.waitForURL(/\/ui\/login\?flow=/);
    await arrive(page, b, 'passkey-02-login');
    await clickAndLoad(page, page.getByRole('button', { name: SIGN_IN_WITH_PASSKEY }));
    await page.waitForURL(/\/ui\/welcome/);
    expect(await page.getByTestId('ui/session').textContent()).toContain(email);
    // Kratos counts a passkey as a first factor: one step (aal1).
    expect(await page.getByTestId('ui/session/aal').getAttribute('data-aal')).toBe('aal1');
    expect(await page.getByTestId('ui/session/aal').textContent()).toBe('Signed in with one step: Passkey.');
  });

  it('signs up with a passkey (no password), signs out, and signs in with it', async () => {
    const { page } = b;
    const url = passkeyUrl;
    await cdp.send('WebAuthn.clearCredentials', { authenticatorId });
    await b.context.clearCookies();
    const email = newEmail('passkey-signup');
    await page.goto(`${url}/ui/registration`);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await arrive(page, b, 'passkey-03-sign-up');
    await clickAndLoad(page, page.getByRole('button', { name: en['1040007'] }));
    await page.waitForURL(/\/ui\/(welcome|verification)/);
    if (new URL(page.url()).pathname === '/ui/verification') await clickAndLoad(page, page.getByTestId('ui/link/verify-later'));
    await page.waitForURL(/\/ui\/welcome/);
    expect(await page.getByTestId('ui/session').textContent()).toContain(email);
    expect(await page.getByTestId('ui/session/aal').textContent()).toBe('Signed in with one step: Passkey.');
    const [credential] = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    expect(credential!.isResidentCredential).toBe(true);
    // The authenticator stored the passkey under the email typed in the form (Kratos's displayNameFieldName).
    expect(Buffer.from(credential!.userName ?? '', 'utf8').toString()).toBe(email);

    await b.context.clearCookies();
    await page.goto(`${url}/ui/login`);
    await page.waitForURL(/\/ui\/login\?flow=/);
    await clickAndLoad(page, page.getByRole('button', { name: SIGN_IN_WITH_PASSKEY }));
    await page.waitForURL(/\/ui\/welcome/);
    expect(await page.getByTestId('ui/session').textContent()).toContain(email);
  });
});

/**
 * The lifecycle's security-key chapter (issue 15): a person who keeps a security key in a drawer as a backup loses
 * the phone with the authenticator app, and gets back in and onto a new phone with the key alone: no backup code,
 * no helpdesk, no admin call. The phone reads QR codes off the page (zbarimg) and computes codes (oathtool).
 */
describe('lifecycle: a lost phone recovered with the backup security key, without a helpdesk', () => {
  let database: TestDatabase;
  let b: E2eBrowser;
  let cdp: CDPSession;
  let authenticatorId: string;
  let k: TestKairos | undefined;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    b = await openBrowser(DESKTOP, { shotPrefix: 'lifecycle-key' });
    cdp = await b.context.newCDPSession(b.page);
    authenticatorId = await addVirtualAuthenticator(cdp);
  });
  afterAll(async () => {
    await b?.close();
    await k?.close();
    await database?.drop();
  });

  it('app and drawer key enrolled; phone lost; the key signs in, the old app entry is removed without its code, a new phone is set up', async () => {
    const started = await startAt('localhost', 'localhost', database, { totp: { enabled: true, config: { issuer: E2E_BRAND.name } } });
    k = started.k;
    const { url } = started;
    const server = k;
    const { page } = b;
    const phone = new Phone(() => server.clock.nowMs());
    const email = newEmail('drawer');
    const signInWithPassword = async () => {
      await b.context.clearCookies();
      await page.goto(`${url}/ui/login`);
      await page.getByLabel('Email', { exact: true }).fill(email);
      await page.getByLabel('Password').fill(PASSWORD);
      await clickAndLoad(page, page.getByRole('button', { name: en['1010001'], exact: true }));
      await page.waitForURL(/\/ui\/login\?flow=/);
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(en['title.secondFactor']);
    };
    const order = async () => (await page.locator('section.card[id^="method-"]').evaluateAll((els) => els.map((e) => e.id.replace('method-', ''))));

    // Sign up, set up the authenticator app (with its backup codes), then add the key that goes in the drawer.
    await page.goto(`${url}/ui/registration`);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await clickAndLoad(page, page.getByRole('button', { name: 'Create account' }));
    await page.waitForURL(/\/ui\/welcome/);
    await page.goto(`${url}/ui/settings`);
    await page.waitForURL(/\/ui\/settings\?flow=/);
    await clickAndLoad(page, page.getByTestId('ui/totp/setup'));
    const totp = page.getByTestId('ui/group/totp');
    await phone.scan(totp.locator('figure.qr img'));
    await totp.getByLabel(en['1070006']).fill(phone.code());
    await clickAndLoad(page, totp.getByRole('button', { name: en['1070003'] }));
    const codes = page.getByTestId('ui/group/lookup_secret');
    await codes.getByRole('checkbox').check();
    await clickAndLoad(page, codes.getByRole('button', { name: en['1050011'] }));
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('true');
    const keys = page.getByTestId('ui/group/webauthn');
    await keys.getByLabel(en['1050013']).fill('Drawer key');
    await clickAndLoad(page, keys.getByRole('button', { name: en['1050012'] }));
    expect(await page.getByTestId('node/text/webauthn_keys/text').textContent()).toContain('Drawer key');
    await arrive(page, b, '01-app-and-drawer-key');

    // Everyday sign-in: password and the phone; the app is what this person uses.
    const useApp = async (code: string) => {
      const group = page.getByTestId('ui/group/totp');
      await group.getByLabel(en['1010006']).fill(code);
      await clickAndLoad(page, group.getByRole('button', { name: en['1010009'] }));
    };
    server.clock.advanceSeconds(30);
    await signInWithPassword();
    await useApp(phone.code());
    await page.waitForURL(/\/ui\/welcome/);
    expect(await page.getByTestId('ui/session/aal').getAttribute('data-aal')).toBe('aal2');

    // The phone is lost. The second-factor page offers the app first (used last), and the key one link away.
    phone.lose();
    await signInWithPassword();
    expect((await order())[0]).toBe('totp');
    await arrive(page, b, '02-second-factor-app-first');
    await page.getByTestId('ui/switch/webauthn').click();
    await clickAndLoad(page, page.getByTestId('ui/group/webauthn').getByRole('button', { name: SIGN_IN_WITH_KEY }));
    await page.waitForURL(/\/ui\/welcome/);
    expect(await page.getByTestId('ui/session/aal').getAttribute('data-aal')).toBe('aal2');
    expect(await page.getByTestId('ui/session/aal').textContent()).toBe('Signed in with two steps: Password, Security key.');
    await arrive(page, b, '03-signed-in-with-drawer-key');

    // Settings: the lost phone's app entry goes without a code from it (the key was just used), and the new phone
    // scans a new QR code. The unused backup codes stay, so the new app is enrolled at once.
    await page.goto(`${url}/ui/settings`);
    await page.waitForURL(/\/ui\/settings\?flow=/);
    await clickAndLoad(page, page.getByTestId('ui/group/totp').getByRole('button', { name: en['1050004'] }));
    expect(await page.getByTestId('ui/message/1050001').isVisible()).toBe(true);
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('false');
    await clickAndLoad(page, page.getByTestId('ui/totp/setup'));
    const again = page.getByTestId('ui/group/totp');
    await phone.scan(again.locator('figure.qr img'));
    await again.getByLabel(en['1070006']).fill(phone.code());
    await clickAndLoad(page, again.getByRole('button', { name: en['1070003'] }));
    expect(await page.getByTestId('ui/factor/totp').getAttribute('data-enrolled')).toBe('true');
    await arrive(page, b, '04-new-phone-enrolled');

    // The new phone signs in; the key stays in the drawer, still registered.
    server.clock.advanceSeconds(30);
    await signInWithPassword();
    await useApp(phone.code());
    await page.waitForURL(/\/ui\/welcome/);
    expect(await page.getByTestId('ui/session/aal').getAttribute('data-aal')).toBe('aal2');
    expect((await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials).toHaveLength(1);

    // No helpdesk was involved: the audit trail holds the person's own steps only.
    const identity = (await (await fetch(`${server.adminUrl}/admin/identities?credentials_identifier=${encodeURIComponent(email)}`)).json())[0];
    const events = (await (await fetch(`${server.adminUrl}/admin/audit-events?identity_id=${identity.id}&page_size=1000`)).json()) as { type: string; actor: string; details: Record<string, unknown> }[];
    expect(events.filter((e) => e.actor !== 'self' && e.actor !== 'system')).toEqual([]);
    expect(events.find((e) => e.type === 'second_factor.removed')?.details).toMatchObject({ method: 'totp', proven_by: 'webauthn' });
  });
});
