import type { Deps } from '../../deps.js';
import type { KairosModule } from '../../module.js';
import { parseDurationMs } from '../../config/duration.js';
import { WebAuthnCeremonies } from '../webauthn/ceremony.js';
import { relyingPartyFrom } from '../webauthn/relying-party.js';
import { WEBAUTHN_SCRIPT, WEBAUTHN_SCRIPT_PATH } from '../webauthn/script.js';
import { PASSKEY, PasskeyStrategy } from './strategy.js';

/** Passkeys as a Kairos module: registration, aal1 login and settings strategy (a first factor, as in Kratos). */
export function passkeyModule(deps: Deps): KairosModule & { strategy: PasskeyStrategy } {
  const config = deps.config.selfservice.methods.passkey.config;
  const strategy = new PasskeyStrategy(deps, new WebAuthnCeremonies(deps, relyingPartyFrom(config.rp, deps.config), parseDurationMs(config.timeout)));
  return {
    name: PASSKEY,
    strategy,
    strategies: { login: [strategy], settings: [strategy], registration: [strategy] },
    adapters: [{ type: PASSKEY, deletable: true, firstFactor: true }],
    publicRoutes(app) {
      if (!app.hasRoute({ method: 'GET', url: WEBAUTHN_SCRIPT_PATH })) {
        app.get(WEBAUTHN_SCRIPT_PATH, (_request, reply) => reply.header('content-type', 'text/javascript; charset=UTF-8').header('cache-control', 'public, max-age=300').send(WEBAUTHN_SCRIPT));
      }
    },
  };
}
