/**
 * The `code` method as a Kairos module: the verification flow (Kratos's, method `code`), a verification code sent
 * after registration for every unverified `verification.via: email` address, the emailed verification link, and
 * the settings group for secondary recovery addresses. The recovery flow reuses `deps.oneTimeCodes`.
 */
import type { FastifyRequest } from 'fastify';
import type { Deps } from '../../deps.js';
import type { KairosModule } from '../../module.js';
import { HttpError } from '../../errors/http-error.js';
import { VerificationFlows } from '../../flows/verification/handler.js';
import type { RegistrationFlows } from '../../flows/registration/handler.js';
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
    init({ handlers }) {
      const registration = handlers.registration as RegistrationFlows | undefined;
      // Kratos: with verification enabled, a code goes to each new verifiable address; `show_verification_ui`
      // tells the client which flow to show.
      registration?.afterHooks.push(async ({ flow, identityId, request }) => {
        const identity = await deps.identities.get(identityId);
        if (!identity || !flows) return [];
        const continueWith: Record<string, unknown>[] = [];
        for (const address of identity.verifiableAddresses) {
          if (address.via !== 'email' || address.verified) continue;
          try {
            const verificationFlow = await flows.create(request, flow.type, { returnTo: flow.returnTo });
            await verification.sendCode(verificationFlow, address.value, { identityId });
            await deps.flows.update(verificationFlow, deps.clock.nowMs());
            continueWith.push({
              action: 'show_verification_ui',
              flow: { id: verificationFlow.id, verifiable_address: address.value, url: deps.urls.flowUi('verification', verificationFlow.id) },
            });
          } catch (err) {
            // The registration stands; the user can ask for a code from the verification flow.
            deps.logger.warn({ err: { message: (err as Error).message }, identity_id: identityId }, 'could not send the verification code after registration');
          }
        }
        return continueWith;
      });
    },
    publicRoutes(app, { engine }) {
      // The link in the email: GET /self-service/verification?flow=…&code=… submits the code (Kratos does the same).
      app.get('/self-service/verification', async (request: FastifyRequest, reply) => {
        const query = request.query as Record<string, unknown>;
        let flow = null;
        try {
          flow = await engine.loadFlow('verification', query.flow);
          return await flows!.handle(request, reply, flow, { method: 'code', code: query.code });
        } catch (err) {
          if (err instanceof HttpError || flow) return engine.fail(request, reply, flow, err);
          throw err;
        }
      });
    },
  };
}
