import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { registerWithPassword } from '../support/users.js';
import { errorBody as failure } from '../support/flows.js';
import { TestSmtpServer } from '../support/smtp.js';
import { MAX_SECONDARY_RECOVERY_ADDRESSES } from '../../src/credentials/code/recovery-address-settings.js';

const PASSWORD = 'a long enough passphrase';

const messages = (flow: any): any[] => [...((flow.ui.messages ?? []) as any[]), ...flow.ui.nodes.flatMap((n: any) => n.messages)];
const codeIn = (text: string) => /\b(\d{6})\b/.exec(text)?.[1] ?? '';

describe.each(DIALECTS)('secondary recovery addresses (%s)', (dialect) => {
  let smtp: TestSmtpServer;
  let k: TestKairos;
  let counter = 0;
  const newEmail = (tag = 'user') => `${tag}${++counter}-${Math.random().toString(36).slice(2, 8)}@example.com`;

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    k = await startKairos({ dialect, config: { courier: { smtp: { connection_uri: smtp.uri } } } });
  });
  afterAll(async () => {
    await k?.close();
    await smtp?.stop();
  });

  async function register() {
    const email = newEmail();
    const user = await registerWithPassword(k, email, PASSWORD);
    await smtp.waitFor(email); // the registration's verification code
    return user;
  }

  async function addAddress(token: string, address: string) {
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: token });
    return k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: token, updateSettingsFlowBody: { method: 'recovery_address', recovery_address: address } as any });
  }

  it('an unverified secondary address does not count for recovery', async () => {
    const user = await register();
    const secondary = newEmail('backup');
    const saved = await addAddress(user.token, secondary.toUpperCase());
    expect(saved.state).toBe('success');
    const notice = messages(saved).find((m) => m.id === 1900305);
    expect(notice.context.address).toBe(secondary);
    const listed = saved.ui.nodes.filter((n: any) => n.group === 'recovery_address').map((n: any) => n.attributes.name ?? n.attributes.id);
    expect(listed).toEqual(['recovery_address_0', 'recovery_address_remove', 'recovery_address', 'method']);
    expect((saved.ui.nodes.find((n: any) => n.attributes.id === 'recovery_address_0') as any).attributes.text.id).toBe(1900303);

    // Stored, but it does not count: recovery cannot find the identity through it.
    expect(await k.deps.recoveryAddresses.findIdentityId(secondary)).toBeNull();
    expect((await k.deps.recoveryAddresses.countingFor(user.identityId)).map((a) => a.value)).toEqual([user.email]);
    const stored = await k.deps.recoveryAddresses.listSecondary(user.identityId);
    expect(stored).toMatchObject([{ value: secondary, verified: false }]);

    // Verified through the verification flow the settings flow started, with the code mailed to it.
    const mail = await smtp.waitFor(secondary);
    const done = await k.frontend.updateVerificationFlow({ flow: notice.context.verification_flow_id, updateVerificationFlowBody: { method: 'code', code: codeIn(mail.text) } });
    expect(done.state).toBe('passed_challenge');
    expect(await k.deps.recoveryAddresses.findIdentityId(secondary)).toBe(user.identityId);
    expect((await k.deps.recoveryAddresses.countingFor(user.identityId)).map((a) => [a.value, a.source])).toEqual([
      [user.email, 'schema'],
      [secondary, 'secondary'],
    ]);
    const settings = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    expect((settings.ui.nodes.find((n: any) => n.attributes.id === 'recovery_address_0') as any).attributes.text.id).toBe(1900302);
    const events = await k.deps.audit.list({ identityId: user.identityId, types: ['verification.completed', 'identity.updated'], pageSize: 20 });
    expect(events.map((e) => e.type).sort()).toEqual(['identity.updated', 'verification.completed']);
    expect(events.find((e) => e.type === 'identity.updated')!.details).toMatchObject({ recovery_address_added: true });
  });

  it('an unverified secondary address does not count for recovery: the recovery flow sends it nothing until it is verified', async () => {
    const user = await register();
    const secondary = newEmail('lost');
    const saved = await addAddress(user.token, secondary);
    const verificationMail = await smtp.waitFor(secondary);
    const recoveryCodesTo = async (to: string) =>
      (await k.deps.db.selectFrom('courier_messages').select('id').where('recipient', '=', to).where('template_type', '=', 'recovery_code_valid').execute()).length;

    const before = await k.frontend.createNativeRecoveryFlow();
    const asked = await k.frontend.updateRecoveryFlow({ flow: before.id, updateRecoveryFlowBody: { method: 'code', email: secondary } });
    expect(asked.state).toBe('sent_email'); // the same answer as for any address (no enumeration)…
    expect(await recoveryCodesTo(secondary)).toBe(0); // …but no recovery code was sent to the unverified address

    const flowId = messages(saved).find((m) => m.id === 1900305).context.verification_flow_id;
    await k.frontend.updateVerificationFlow({ flow: flowId, updateVerificationFlowBody: { method: 'code', code: codeIn(verificationMail.text) } });
    const after = await k.frontend.createNativeRecoveryFlow();
    await k.frontend.updateRecoveryFlow({ flow: after.id, updateRecoveryFlowBody: { method: 'code', email: secondary } });
    const recoveryMail = await smtp.waitFor(secondary);
    expect(recoveryMail.subject).toBe('Recover access to your account');
    expect(await recoveryCodesTo(secondary)).toBe(1);
  });

  it('the primary address verification code does not verify a secondary address of the same identity', async () => {
    const user = await register();
    const secondary = newEmail('other');
    await addAddress(user.token, secondary);
    await smtp.waitFor(secondary);
    // A verification started for the primary address, verified with its own code, leaves the secondary unverified.
    const flow = await k.frontend.createNativeVerificationFlow();
    await k.frontend.updateVerificationFlow({ flow: flow.id, updateVerificationFlowBody: { method: 'code', email: user.email } });
    const code = codeIn((await smtp.waitFor(user.email)).text);
    await k.frontend.updateVerificationFlow({ flow: flow.id, updateVerificationFlowBody: { method: 'code', code } });
    expect(await k.deps.recoveryAddresses.findIdentityId(secondary)).toBeNull();
  });

  it('needs a privileged session to add one', async () => {
    const user = await register();
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    k.clock.advanceSeconds(16 * 60);
    const r = await failure(k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'recovery_address', recovery_address: newEmail() } as any }));
    expect(r.status).toBe(403);
    expect(r.body.error.id).toBe('session_refresh_required');
    expect(await k.deps.recoveryAddresses.listSecondary(user.identityId)).toEqual([]);
  });

  it('refuses duplicates, bad addresses and more than the limit; removes one', async () => {
    const user = await register();
    const own = await failure(addAddress(user.token, user.email));
    expect(own.status).toBe(400);
    expect(messages(own.body).map((m) => m.id)).toEqual([4900303]);
    const bad = await failure(addAddress(user.token, 'nope'));
    expect(messages(bad.body).map((m) => m.id)).toEqual([4000004]);
    const added: string[] = [];
    for (let i = 0; i < MAX_SECONDARY_RECOVERY_ADDRESSES; i++) {
      const a = newEmail('many');
      await addAddress(user.token, a);
      added.push(a);
      await smtp.waitFor(a);
    }
    const twice = await failure(addAddress(user.token, added[0]!));
    expect(messages(twice.body).map((m) => m.id)).toEqual([4900303]);
    const over = await failure(addAddress(user.token, newEmail('over')));
    expect(messages(over.body).map((m) => m.id)).toEqual([4900304]);

    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: user.token });
    const removed = await k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: user.token, updateSettingsFlowBody: { method: 'recovery_address', recovery_address_remove: added[1] } as any });
    expect(removed.state).toBe('success');
    expect((await k.deps.recoveryAddresses.listSecondary(user.identityId)).map((a) => a.value).sort()).toEqual([added[0]!, added[2]!].sort());
  });

  it('one verified owner per address: a second identity cannot verify an address another verified', async () => {
    const a = await register();
    const b = await register();
    const shared = newEmail('shared');
    const savedA = await addAddress(a.token, shared);
    const codeA = codeIn((await smtp.waitFor(shared)).text);
    const savedB = await addAddress(b.token, shared);
    const codeB = codeIn((await smtp.waitFor(shared)).text);
    const flowA = messages(savedA).find((m) => m.id === 1900305).context.verification_flow_id;
    const flowB = messages(savedB).find((m) => m.id === 1900305).context.verification_flow_id;
    await k.frontend.updateVerificationFlow({ flow: flowA, updateVerificationFlowBody: { method: 'code', code: codeA } });
    const r = await failure(k.frontend.updateVerificationFlow({ flow: flowB, updateVerificationFlowBody: { method: 'code', code: codeB } }));
    expect(r.status).toBe(400);
    expect(messages(r.body).map((m) => m.id)).toEqual([4900302]);
    expect(await k.deps.recoveryAddresses.findIdentityId(shared)).toBe(a.identityId);
  });
});
