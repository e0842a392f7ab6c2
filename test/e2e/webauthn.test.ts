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
    await clickAndLoad(page, page.getByTestId('ui/group/webauthn').getByRole('button', { name: 'Sign in with hardware key' }));
    await page.waitForURL(/\/ui\/welcome/);
    expect(await page.getByTestId('ui/session/aal').getAttribute('data-aal')).toBe('aal2');
    expect(await page.getByTestId('ui/session/aal').textContent()).toBe('Signed in with two steps: Password, Security key.');
    expect((await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0]!.signCount).toBeGreaterThan(0);

    // Remove the key (the session has the second factor and is recent).
    await page.goto(`${url}/ui/settings`);
    await page.waitForURL(/\/ui\/settings\?flow=/);
    await clickAndLoad(page, page.getByTestId('ui/group/webauthn').getByRole('button', { name: 'Remove security key "Desk key"' }));
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
    await clickAndLoad(page, page.getByTestId('ui/group/webauthn').getByRole('button', { name: 'Sign in with hardware key' }));
    await page.waitForURL(/\/ui\/login\?flow=/);
    expect(await page.getByTestId('ui/message/4900609').textContent()).toContain('none of your keys is registered for this site');
    await arrive(page, b, 'webauthn-06-other-rp-id');
  });
});

describe('passkeys in Chromium (virtual authenticator)', () => {
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
    await clickAndLoad(page, page.getByRole('button', { name: 'Sign in with passkey' }));
    await page.waitForURL(/\/ui\/welcome/);
    expect(await page.getByTestId('ui/session').textContent()).toContain(email);
    // Kratos counts a passkey as a first factor: one step (aal1).
    expect(await page.getByTestId('ui/session/aal').getAttribute('data-aal')).toBe('aal1');
    expect(await page.getByTestId('ui/session/aal').textContent()).toBe('Signed in with one step: Passkey.');
  });
});
