/**
 * Threat: codes, secrets, passwords or session tokens end up in log files (shipped to a log service, read by
 * operators). Every log line of a whole lifecycle is captured at the most verbose level and searched for each of them.
 */
import { describe, expect, it } from 'vitest';
import type { SettingsFlow } from '@ory/client-fetch';
import { DIALECTS, startKairos } from '../support/harness.js';
import { decodeBase32 } from '../../src/otp/otp.js';
import { totpCodeNow } from '../support/totp.js';

const PASSWORD = 'correct horse battery staple 42';
const IMPORTED_SECRET = 'KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TFOQ4TK6DZ';

const secretOf = (flow: SettingsFlow): string => (flow.ui.nodes.find((n: any) => n.attributes.id === 'totp_secret_key') as any).attributes.text.context.secret;
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe.each(DIALECTS)('logs (%s)', (dialect) => {
  it('no log line holds a code or a secret through enrollment, login, wrong codes, lockout, unlock and admin import', async () => {
    const k = await startKairos({
      dialect,
      config: { log: { level: 'trace' }, selfservice: { methods: { totp: { enabled: true } } }, identity: { credentials: { totp: { expose_secret_to_admin: true } } } },
    });
    const codes: string[] = [];
    const tokens: string[] = [];
    const codeNow = (secret: string) => {
      const code = totpCodeNow(k, secret);
      codes.push(code);
      return code;
    };
    const wrongFor = (secret: string) => {
      const wrong = String((Number(codeNow(secret)) + 1) % 1_000_000).padStart(6, '0');
      codes.push(wrong);
      return wrong;
    };
    try {
      const email = 'logs@example.com';
      const reg = await k.frontend.createNativeRegistrationFlow();
      const registered = await k.frontend.updateRegistrationFlow({ flow: reg.id, updateRegistrationFlowBody: { method: 'password', traits: { email }, password: PASSWORD } });
      tokens.push(registered.session_token!);
      const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: registered.session_token! });
      const secret = secretOf(settings);
      // A wrong enrollment code, then the right one.
      await k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: registered.session_token!, updateSettingsFlowBody: { method: 'totp', totp_code: wrongFor(secret) } }).catch(() => null);
      const withCodes = await k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: registered.session_token!, updateSettingsFlowBody: { method: 'totp', totp_code: codeNow(secret) } });
      // require_recovery_codes (default): the shown recovery codes are confirmed to finish; they must not be logged either.
      const recoveryCodes: string[] = (withCodes.ui.nodes.find((n: any) => n.attributes.id === 'lookup_secret_codes') as any).attributes.text.context.secrets.map((x: any) => x.context.secret);
      codes.push(...recoveryCodes);
      await k.frontend.updateSettingsFlow({ flow: settings.id, xSessionToken: registered.session_token!, updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_confirm: true, transient_payload: { lookup_secret_acknowledged: true } } });
      await k.frontend.performNativeLogout({ performNativeLogoutBody: { session_token: registered.session_token! } });

      k.clock.advanceSeconds(30);
      const login = await k.frontend.createNativeLoginFlow();
      // A wrong password first.
      await k.frontend.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'password', identifier: email, password: PASSWORD + 'x' } }).catch(() => null);
      const first = await k.frontend.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'password', identifier: email, password: PASSWORD } });
      tokens.push(first.session_token!);
      // Six wrong codes (the sixth on a new flow, refused by the delay), a malformed body, then the right code.
      for (let i = 0; i < 6; i++) {
        const flow = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: first.session_token! });
        await k.frontend.updateLoginFlow({ flow: flow.id, xSessionToken: first.session_token!, updateLoginFlowBody: { method: 'totp', totp_code: wrongFor(secret) } }).catch(() => null);
      }
      const aal2 = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: first.session_token! });
      const leaked = codeNow(secret);
      await fetch(`${k.publicUrl}/self-service/login?flow=${aal2.id}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-session-token': first.session_token! }, body: `{"method":"totp","totp_code":"${leaked}"` });
      await fetch(`${k.publicUrl}/self-service/login?flow=${aal2.id}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-session-token': first.session_token! }, body: `method=totp&totp_code=${leaked}&password=${encodeURIComponent(PASSWORD)}` });
      k.clock.advanceSeconds(10);
      const fresh = await k.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: first.session_token! });
      await k.frontend.updateLoginFlow({ flow: fresh.id, xSessionToken: first.session_token!, updateLoginFlowBody: { method: 'totp', totp_code: codeNow(secret) } });
      await fetch(`${k.publicUrl}/sessions/whoami`, { headers: { authorization: `Bearer ${first.session_token}` } });

      // Admin: import with a totp_url, export it, a malformed import, MFA view and unlock.
      const identityId = registered.identity.id;
      const imported = await fetch(`${k.adminUrl}/admin/identities`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ schema_id: 'default', traits: { email: 'imported-logs@example.com' }, credentials: { password: { config: { password: PASSWORD } }, totp: { config: { totp_url: `otpauth://totp/Acme:x?secret=${IMPORTED_SECRET}&issuer=Acme` } } } }),
      });
      expect(imported.status).toBe(201);
      const importedId = (await imported.json()).id;
      await fetch(`${k.adminUrl}/admin/identities/${importedId}?include_credential=totp`);
      await fetch(`${k.adminUrl}/admin/identities`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ schema_id: 'default', traits: { email: 'bad@example.com' }, credentials: { totp: { config: { totp_url: `otpauth://hotp/x?secret=${IMPORTED_SECRET}` } } } }) });
      await fetch(`${k.adminUrl}/admin/identities/${identityId}/mfa`);
      await fetch(`${k.adminUrl}/admin/identities/${identityId}/mfa/unlock`, { method: 'POST' });

      const text = k.logs.text();
      // The capture works: there are request lines and the lockout line.
      expect(text).toContain('request completed');
      expect(text).toContain('second-factor delay started');
      const bytes = Buffer.from(decodeBase32(secret));
      const needles = [secret, secret.toLowerCase(), bytes.toString('hex'), bytes.toString('base64'), IMPORTED_SECRET, PASSWORD, encodeURIComponent(PASSWORD), ...tokens];
      for (const needle of needles) expect(text.includes(needle), `log holds ${needle.slice(0, 4)}…`).toBe(false);
      expect(codes.length).toBeGreaterThan(10);
      // Codes are short digit strings: match them as whole numbers only, not inside timestamps.
      for (const code of new Set(codes)) expect(new RegExp(`(?<!\\d)${escape(code)}(?!\\d)`).test(text), `log holds code ${code}`).toBe(false);
    } finally {
      await k.close();
    }
  });
});
