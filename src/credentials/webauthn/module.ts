import type { Deps } from '../../deps.js';
import type { RecoveryCodesAtEnrollment } from '../totp/strategy.js';
import type { CredentialAdapter } from '../../identity/credential-adapters.js';
import type { Credential, Identity } from '../../identity/identity.js';
import type { KairosModule } from '../../module.js';
import { parseDurationMs } from '../../config/duration.js';
import { WebAuthnCeremonies } from './ceremony.js';
import { relyingPartyFrom } from './relying-party.js';
import { WEBAUTHN_SCRIPT, WEBAUTHN_SCRIPT_PATH } from './script.js';
import { WEBAUTHN, WebAuthnStrategy } from './strategy.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export interface WebAuthnModule extends KairosModule {
  strategy: WebAuthnStrategy;
}

/**
 * WebAuthn as a Kairos module: the login and settings strategy (aal2; aal1 with registration when passwordless), the `webauthn` admin adapter (key list, never
 * usable material beyond public keys), the admin MFA report section, and `GET /.well-known/ory/webauthn.js`.
 */
export function webauthnModule(deps: Deps, recoveryCodes: RecoveryCodesAtEnrollment | null = null): WebAuthnModule {
  const config = deps.config.selfservice.methods.webauthn.config;
  const ceremonies = new WebAuthnCeremonies(deps, relyingPartyFrom(config.rp, deps.config), parseDurationMs(config.timeout));
  const strategy = new WebAuthnStrategy(deps, ceremonies, recoveryCodes);
  // Passwordless (Kratos): the credential is found by the traits marked `credentials.webauthn.identifier`.
  if (config.passwordless) deps.identities.followTraitIdentifiers(WEBAUTHN, 'webauthnIdentifiers');

  const adapter: CredentialAdapter = {
    type: WEBAUTHN,
    deletable: true,
    /** Passwordless keys are a way to sign in: the admin may remove them only while another remains (Kratos). */
    firstFactor: config.passwordless,
    /** Kratos's `CredentialsWebAuthnConfig` shape (credentials[], user_handle), with Kairos's dates. */
    async adminConfig(_credential: Credential, identity: Identity) {
      const keys = await strategy.keys.listByIdentity(identity.id, WEBAUTHN);
      return {
        credentials: keys.map((k) => ({
          id: Buffer.from(k.keyId, 'base64url').toString('base64'),
          public_key: Buffer.from(k.publicKey, 'base64url').toString('base64'),
          attestation_type: k.attestationFormat,
          authenticator: { aaguid: k.aaguid, sign_count: k.signCount, clone_warning: false },
          display_name: k.displayName,
          added_at: iso(k.createdAtMs),
          last_used_at: iso(k.lastUsedAtMs),
          is_passwordless: k.passwordless,
          rp_id: k.rpId,
        })),
        user_handle: keys[0] ? Buffer.from(keys[0].userHandle, 'base64url').toString('base64') : null,
      };
    },
  };

  return {
    name: WEBAUTHN,
    strategy,
    // Passwordless: a first factor with its own sign-up, and no second factor (Kratos offers it at aal1 only).
    strategies: { login: [strategy], settings: [strategy], registration: config.passwordless ? [strategy] : [] },
    adapters: [adapter],
    secondFactorTypes: config.passwordless ? [] : [WEBAUTHN],
    publicRoutes(app) {
      // Kratos's path; other methods (passkey) share the script.
      if (!app.hasRoute({ method: 'GET', url: WEBAUTHN_SCRIPT_PATH })) {
        app.get(WEBAUTHN_SCRIPT_PATH, (_request, reply) =>
          reply.header('content-type', 'text/javascript; charset=UTF-8').header('cache-control', 'public, max-age=300').send(WEBAUTHN_SCRIPT),
        );
      }
    },
    /** The `webauthn` section of GET /admin/identities/{id}/mfa: each key's name, dates and RP ID. */
    async mfaReport(identity: Identity) {
      const keys = await strategy.keysOf(identity);
      if (!keys.length) return null;
      return {
        [WEBAUTHN]: {
          rp_id: ceremonies.rp.id,
          keys: keys.map((k) => ({ display_name: k.displayName, added_at: iso(k.createdAtMs), last_used_at: iso(k.lastUsedAtMs), rp_id: k.rpId, aaguid: k.aaguid, sign_count: k.signCount, backed_up: k.backedUp })),
        },
      };
    },
  };
}
