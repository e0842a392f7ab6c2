/**
 * Issue 19: a settings flow must not create (and store) a TOTP secret before the person asks for one. Kratos's wire
 * format stays: every settings flow of an identity without TOTP has `totp_qr` and `totp_secret_key`; the secret they
 * show is computed when the flow is sent (from the flow's offer nonce and `secrets.cipher`) and stored only once a
 * right code confirms it. The hosted UI computes it only after "Set up an authenticator app" is chosen.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { registerWithPassword } from '../support/users.js';
import { secretOf } from '../support/flows.js';
import { SHA1, totpCodeNow } from '../support/totp.js';
import { submitTotpEnrollment } from '../support/enroll.js';
import { BrowserClient } from '../support/browser-client.js';
import { decodeBase32 } from '../../src/otp/otp.js';
import { SecretCipher } from '../../src/crypto/secret-cipher.js';
import { cryptoRandom } from '../../src/support/random.js';

const PASSWORD = 'a long enough passphrase';
const CIPHER_OLD = 'test-cipher-secret-0123456789abcdef0123';
const CIPHER_NEW = 'rotated-cipher-secret-abcdef0123456789xyz';
const CONFIG = { selfservice: { methods: { totp: { enabled: true, config: { issuer: 'Kairos Test' } } } } };

async function flowRow(k: TestKairos, id: string) {
  return k.deps.db.selectFrom('selfservice_flows').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

describe.each(DIALECTS)('TOTP enrollment offer: no secret stored per settings flow (%s)', (dialect) => {
  let k: TestKairos;
  let n = 0;
  beforeAll(async () => {
    k = await startKairos({ dialect, config: CONFIG });
  });
  afterAll(async () => k?.close());

  const register = () => registerWithPassword(k, `offer${++n}-${dialect}@example.com`, PASSWORD);

  it('a new settings flow keeps Kratos\'s totp_qr / totp_secret_key nodes, but its stored row holds no secret, encrypted or not', async () => {
    const user = await register();
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    const names = flow.ui.nodes.filter((node: any) => node.group === 'totp').map((node: any) => node.attributes.name ?? node.attributes.id);
    expect(names).toEqual(['totp_qr', 'totp_secret_key', 'totp_code', 'method']);
    const secret = secretOf(flow);
    expect(decodeBase32(secret)).toHaveLength(20);

    const row = await flowRow(k, flow.id);
    const internal = JSON.parse(row.internal);
    expect(internal.totp_pending).toBeUndefined();
    expect(Object.keys(internal.totp_offer).sort()).toEqual(['account_name', 'algorithm', 'digits', 'issuer', 'nonce', 'period_seconds']);
    // Neither the secret nor any ciphertext (`v1.<key id>.…`) is in the stored flow, nor in its placeholder nodes.
    expect(`${row.internal}${row.ui}`).not.toContain(secret);
    expect(row.internal).not.toMatch(/v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/);
    expect(row.ui).not.toContain('data:image/png');
    // Nothing else was written for it either.
    expect(await k.deps.db.selectFrom('totp_credentials').select('credential_id').where('identity_id', '=', user.identityId).execute()).toEqual([]);
  });

  it('every view of one flow shows the same secret; another flow shows another', async () => {
    const user = await register();
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    const again = await k.frontend.getSettingsFlow({ id: flow.id, xSessionToken: user.token });
    const third = await k.frontend.getSettingsFlow({ id: flow.id, xSessionToken: user.token });
    expect(secretOf(again)).toBe(secretOf(flow));
    expect(secretOf(third)).toBe(secretOf(flow));
    const qr = (f: any) => f.ui.nodes.find((node: any) => node.attributes.id === 'totp_qr').attributes.src;
    expect(qr(again)).toBe(qr(flow));
    const other = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    expect(secretOf(other)).not.toBe(secretOf(flow));
  });

  it('the shown secret is stored only when a right code confirms it, and it is the one that signs in', async () => {
    const user = await register();
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    const secret = secretOf(flow);
    const done = await submitTotpEnrollment(k, { flowId: flow.id, token: user.token, code: totpCodeNow(k, secret, SHA1) });
    expect(done.state).toBe('success');
    const internal = JSON.parse((await flowRow(k, flow.id)).internal);
    expect(internal.totp_offer).toBeUndefined();
    expect(internal.totp_pending).toBeUndefined();
    const row = await k.deps.db.selectFrom('totp_credentials').selectAll().where('identity_id', '=', user.identityId).executeTakeFirstOrThrow();
    expect(Buffer.from(new SecretCipher([CIPHER_OLD], cryptoRandom).decrypt(row.secret_ciphertext, row.credential_id))).toEqual(Buffer.from(decodeBase32(secret)));
  });

  it('an offer copied into another flow does not reproduce the secret (bound to flow and identity)', async () => {
    const a = await register();
    const b = await register();
    const flowA = await k.frontend.createNativeSettingsFlow({ xSessionToken: a.token });
    const flowB = await k.frontend.createNativeSettingsFlow({ xSessionToken: b.token });
    const offerA = JSON.parse((await flowRow(k, flowA.id)).internal).totp_offer;
    const rowB = await flowRow(k, flowB.id);
    const internalB = { ...JSON.parse(rowB.internal), totp_offer: offerA };
    await k.deps.db.updateTable('selfservice_flows').set({ internal: JSON.stringify(internalB) }).where('id', '=', flowB.id).execute();
    const viewB = await k.frontend.getSettingsFlow({ id: flowB.id, xSessionToken: b.token });
    expect(secretOf(viewB)).not.toBe(secretOf(flowA));
  });

  it('hosted UI: before "Set up an authenticator app" the page carries no secret and no QR code; after it, the flow\'s one', async () => {
    const email = `offer-ui-${dialect}@example.com`;
    await registerWithPassword(k, email, PASSWORD);
    const browser = new BrowserClient(k.publicUrl);
    const login = await browser.startFlow('login');
    const signedIn = await browser.postForm(`/self-service/login?flow=${login.id}`, { csrf_token: login.flow.ui.nodes.find((x: any) => x.attributes.name === 'csrf_token').attributes.value, method: 'password', identifier: email, password: PASSWORD });
    expect(signedIn.status).toBe(303);
    const settings = await browser.startFlow('settings');
    const secret = secretOf(settings.flow as any);
    const offer = await (await browser.get(`/ui/settings?flow=${settings.id}`, { accept: 'text/html' })).text();
    expect(offer).toContain('data-testid="ui/totp/setup"');
    expect(offer).not.toContain('data:image/png');
    expect(offer).not.toContain(secret);
    const setup = await (await browser.get(`/ui/settings?flow=${settings.id}&setup=totp`, { accept: 'text/html' })).text();
    expect(setup).toContain('data:image/png');
    expect(setup).toContain(secret);
  });
});

describe.each(DIALECTS)('TOTP enrollment offer across a secrets.cipher rotation (%s)', (dialect) => {
  it('a secret shown before the new key was put first is still confirmed after it (the old key stays listed)', async () => {
    const database = await createTestDatabase(dialect);
    const before = await startKairos({ dialect, database, config: { ...CONFIG, secrets: { cipher: [CIPHER_OLD] } } });
    let after: TestKairos | null = null;
    try {
      const user = await registerWithPassword(before, `rotate-${dialect}@example.com`, PASSWORD);
      const flow = await before.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
      const secret = secretOf(flow);
      await before.close();
      after = await startKairos({ dialect, database, clock: before.clock, config: { ...CONFIG, secrets: { cipher: [CIPHER_NEW, CIPHER_OLD] } } });
      // Views now show the new key's secret; the code from the app that scanned the old one still enrolls.
      expect(secretOf(await after.frontend.getSettingsFlow({ id: flow.id, xSessionToken: user.token }))).not.toBe(secret);
      const done = await submitTotpEnrollment(after, { flowId: flow.id, token: user.token, code: totpCodeNow(after, secret, SHA1) });
      expect(done.state).toBe('success');
      const row = await after.deps.db.selectFrom('totp_credentials').selectAll().where('identity_id', '=', user.identityId).executeTakeFirstOrThrow();
      expect(Buffer.from(new SecretCipher([CIPHER_NEW, CIPHER_OLD], cryptoRandom).decrypt(row.secret_ciphertext, row.credential_id))).toEqual(Buffer.from(decodeBase32(secret)));
    } finally {
      await after?.close();
      await database.drop();
    }
  });
});
