/**
 * The `code` method as a Kairos module: the verification flow (Kratos's, method `code`), a verification code sent
 * after registration for every unverified `verification.via: email` address, the emailed verification link, and
 * the settings group for secondary recovery addresses. The recovery flow reuses `deps.oneTimeCodes`.
 */
import type { FlowRequest } from '../../flows/request.js';
import { asStep, flowRequestOf } from '../../http/request.js';
import type { Deps } from '../../deps.js';
import type { KairosModule } from '../../module.js';
import { HttpError } from '../../errors/http-error.js';
import { languagePreferenceOf } from '../../http/request.js';
import { VerificationFlows } from '../../flows/verification/handler.js';
import type { Flow } from '../../flows/flow.js';
import type { Identity, VerifiableAddress } from '../../identity/identity.js';
import { CodeVerificationStrategy } from './verification.js';
import { RecoveryAddressSettingsStrategy } from './recovery-address-settings.js';

export function codeModule(deps: Deps): KairosModule {
  const verification = new CodeVerificationStrategy(deps);
  const recoveryAddresses = new RecoveryAddressSettingsStrategy(deps, verification);
  let flows: VerificationFlows | null = null;

  return {
    name: 'code',
    strategies: { settings: [recoveryAddresses] },
    flowHandlers({ engine }) {
      flows = new VerificationFlows(engine, [verification]);
      recoveryAddresses.engine = engine;
      return { verification: flows };
    },
    init({ engine }) {
      /**
       * Kratos: with verification enabled, a code goes to each new verifiable address (after registration, and
       * after a settings change adds one); `show_verification_ui` tells the client which flow to show. A failure
       * to send never undoes the registration or the change: the user can ask for a code in the verification flow.
       */
      const sendCodes = async (input: { flow: Flow; identity: Identity; request: FlowRequest; isNew: (address: VerifiableAddress) => boolean }) => {
        const continueWith: Record<string, unknown>[] = [];
        if (!flows) return continueWith;
        for (const address of input.identity.verifiableAddresses) {
          // Email addresses, and phone numbers while an `sms` courier channel can reach them (issue 15).
          const reachable = address.via === 'email' || (address.via === 'sms' && deps.config.courier.channels.some((c) => c.id === 'sms'));
          if (!reachable || address.verified || !input.isNew(address)) continue;
          try {
            const verificationFlow = await flows.create(input.request, input.flow.type, { returnTo: input.flow.returnTo });
            await verification.sendCode(verificationFlow, address.value, { identityId: input.identity.id, acceptLanguage: languagePreferenceOf(input.request) });
            await deps.flows.update(verificationFlow, deps.clock.nowMs());
            continueWith.push({
              action: 'show_verification_ui',
              flow: { id: verificationFlow.id, verifiable_address: address.value, url: deps.urls.flowUi('verification', verificationFlow.id) },
            });
          } catch (err) {
            deps.logger.warn({ err: { message: (err as Error).message }, identity_id: input.identity.id }, 'could not send a verification code');
          }
        }
        return continueWith;
      };
      // Kratos inserts its verification hook first after registration and settings whenever verification is on.
      engine.hooks.always('registration', {
        name: 'verification',
        async inStep(context) {
          context.state.continueWith.push(...(await sendCodes({ flow: context.flow, identity: context.identity, request: context.request, isNew: () => true })));
        },
      });
      engine.hooks.always('settings', {
        name: 'verification',
        async inStep(context) {
          // Only addresses this change created (still `pending`): saving anything else sends nothing.
          context.state.continueWith.push(...(await sendCodes({ flow: context.flow, identity: context.identity, request: context.request, isNew: (a) => a.status === 'pending' && a.createdAtMs >= context.startedAtMs })));
        },
      });
      // require_verified_address (hooks/builtin.ts): a verification flow for the address, its code mailed.
      engine.hooks.startVerification = async ({ context, address }) => {
        const verificationFlow = await flows!.create(context.request, context.flow.type, { returnTo: context.flow.returnTo });
        await verification.sendCode(verificationFlow, address, { identityId: context.identity.id });
        await deps.flows.update(verificationFlow, deps.clock.nowMs());
        return { id: verificationFlow.id, url: deps.urls.flowUi('verification', verificationFlow.id) };
      };
    },
    publicRoutes(app, { engine }) {
      // The link in the email: GET /self-service/verification?flow=…&code=… submits the code (Kratos does the same).
      // One unit of work, as a submission is (engine.runStep): what the code decides, a wrong code's attempt included,
      // commits with the flow's new state, and the answer leaves after the commit.
      app.get('/self-service/verification', (fastifyRequest, reply) => {
        const request = flowRequestOf(fastifyRequest);
        const query = request.query as Record<string, unknown>;
        return asStep(reply, () => engine.runStep('verification', request, reply, query.flow, (trx, flow) => flows!.handle(trx, request, reply, flow, { method: 'code', code: query.code })));
      });
    },
  };
}
