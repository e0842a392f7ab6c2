import { afterAll, beforeAll, describe, it } from 'vitest';
import { observeStatements } from '../../src/storage/unit-of-work.js';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { totpCodeNow } from '../support/totp.js';
import { loginWithPassword, registerWithPassword } from '../support/users.js';
import { secretOf } from '../support/flows.js';
import { submitTotpEnrollment } from '../support/enroll.js';

const TOTP_ON = { selfservice: { methods: { totp: { enabled: true, config: { issuer: 'Kairos Test' } } } }, serve: { public: { rate_limit: { enabled: false } } } };

describe.each(DIALECTS)('statements (%s)', (dialect) => {
  let k: TestKairos;
  beforeAll(async () => { k = await startKairos({ dialect, config: TOTP_ON }); });
  afterAll(async () => { await k?.close(); });
  it('counts', async () => {
    const email = `s${Math.random().toString(36).slice(2, 8)}@example.com`;
    const reg = await registerWithPassword(k, email, 'a long enough passphrase');
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: reg.token });
    const secret = secretOf(settings);
    await submitTotpEnrollment(k, { flowId: settings.id, token: reg.token, code: totpCodeNow(k, secret) });
    k.clock.advanceSeconds(30);
    const first = await loginWithPassword(k, email, 'a long enough passphrase');
    const flow = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: first.session_token! });
    const sqls: string[] = [];
    observeStatements((s) => sqls.push(s));
    await k.frontend.updateLoginFlow({ flow: flow.id, xSessionToken: first.session_token!, updateLoginFlowBody: { method: 'totp', totp_code: totpCodeNow(k, secret) } });
    observeStatements(null);
    console.log(`TOTP step ${dialect}: ${sqls.length}\n` + sqls.map((s) => '  ' + s.slice(0, 140)).join('\n'));
    sqls.length = 0;
    observeStatements((s) => sqls.push(s));
    await fetch(`${k.publicUrl}/sessions/whoami`, { headers: { 'x-session-token': first.session_token! } });
    observeStatements(null);
    console.log(`whoami ${dialect}: ${sqls.length}\n` + sqls.map((s) => '  ' + s.slice(0, 140)).join('\n'));
  });
});
