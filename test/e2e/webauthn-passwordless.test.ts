/**
 * Passwordless security keys (`webauthn.config.passwordless: true`) in real Chromium through the DevTools virtual
 * authenticator, driven by playwright-core's CDP session: the hosted pages, Kairos's webauthn.js and
 * navigator.credentials do everything a person's browser would. A person signs up with a security key and no
 * password, signs out, and signs in identifier-first: the email, then the key. WebAuthn needs a secure context and a
 * domain RP ID, so the server is reached at http://localhost (loopback, secure in Chromium).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CDPSession } from 'playwright-core';
import { createTestDatabase, freePort, startKairos, type TestDatabase, type TestKairos } from '../support/harness.js';
import { ManualClock } from '../../src/support/clock.js';
import { arrive, clickAndLoad, DESKTOP, openBrowser, type E2eBrowser } from './support/browser.js';
import { E2E_BRAND, newEmail } from './support/kairos.js';
import { en } from '../../src/ui/i18n/en.js';

/** Labels as the hosted UI shows them (English catalogue). */
const SIGN_UP_WITH_KEY = en['1040004'];
const SIGN_IN_WITH_KEY = en['1010008'];
const CONTINUE = en['1010013'];

describe('passwordless security keys in Chromium (virtual authenticator)', () => {
  let database: TestDatabase;
  let k: TestKairos;
  let url: string;
  let b: E2eBrowser;
  let cdp: CDPSession;
  let authenticatorId: string;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    const port = await freePort();
    url = `http://localhost:${port}`;
    const config = {
      ui: { brand: E2E_BRAND },
      serve: { public: { port, base_url: `${url}/`, rate_limit: { enabled: false } } },
      selfservice: { methods: { webauthn: { enabled: true, config: { passwordless: true, rp: { id: 'localhost', display_name: E2E_BRAND.name } } } } },
    };
    k = await startKairos({ dialect: 'sqlite', database, config, clock: new ManualClock(Math.floor(Date.now() / 1000) * 1000), transport: 'socket' });
    b = await openBrowser(DESKTOP);
    cdp = await b.context.newCDPSession(b.page);
    await cdp.send('WebAuthn.enable');
    // A roaming security key: CTAP2 over USB, no resident keys needed (Kratos's passwordless webauthn is identifier-first).
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'usb', hasResidentKey: false, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    }));
  });
  afterAll(async () => {
    await b?.close();
    await k?.close();
    await database?.drop();
  });

  it('signs up with a security key and no password, signs out, and signs in with the email, then the key (aal1)', async () => {
    const { page } = b;
    const email = newEmail('passwordless');
    await page.goto(`${url}/ui/registration`);
    await page.waitForURL(/\/ui\/registration\?flow=/);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel(en['1050013']).fill('Drawer key');
    await arrive(page, b, 'webauthn-passwordless-01-sign-up');
    await clickAndLoad(page, page.getByRole('button', { name: SIGN_UP_WITH_KEY }));
    await page.waitForURL(/\/ui\/(welcome|verification)/);
    if (new URL(page.url()).pathname === '/ui/verification') await clickAndLoad(page, page.getByTestId('ui/link/verify-later'));
    await page.waitForURL(/\/ui\/welcome/);
    expect(await page.getByTestId('ui/session').textContent()).toContain(email);
    expect(await page.getByTestId('ui/session/aal').getAttribute('data-aal')).toBe('aal1');
    const [credential] = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    expect(credential!.rpId).toBe('localhost');
    expect(credential!.isResidentCredential).toBe(false);
    const identity = (await k.identityApi.listIdentities({ credentialsIdentifier: email }))[0]!;
    expect(Object.keys(identity.credentials ?? {})).toEqual(['webauthn']);

    // Sign out, then identifier first: the email and "Sign in with a security key", then the key.
    await b.context.clearCookies();
    await page.goto(`${url}/ui/login`);
    await page.waitForURL(/\/ui\/login\?flow=/);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await arrive(page, b, 'webauthn-passwordless-02-identifier');
    // The password field stays empty: the key's button needs only the identifier.
    await clickAndLoad(page, page.getByRole('button', { name: SIGN_IN_WITH_KEY }));
    await page.waitForURL(/\/ui\/login\?flow=/);
    expect(await page.getByTestId('ui/message/1010012').isVisible()).toBe(true);
    expect(await page.getByLabel('Password').count()).toBe(0);
    await arrive(page, b, 'webauthn-passwordless-03-key');
    await clickAndLoad(page, page.getByRole('button', { name: CONTINUE }));
    await page.waitForURL(/\/ui\/welcome/);
    expect(await page.getByTestId('ui/session').textContent()).toContain(email);
    // Kratos's AAL for a passwordless security key: one step.
    expect(await page.getByTestId('ui/session/aal').getAttribute('data-aal')).toBe('aal1');
    expect((await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0]!.signCount).toBeGreaterThan(0);
  });
});
