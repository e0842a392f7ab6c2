/**
 * Which after-hook list runs, as Kratos builds them (driver/registry_default_{registration,settings,login}.go), through
 * the public API against a real receiver on both dialects:
 * - a method's own list replaces the flow-wide `after.hooks` (Kratos: flow-wide hooks "are added only if no strategy
 *   specific hooks are defined");
 * - registration and settings never run a web_hook with `can_interrupt` or `response.parse` from the flow-wide list
 *   (Kratos takes the hooks that run before the identity is stored from the method's list only, and such a web_hook
 *   does nothing after it): Kairos leaves it out too and names its key in a startup warning;
 * - login runs every web_hook of its flow-wide list, refusals included.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { errorBody, globalMessages } from '../support/flows.js';
import { HookReceiver, json } from '../support/hook-receiver.js';
import { loginWithPassword, registerWithPassword } from '../support/users.js';

const PASSWORD = 'a long enough passphrase';
const refusal = (text: string) => ({ messages: [{ instance_ptr: '#/', messages: [{ id: 4000999, text, type: 'error' }] }] });

const receiver = new HookReceiver();
beforeAll(async () => {
  await receiver.start();
});
afterAll(async () => receiver.stop());
beforeEach(() => {
  receiver.reset();
  // Were they called, these would refuse the step or change what is stored.
  receiver.handlers.set('/registration-interrupt', (_r, res) => json(res, 403, refusal('Registrations are closed.')));
  receiver.handlers.set('/registration-parse', (request, res) => json(res, 200, { identity: { traits: { ...request.body.traits, name: 'From the hook' } } }));
  receiver.handlers.set('/settings-parse', (request, res) => json(res, 200, { identity: { traits: { ...request.body.traits, name: 'From the hook' } } }));
});

describe.each(DIALECTS)('which after-hook list runs (%s)', (dialect) => {
  let k: TestKairos;
  let counter = 0;
  const email = () => `lists${++counter}-${dialect}@example.com`;
  beforeAll(async () => {
    k = await startKairos({
      dialect,
      config: {
        selfservice: {
          flows: {
            registration: {
              after: { hooks: [receiver.hook('/registration-interrupt', { can_interrupt: true }), receiver.hook('/registration-parse', { response: { parse: true } }), receiver.hook('/registration-plain')] },
            },
            settings: {
              after: {
                hooks: [receiver.hook('/settings-parse', { id: 'profile-sync', response: { parse: true } }), receiver.hook('/settings-plain')],
                password: { hooks: [receiver.hook('/settings-password', { can_interrupt: true })] },
              },
            },
            login: { after: { hooks: [receiver.hook('/login', { can_interrupt: true })] } },
          },
        },
      },
    });
  });
  afterAll(async () => k?.close());

  it('startup names each flow-wide web_hook of registration and settings that does not run, and no other', () => {
    const warned = k.logs.records().filter((r) => typeof r.msg === 'string' && r.msg.includes('does not run, as in Kratos')).map((r) => r.key);
    expect(warned).toEqual(['selfservice.flows.registration.after.hooks[0]', 'selfservice.flows.registration.after.hooks[1]', 'selfservice.flows.settings.after.hooks[0]']);
  });

  it('registration with only a flow-wide list: its can_interrupt and parse web hooks never run (as in Kratos); the plain one does', async () => {
    const address = email();
    const { result, identityId } = await registerWithPassword(k, address, PASSWORD);
    expect(result.identity.traits).toEqual({ email: address });
    expect(receiver.to('/registration-interrupt')).toHaveLength(0);
    expect(receiver.to('/registration-parse')).toHaveLength(0);
    expect(receiver.to('/registration-plain').map((r) => r.body.identity_id)).toEqual([identityId]);
    // A configured list without `session` issues none (Kratos's session hook is not in it).
    expect(result.session_token).toBeUndefined();
  });

  it('settings: a method without a list of its own (profile) runs the flow-wide list, where the parsing hook does not run', async () => {
    const address = email();
    const { identityId } = await registerWithPassword(k, address, PASSWORD);
    const { session_token: token } = await loginWithPassword(k, address, PASSWORD);
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: token });
    await k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: token, updateSettingsFlowBody: { method: 'profile', traits: { email: address, name: 'Typed by the person' } } });
    expect((await k.identityApi.getIdentity({ id: identityId })).traits).toEqual({ email: address, name: 'Typed by the person' });
    expect(receiver.to('/settings-parse')).toHaveLength(0);
    expect(receiver.to('/settings-plain').map((r) => r.body.traits)).toEqual([{ email: address, name: 'Typed by the person' }]);
    expect(receiver.to('/settings-password')).toHaveLength(0);
  });

  it('settings: a method with its own list (password) runs only that list, whose can_interrupt hook can refuse', async () => {
    const address = email();
    await registerWithPassword(k, address, PASSWORD);
    const { session_token: token } = await loginWithPassword(k, address, PASSWORD);
    receiver.handlers.set('/settings-password', (_r, res) => json(res, 403, refusal('Password changes are frozen.')));
    const flow = await k.frontend.createNativeSettingsFlow({ xSessionToken: token });
    const { status, body } = await errorBody(k.frontend.updateSettingsFlow({ flow: flow.id, xSessionToken: token, updateSettingsFlowBody: { method: 'password', password: 'another long passphrase' } }));
    expect(status).toBe(400);
    expect(globalMessages(body).map((m: any) => m.text)).toEqual(['Password changes are frozen.']);
    expect(receiver.to('/settings-password')).toHaveLength(1);
    expect(receiver.to('/settings-plain')).toHaveLength(0);
    expect((await loginWithPassword(k, address, PASSWORD)).session_token).toMatch(/^ory_st_/);
  });

  it('login runs its flow-wide can_interrupt web_hook (Kratos falls back to it with every hook), and its refusal holds', async () => {
    const address = email();
    await registerWithPassword(k, address, PASSWORD);
    receiver.handlers.set('/login', (_r, res) => json(res, 403, refusal('Logins are paused.')));
    const { status, body } = await errorBody(loginWithPassword(k, address, PASSWORD));
    expect(status).toBe(400);
    expect(globalMessages(body).map((m: any) => m.text)).toEqual(['Logins are paused.']);
    expect(receiver.to('/login')).toHaveLength(1);
  });
});
