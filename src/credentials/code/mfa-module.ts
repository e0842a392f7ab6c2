import type { Deps } from '../../deps.js';
import type { KairosModule } from '../../module.js';
import { CODE, CodeMfaStrategy } from './mfa.js';

/**
 * Email and SMS codes as a second factor (Kratos `selfservice.methods.code.mfa_enabled`): the aal2 login strategy, and the
 * identity's second factor when it has a verified code address (Kratos counts code addresses as a multi-factor
 * credential, `CountActiveMultiFactorCredentials`; Kairos counts only verified ones).
 */
export function codeMfaModule(deps: Deps): KairosModule {
  if (deps.config.selfservice.methods.code.passwordless_enabled) {
    throw new Error('selfservice.methods.code.passwordless_enabled: not supported by Kairos (codes are a second factor here)');
  }
  const strategy = new CodeMfaStrategy(deps);
  // The MFA policy names the channels (`email`, `sms`): a rule may forbid one, and an address of a forbidden channel
  // then makes no second factor.
  deps.identities.secondFactorChecks.push({
    method: CODE,
    has: (identity) => strategy.addresses(identity).length > 0,
    kinds: (identity) => [...new Set(strategy.addresses(identity).map((a) => a.channel))],
  });
  return {
    name: `${CODE}_mfa`,
    strategies: { login: [strategy] },
    async mfaReport(identity) {
      const addresses = strategy.addresses(identity);
      const channels = [...new Set(addresses.map((a) => a.channel))].sort();
      return addresses.length ? { code: { addresses: addresses.length, channel: channels.join(','), channels } } : null;
    },
  };
}
